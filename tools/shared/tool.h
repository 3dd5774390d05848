/* tool.h - what the poolshim-* programs share (stdio; never linked into the
 * shim): their -h/--help, and strings in their --json output. */
#ifndef TOOLS_SHARED_TOOL_H
#define TOOLS_SHARED_TOOL_H

#include <stdio.h>

/* When a is "-h" or "--help": usage(stdout), then exit 0. Otherwise nothing. */
void tool_help(const char *a, void (*usage)(FILE *to));

/* s on stdout as a JSON string: in double quotes, '"' and '\\' escaped, the
 * control characters and DEL as \u00XX. */
void json_string(const char *s);

#endif
