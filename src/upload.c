/* upload.c - placeholder until astropixel-sync lands. */
#include "upload.h"
