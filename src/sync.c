/* sync.c - placeholder until astropixel-sync lands. */
#include <stdio.h>
int main(void)
{
	fputs("astropixel-sync: not built yet\n", stderr);
	return 1;
}
