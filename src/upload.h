/* upload.h - placeholder until astropixel-sync lands. */
#ifndef AP_UPLOAD_H
#define AP_UPLOAD_H
#endif
