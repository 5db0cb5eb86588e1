/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_tsv.h"


void
yibao_tsv_init(yibao_tsv_t *tsv, const unsigned char *data, size_t len)
{
    if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
        data += 3;
        len -= 3;
    }

    /* no arithmetic on a NULL data of length 0 */

    tsv->pos = data;
    tsv->last = (len != 0) ? data + len : data;
    tsv->line = 0;
}


int
yibao_tsv_next(yibao_tsv_t *tsv, yibao_str_t *line)
{
    const unsigned char  *p, *end, *next;

    while (tsv->pos < tsv->last) {
        p = tsv->pos;

        end = memchr(p, '\n', tsv->last - p);

        if (end == NULL) {
            end = tsv->last;
            next = tsv->last;

        } else {
            next = end + 1;
        }

        tsv->pos = next;
        tsv->line++;

        if (end > p && end[-1] == '\r') {
            end--;
        }

        if (p == end || *p == '#') {
            continue;
        }

        line->data = p;
        line->len = end - p;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == end) {
            continue;
        }

        return 1;
    }

    return 0;
}


size_t
yibao_tsv_split(const yibao_str_t *line, yibao_str_t *fields, size_t n)
{
    size_t                count;
    const unsigned char  *p, *last, *tab;

    p = line->data;
    last = (line->len != 0) ? line->data + line->len : line->data;
    count = 0;

    for ( ;; ) {
        tab = (p < last) ? memchr(p, '\t', last - p) : NULL;

        if (count < n) {
            fields[count].data = p;
            fields[count].len = (tab != NULL ? tab : last) - p;
        }

        count++;

        if (tab == NULL) {
            return count;
        }

        p = tab + 1;
    }
}


size_t
yibao_tsv_max_lines(const unsigned char *data, size_t len)
{
    size_t                n;
    const unsigned char  *p, *last;

    if (len == 0) {
        return 0;
    }

    n = 0;
    p = data;
    last = data + len;

    while (p < last) {
        p = memchr(p, '\n', last - p);
        n++;

        if (p == NULL) {
            break;
        }

        p++;
    }

    return n;
}
