/* print.c - the recommendation for people (a report whose last line is
 * POOLSHIM_CLASSES=...) and for programs (one JSON object on one line).
 */
#include <inttypes.h>

#include "tools/recommend/recommend.h"

const char *rec_size_text(uint64_t v, unsigned max_shift, char *buf, size_t len)
{
    for (unsigned shift = max_shift; shift >= 10; shift -= 10) {
        if (v != 0 && v % (UINT64_C(1) << shift) == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", v >> shift, "kMG"[shift / 10 - 1]);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

const char *rec_human(uint64_t v, char *buf, size_t len)
{
    if (v >= (UINT64_C(1) << 30))
        snprintf(buf, len, "%.2f GiB", (double)v / (double)(UINT64_C(1) << 30));
    else if (v >= (UINT64_C(1) << 20))
        snprintf(buf, len, "%.2f MiB", (double)v / (double)(UINT64_C(1) << 20));
    else
        snprintf(buf, len, "%.1f KiB", (double)v / 1024.0);
    return buf;
}

void rec_classes_line(const struct rec_config *cf, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < cf->n && used < len; k++) {
        char b[32];
        used += (size_t)snprintf(out + used, len - used, "%s%s:%" PRIu64, k ? "," : "",
                                 rec_size_text(cf->c[k].size, 10, b, sizeof b),
                                 cf->c[k].count);
    }
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The table of classes: size, count, the request sizes it takes, its
 * requests and their share ("barrier" for a barrier), its bytes. */
static void print_classes(FILE *to, const struct rec_config *cf, const struct rec_totals *t)
{
    fprintf(to, "%10s %10s  %-19s %12s %8s %12s\n", "class", "count", "request sizes",
            "requests", "share", "bytes");
    uint64_t prev = 0;
    for (unsigned k = 0; k < cf->n; k++) {
        const struct rec_choice *c = &cf->c[k];
        char range[48], share[16];
        snprintf(range, sizeof range, "%" PRIu64 "..%" PRIu64, prev + 1, c->size);
        if (c->barrier)
            snprintf(share, sizeof share, "barrier");
        else
            snprintf(share, sizeof share, "%.2f%%", pct(c->requests, t->requests));
        fprintf(to, "%10" PRIu64 " %10" PRIu64 "  %-19s %12" PRIu64 " %8s %12" PRIu64 "\n",
                c->size, c->count, range, c->requests, share, c->bytes);
        prev = c->size;
    }
}

void rec_print_text(FILE *to, const struct rec_profile *pf, const struct rec_params *pp,
                    const struct rec_config *cf, const struct rec_totals *t,
                    const char *line)
{
    char h1[32], h2[32];
    fprintf(to, "poolshim-recommend: %u file%s, %u profile block%s (processes), "
            "%" PRIu64 " requests\n", pf->files, pf->files == 1 ? "" : "s",
            pf->blocks, pf->blocks == 1 ? "" : "s", t->requests);
    fprintf(to, "budget %" PRIu64 " bytes (%s), at most %u classes, headroom %u%%\n\n",
            pp->budget, rec_human(pp->budget, h1, sizeof h1), pp->max_classes, pp->headroom);
    print_classes(to, cf, t);
    fprintf(to, "\nserved from the pools: %" PRIu64 " of %" PRIu64 " requests (%.2f%%)\n",
            cf->served, t->requests, pct(cf->served, t->requests));
    fprintf(to, "left to the system allocator: %" PRIu64 " above the largest class, %"
            PRIu64 " above 1 MiB, %" PRIu64 " in barrier classes\n",
            t->above, pf->larger, t->in_barriers);
    fprintf(to, "pool memory: %" PRIu64 " bytes (%s) of the %s budget\n", cf->bytes,
            rec_human(cf->bytes, h2, sizeof h2), rec_human(pp->budget, h1, sizeof h1));
    if (t->ntrade > 0) {
        fprintf(to, "smaller budgets:");
        for (unsigned k = 0; k < t->ntrade; k++)
            fprintf(to, "%s --budget %s serves %.2f%% (%s)", k ? ";" : "",
                    rec_size_text(t->trade[k].budget, 30, h1, sizeof h1),
                    pct(t->trade[k].served, t->requests),
                    rec_human(t->trade[k].bytes, h2, sizeof h2));
        fprintf(to, "\n");
    }
    fprintf(to, "POOLSHIM_CLASSES=%s\n", line);
}

void rec_print_json(FILE *to, const struct rec_profile *pf, const struct rec_params *pp,
                    const struct rec_config *cf, const struct rec_totals *t,
                    const char *line)
{
    fprintf(to, "{\"version\":1,\"files\":%u,\"blocks\":%u,\"requests\":%" PRIu64
            ",\"larger\":%" PRIu64 ",\"budget\":%" PRIu64
            ",\"max_classes\":%u,\"headroom_percent\":%u,\"classes\":[",
            pf->files, pf->blocks, t->requests, pf->larger, pp->budget,
            pp->max_classes, pp->headroom);
    uint64_t prev = 0;
    for (unsigned k = 0; k < cf->n; k++) {
        const struct rec_choice *c = &cf->c[k];
        fprintf(to, "%s{\"size\":%" PRIu64 ",\"count\":%" PRIu64 ",\"barrier\":%s"
                ",\"min_request\":%" PRIu64 ",\"requests\":%" PRIu64
                ",\"peak\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                k ? "," : "", c->size, c->count, c->barrier ? "true" : "false",
                prev + 1, c->requests, c->peak, c->bytes);
        prev = c->size;
    }
    fprintf(to, "],\"served\":%" PRIu64 ",\"share\":%.6f,\"above_largest\":%" PRIu64
            ",\"in_barriers\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"smaller_budgets\":[",
            cf->served, t->requests ? (double)cf->served / (double)t->requests : 0.0,
            t->above, t->in_barriers, cf->bytes);
    for (unsigned k = 0; k < t->ntrade; k++)
        fprintf(to, "%s{\"budget\":%" PRIu64 ",\"served\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                k ? "," : "", t->trade[k].budget, t->trade[k].served, t->trade[k].bytes);
    fprintf(to, "],\"classes_line\":\"%s\"}\n", line);
}
