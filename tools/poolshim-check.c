/* poolshim-check - validate a poolshim configuration without running
 * anything (`poolshim check`).
 *
 *   poolshim-check [-v]                   the POOLSHIM_* variables of its
 *                                         environment
 *   poolshim-check [-v] --classes SPEC    a POOLSHIM_CLASSES value alone
 *   poolshim-check [-v] --config FILE     a configuration file alone
 *
 * The check is the shim's own parser (shim/config*.c, linked in), so the
 * messages are the lines the shim would print at start-up, on stderr. A
 * configuration file holds POOLSHIM_VAR=VALUE lines, blank lines and
 * # comments; blanks around a line and one pair of quotes around VALUE are
 * dropped; a later line for the same variable replaces an earlier one (as
 * `poolshim run --config` does). A line that is none of these gets
 *   poolshim: FILE:LINE: WHAT "LINE" (expected POOLSHIM_VAR=VALUE lines,
 *   blank lines or # comments)
 * Valid: one line on stdout, "poolshim: configuration valid: N classes,
 * B bytes of objects", and with -v the effective configuration after it.
 *
 * Exit status: 0 valid, 1 invalid (the lines say why), 2 usage error or a
 * file that cannot be read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/report.h"
#include "shim/config.h"
#include "tools/shared/tool.h"

#define PROG "poolshim-check"
#define ENTRIES_MAX 256 /* POOLSHIM_ lines in one file */

static void usage(FILE *to)
{
    fputs("Usage: " PROG " [-v] [--classes SPEC | --config FILE]\n"
          "Validate a poolshim configuration without running anything: the\n"
          "POOLSHIM_* variables of the environment, a POOLSHIM_CLASSES value\n"
          "(--classes), or a file of POOLSHIM_VAR=VALUE lines (--config).\n"
          "The messages are the shim's own. -v also prints the effective\n"
          "configuration. Exit status: 0 valid, 1 invalid, 2 usage error.\n",
          to);
}

static _Noreturn void die(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s\n", what, arg != NULL ? arg : "");
    exit(2);
}

/* Lines of a configuration file, kept for the life of the program. */
struct entries {
    char *v[ENTRIES_MAX + 1];
    size_t n;
    bool bad;
};

/* "poolshim: FILE:LINE: WHAT "TEXT" (expected ...)", text escaped as the
 * shim escapes values (NULL: no text). */
static void bad_line(struct entries *e, const char *path, unsigned lineno,
                     const char *what, const char *text)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: ");
    rb_esc(&b, path, strlen(path), 200);
    rb_char(&b, ':');
    rb_u64(&b, lineno);
    rb_str(&b, ": ");
    rb_str(&b, what);
    if (text != NULL) {
        rb_char(&b, ' ');
        rb_quoted(&b, text, strlen(text), 200);
    }
    rb_str(&b, " (expected POOLSHIM_VAR=VALUE lines, blank lines or # "
               "comments)\n");
    fflush(stderr);
    rb_flush(&b, 2);
    e->bad = true;
}

/* Add NAME=VALUE, replacing an earlier entry of the same NAME. */
static void put(struct entries *e, char *line, const char *path)
{
    size_t nlen = (size_t)(strchr(line, '=') - line) + 1;
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], line, nlen) == 0) {
            e->v[i] = line;
            return;
        }
    }
    if (e->n == ENTRIES_MAX)
        die("too many POOLSHIM_ lines in ", path);
    e->v[e->n++] = line;
}

/* One line of the file, without its '\n': trimmed, quotes dropped. */
static void take_line(struct entries *e, char *s, const char *path,
                      unsigned lineno)
{
    if (strchr(s, '\r') != NULL) {
        bad_line(e, path, lineno, "carriage return in the line (a DOS file?)",
                 NULL);
        return;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (n == 0 || s[0] == '#')
        return;
    char *eq = strchr(s, '=');
    if (eq == NULL || strncmp(s, "POOLSHIM_", 9) != 0) {
        bad_line(e, path, lineno,
                 eq == NULL ? "not an assignment:" : "not a POOLSHIM_ variable:",
                 s);
        return;
    }
    char *v = eq + 1;
    size_t vn = strlen(v);
    if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
        memmove(v, v + 1, vn - 2);
        v[vn - 2] = '\0';
    }
    char *copy = strdup(s);
    if (copy == NULL)
        die("out of memory reading ", path);
    put(e, copy, path);
}

static void read_config(struct entries *e, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        size_t n = (size_t)len;
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (strlen(line) != n)
            bad_line(e, path, lineno, "a NUL byte in the line", NULL);
        else
            take_line(e, line, path, lineno);
    }
    if (ferror(f))
        die("cannot read ", path);
    free(line);
    fclose(f);
}

int main(int argc, char **argv)
{
    extern char **environ;
    const char *classes = NULL, *config = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        tool_help(a, usage);
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(a, "--classes") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 == argc)
                die(a[3] == 'l' ? "--classes needs a SPEC" : "--config needs a FILE", NULL);
            if (classes != NULL || config != NULL)
                die("give one of --classes and --config, once", NULL);
            *(a[3] == 'l' ? &classes : &config) = argv[++i];
        } else {
            fprintf(stderr, PROG ": unknown argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }

    static struct entries e;
    char *const *env = environ;
    if (classes != NULL) {
        static char entry[8192];
        if (snprintf(entry, sizeof entry, "POOLSHIM_CLASSES=%s", classes) >=
            (int)sizeof entry)
            die("--classes: SPEC too long", NULL);
        e.v[e.n++] = entry;
        env = e.v;
    } else if (config != NULL) {
        read_config(&e, config);
        env = e.v;
    }

    struct shim_config cfg;
    shim_config_defaults(&cfg);
    fflush(stderr);
    if (shim_config_parse(&cfg, env, 2) != 0 || e.bad)
        return 1;
    printf("poolshim: configuration valid: %u class%s, %zu bytes of objects\n",
           cfg.nclasses, cfg.nclasses == 1 ? "" : "es", shim_config_bytes(&cfg));
    fflush(stdout);
    if (verbose)
        shim_config_print(&cfg, 1);
    return 0;
}
