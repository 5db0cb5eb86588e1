/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "yibao_fields.h"
#include "yibao_json.h"


#define YIBAO_FIELDS_DEPTH  8


static int yibao_fields_walk(json_t *v, size_t depth, yibao_fields_t *f,
    yibao_alloc_t *a);
static int yibao_fields_take(json_t *v, yibao_str_t *dst, yibao_alloc_t *a);
static size_t yibao_digit_run(const unsigned char *p, size_t len, size_t i);


int
yibao_fields_find(const void *doc, yibao_fields_t *f, yibao_alloc_t *a)
{
    return yibao_fields_walk((json_t *) doc, 0, f, a);
}


int
yibao_fields_find_text(const unsigned char *data, size_t len,
    yibao_fields_t *f, yibao_alloc_t *a)
{
    int            rc;
    json_t        *doc;
    json_error_t   jerr;

    doc = yibao_json_load((const char *) data, len, 0, &jerr);
    if (doc == NULL) {
        return YIBAO_OK;
    }

    rc = yibao_fields_find_copy(doc, f, a);

    json_decref(doc);

    return rc;
}


int
yibao_fields_find_copy(const void *doc, yibao_fields_t *f, yibao_alloc_t *a)
{
    int             rc;
    size_t          i;
    yibao_str_t    *s[4];
    unsigned char  *p;

    s[0] = f->mdtrt_id.len ? NULL : &f->mdtrt_id;
    s[1] = f->setl_id.len ? NULL : &f->setl_id;
    s[2] = f->psn_no.len ? NULL : &f->psn_no;
    s[3] = f->psn_name.len ? NULL : &f->psn_name;

    rc = yibao_fields_walk((json_t *) doc, 0, f, a);

    for (i = 0; rc == YIBAO_OK && i < 4; i++) {
        if (s[i] == NULL || s[i]->len == 0) {
            continue;
        }

        p = yibao_alloc(a, s[i]->len);
        if (p == NULL) {
            rc = YIBAO_ERR_NOMEM;
            break;
        }

        memcpy(p, s[i]->data, s[i]->len);
        s[i]->data = p;
    }

    return rc;
}


static int
yibao_fields_walk(json_t *v, size_t depth, yibao_fields_t *f,
    yibao_alloc_t *a)
{
    size_t       i;
    json_t      *child;
    const char  *key;

    if (depth > YIBAO_FIELDS_DEPTH
        || (f->mdtrt_id.len && f->setl_id.len && f->psn_no.len
            && f->psn_name.len))
    {
        return YIBAO_OK;
    }

    if (json_is_object(v)) {
        json_object_foreach(v, key, child) {

            /* the names looked for begin with 'm', 's' or 'p'; only
             * objects and arrays hold more */

            if (key[0] != 'm' && key[0] != 's' && key[0] != 'p') {
                if ((json_is_object(child) || json_is_array(child))
                    && yibao_fields_walk(child, depth + 1, f, a)
                       != YIBAO_OK)
                {
                    return YIBAO_ERR_NOMEM;
                }

                continue;
            }

            if (f->mdtrt_id.len == 0 && strcmp(key, "mdtrt_id") == 0) {
                if (yibao_fields_take(child, &f->mdtrt_id, a) != YIBAO_OK) {
                    return YIBAO_ERR_NOMEM;
                }

            } else if (f->setl_id.len == 0 && strcmp(key, "setl_id") == 0) {
                if (yibao_fields_take(child, &f->setl_id, a) != YIBAO_OK) {
                    return YIBAO_ERR_NOMEM;
                }

            } else if (f->psn_no.len == 0 && strcmp(key, "psn_no") == 0) {
                if (yibao_fields_take(child, &f->psn_no, a) != YIBAO_OK) {
                    return YIBAO_ERR_NOMEM;
                }

            } else if (f->psn_name.len == 0 && json_is_string(child)
                       && strcmp(key, "psn_name") == 0)
            {
                f->psn_name.data =
                               (const unsigned char *) json_string_value(child);
                f->psn_name.len = json_string_length(child);

            } else if ((json_is_object(child) || json_is_array(child))
                       && yibao_fields_walk(child, depth + 1, f, a)
                          != YIBAO_OK)
            {
                return YIBAO_ERR_NOMEM;
            }
        }

        return YIBAO_OK;
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if ((json_is_object(child) || json_is_array(child))
                && yibao_fields_walk(child, depth + 1, f, a) != YIBAO_OK)
            {
                return YIBAO_ERR_NOMEM;
            }
        }
    }

    return YIBAO_OK;
}


static int
yibao_fields_take(json_t *v, yibao_str_t *dst, yibao_alloc_t *a)
{
    int             n;
    char            buf[32];
    unsigned char  *p;

    if (json_is_string(v)) {
        dst->data = (const unsigned char *) json_string_value(v);
        dst->len = json_string_length(v);
        return YIBAO_OK;
    }

    if (!json_is_integer(v)) {
        return YIBAO_OK;
    }

    n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));

    p = yibao_alloc(a, (size_t) n);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, buf, (size_t) n);
    dst->data = p;
    dst->len = (size_t) n;

    return YIBAO_OK;
}


void
yibao_mask_digits(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t  i, run;

    if (out != in) {
        memcpy(out, in, len);
    }

    for (i = 0; i < len; i += run ? run : 1) {
        run = yibao_digit_run(in, len, i);

        if (run >= YIBAO_MASK_DIGITS) {
            memset(out + i + 4, '*', run - 8);
        }
    }
}


/*
 * The length of the run of digits at p[i] (0 if p[i] is not a digit),
 * with an 'X' or 'x' after them counted in: an ID number's check
 * character.
 */

static size_t
yibao_digit_run(const unsigned char *p, size_t len, size_t i)
{
    size_t  j;

    for (j = i; j < len && p[j] >= '0' && p[j] <= '9'; j++) {
        /* void */
    }

    if (j < len && j > i && (p[j] == 'X' || p[j] == 'x')) {
        j++;
    }

    return j - i;
}


size_t
yibao_echo(const unsigned char *p, size_t len, size_t max_chars, char *buf,
    size_t size)
{
    size_t  i, k, n, run, chars;

    n = 0;
    chars = 0;
    i = 0;

    while (i < len) {

        if ((p[i] & 0xc0) == 0x80) {
            i++;                    /* the rest of a UTF-8 sequence */
            continue;
        }

        if (chars == max_chars || n + 4 >= size) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }

        if (p[i] >= '0' && p[i] <= '9') {
            run = yibao_digit_run(p, len, i);

            for (k = 0; k < run && chars < max_chars && n + 4 < size; k++) {
                buf[n++] = (run >= YIBAO_MASK_DIGITS && k >= 4 && k < run - 4)
                           ? '*' : (char) p[i + k];
                chars++;
            }

            i += k;
            continue;
        }

        if (p[i] >= 0x80) {
            buf[n++] = '*';

        } else if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"'
                   || p[i] == '\\' || p[i] == ';')
        {
            buf[n++] = '?';

        } else {
            buf[n++] = (char) p[i];
        }

        chars++;
        i++;
    }

    buf[n] = '\0';

    return n;
}


void
yibao_mask_values(unsigned char *text, size_t len, const yibao_str_t *values,
    size_t n)
{
    size_t          i, k, vlen, whole;
    unsigned char  *p, *end;

    for (k = 0; k < n; k++) {
        vlen = values[k].len;

        if (vlen < 4 || vlen > len) {
            continue;
        }

        /* a name (not ASCII) entirely, so that no UTF-8 is cut */

        whole = (vlen < 9);

        for (i = 0; i < vlen && !whole; i++) {
            whole = (values[k].data[i] >= 0x80);
        }

        p = text;
        end = text + len - vlen;

        while (p <= end) {
            if (memcmp(p, values[k].data, vlen) != 0) {
                p++;
                continue;
            }

            for (i = 0; i < vlen; i++) {
                if (whole || (i >= 4 && i < vlen - 4)) {
                    p[i] = '*';
                }
            }

            p += vlen;
        }
    }
}


void
yibao_mask_psn_no(const unsigned char *in, size_t len, unsigned char *out)
{
    if (len <= 8) {
        memset(out, '*', len);
        return;
    }

    memcpy(out, in, len);
    memset(out + 4, '*', len - 8);
}
