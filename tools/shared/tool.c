/* tool.c - the bodies of tool.h. */
#include <stdlib.h>
#include <string.h>

#include "tools/shared/tool.h"

void tool_help(const char *a, void (*usage)(FILE *to))
{
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        usage(stdout);
        exit(0);
    }
}

void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}
