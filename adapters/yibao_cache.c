/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_cache.h"
#include "yibao_codes.h"
#include "yibao_crypto.h"
#include "yibao_decimal.h"
#include "yibao_envelope.h"


const char  yibao_cache_lookup_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "local l = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1])\n"
    "return {v, l and 1 or 0, now}\n";

const char  yibao_cache_store_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local fresh = tonumber(ARGV[2])\n"
    "redis.call('SET', KEYS[1], (now + fresh) .. (ARGV[4] or '') .. '\\n'\n"
    "           .. ARGV[1], 'PX',\n"
    "           fresh + tonumber(ARGV[3]))\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 'OK'\n";

const char  yibao_cache_purge_script[] =
    "local n = 0\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    n = n + redis.call('DEL', k)\n"
    "  end\n"
    "until cursor == '0'\n"
    "return n\n";



/*
 * The canonical text: what json_dumps() writes with JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY (jansson 2.14, dump.c and strconv.c),
 * byte for byte, so that keys and journal hashes stay what they were;
 * written here because jansson's own writer decodes every character of
 * every string and costs several times as much.  It goes through a
 * window of YIBAO_CANON_WINDOW bytes: for the digest each full window is
 * hashed and the text never exists whole; for yibao_json_canonical() the
 * window is the text, grown as needed.
 */

#define YIBAO_CANON_WINDOW  4096
#define YIBAO_CANON_CHUNK   (YIBAO_CANON_WINDOW / 8)  /* escaped: x 6 */


#define YIBAO_CANON_KEYS    48     /* sorted on the stack */


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          size;
    unsigned        hash:1;     /* windows go to yibao_digest_add() */
    unsigned        failed:1;

    /* the order the last object's keys were sorted into (the rows of
     * an array have their keys in the same order): tried first */
    size_t          order_n;
    unsigned char   order[YIBAO_CANON_KEYS];
} yibao_canon_t;


typedef struct {
    const char     *key;
    size_t          len;
    json_t         *value;
    size_t          at;         /* where the object holds it */
} yibao_canon_key_t;


static void yibao_canon_value(yibao_canon_t *c, json_t *v, size_t depth);


int
yibao_cache_input_digest(const yibao_envelope_t *env, char hex[65])
{
    size_t          dlen;
    json_t         *input;
    yibao_canon_t   c;
    unsigned char   window[YIBAO_CANON_WINDOW], digest[YIBAO_MD_MAX_SIZE];

    input = json_object_get((json_t *) env->doc, "input");

    if (input == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    if (yibao_digest_begin(YIBAO_MD_SHA256) != YIBAO_OK) {
        return YIBAO_ERR_CRYPTO;
    }

    c.p = window;
    c.len = 0;
    c.size = sizeof(window);
    c.hash = 1;
    c.failed = 0;
    c.order_n = 0;

    yibao_canon_value(&c, input, 0);

    if (c.failed) {
        return YIBAO_ERR_NOMEM;
    }

    if (yibao_digest_add(window, c.len) != YIBAO_OK
        || yibao_digest_end(digest, &dlen) != YIBAO_OK || dlen != 32)
    {
        return YIBAO_ERR_CRYPTO;
    }

    yibao_hex_encode(digest, dlen, hex, 0);

    return YIBAO_OK;
}


/*
 * Room for n more bytes (n <= YIBAO_CANON_WINDOW): the window hashed and
 * emptied, or the text grown.  0, or -1 with c->failed set.
 */

static int
yibao_canon_room(yibao_canon_t *c, size_t n)
{
    size_t          size;
    unsigned char  *p;

    if (c->failed) {
        return -1;
    }

    if (c->size - c->len >= n) {
        return 0;
    }

    if (c->hash) {
        if (yibao_digest_add(c->p, c->len) != YIBAO_OK) {
            c->failed = 1;
            return -1;
        }

        c->len = 0;
        return 0;
    }

    size = c->size ? c->size : YIBAO_CANON_WINDOW;

    while (size - c->len < n) {
        if (size > ((size_t) -1) / 2) {
            c->failed = 1;
            return -1;
        }

        size *= 2;
    }

    p = realloc(c->p, size);
    if (p == NULL) {
        c->failed = 1;
        return -1;
    }

    c->p = p;
    c->size = size;

    return 0;
}


/* n <= YIBAO_CANON_WINDOW bytes */

static void
yibao_canon_put(yibao_canon_t *c, const void *s, size_t n)
{
    if (c->size - c->len < n && yibao_canon_room(c, n) != 0) {
        return;
    }

    memcpy(c->p + c->len, s, n);
    c->len += n;
}


static void
yibao_canon_byte(yibao_canon_t *c, unsigned char ch)
{
    if (c->len == c->size && yibao_canon_room(c, 1) != 0) {
        return;
    }

    c->p[c->len++] = ch;
}


/* '"', the escaped bytes a chunk at a time (6 bytes a byte at most), '"' */

static void
yibao_canon_string(yibao_canon_t *c, const char *s, size_t n)
{
    size_t  chunk;

    yibao_canon_byte(c, '"');

    while (n) {
        chunk = n < YIBAO_CANON_CHUNK ? n : YIBAO_CANON_CHUNK;

        if (yibao_canon_room(c, 6 * chunk) != 0) {
            return;
        }

        c->len += yibao_json_escape_into(c->p + c->len,
                                         (const unsigned char *) s, chunk);
        s += chunk;
        n -= chunk;
    }

    yibao_canon_byte(c, '"');
}


/* "%.17g", then ".0" when it has neither '.' nor 'e', and the exponent
 * without '+' and leading zeros: 1e+21 is 1e21, 1e-05 is 1e-5 */

static void
yibao_canon_real(yibao_canon_t *c, double d)
{
    int     n;
    char    buf[64], *e, *from, *to;

    n = yibao_decimal_g17(d, buf, sizeof(buf) - 3);

    if (n < 0) {
        c->failed = 1;
        return;
    }

    if (memchr(buf, '.', n) == NULL && memchr(buf, 'e', n) == NULL) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }

    e = memchr(buf, 'e', n);

    if (e != NULL) {
        to = e + 1;

        if (*to == '-') {
            to++;

        }

        from = to;

        if (*from == '+') {
            from++;
        }

        while (*from == '0' && from[1] != '\0') {
            from++;
        }

        memmove(to, from, strlen(from) + 1);
        n = (int) strlen(buf);
    }

    yibao_canon_put(c, buf, (size_t) n);
}


/* keys in the order of their bytes (jansson's compare_keys): insertion
 * sort, an object having few keys */

static int
yibao_canon_before(const yibao_canon_key_t *a, const yibao_canon_key_t *b)
{
    int  rc;

    if (a->len && b->len && a->key[0] != b->key[0]) {
        return (unsigned char) a->key[0] < (unsigned char) b->key[0];
    }

    rc = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

    if (rc) {
        return rc < 0;
    }

    return a->len < b->len;
}


/*
 * The keys in order: in the last object's order when that is sorted
 * (n - 1 comparisons), else by insertion sort, an object having few
 * keys; the order is kept for the next object.
 */

static void
yibao_canon_sort(yibao_canon_t *c, yibao_canon_key_t *keys, size_t n)
{
    size_t             i, j;
    yibao_canon_key_t  k, tried[YIBAO_CANON_KEYS];

    if (n > 1 && n == c->order_n) {
        for (i = 0; i < n; i++) {
            tried[i] = keys[c->order[i]];
        }

        for (i = 1; i < n; i++) {
            if (!yibao_canon_before(&tried[i - 1], &tried[i])) {
                break;
            }
        }

        if (i == n) {
            memcpy(keys, tried, n * sizeof(yibao_canon_key_t));
            return;
        }
    }

    for (i = 1; i < n; i++) {
        k = keys[i];

        for (j = i; j > 0 && yibao_canon_before(&k, &keys[j - 1]); j--) {
            keys[j] = keys[j - 1];
        }

        keys[j] = k;
    }

    for (i = 0; i < n; i++) {
        c->order[i] = (unsigned char) keys[i].at;
    }

    c->order_n = n;
}


static int
yibao_canon_cmp(const void *one, const void *two)
{
    const yibao_canon_key_t  *a = one;
    const yibao_canon_key_t  *b = two;

    return yibao_canon_before(b, a) - yibao_canon_before(a, b);
}


static void
yibao_canon_object(yibao_canon_t *c, json_t *v, size_t depth)
{
    size_t              i, n;
    json_t             *child;
    void               *it;
    yibao_canon_key_t  *keys, stack[YIBAO_CANON_KEYS];

    n = json_object_size(v);
    keys = stack;

    if (n > sizeof(stack) / sizeof(stack[0])) {
        keys = malloc(n * sizeof(yibao_canon_key_t));
        if (keys == NULL) {
            c->failed = 1;
            return;
        }
    }

    i = 0;

    for (it = json_object_iter(v); it != NULL && i < n;
         it = json_object_iter_next(v, it))
    {
        keys[i].key = json_object_iter_key(it);
        keys[i].len = strlen(keys[i].key);
        keys[i].value = json_object_iter_value(it);
        keys[i].at = i;
        i++;
    }

    n = i;

    if (keys == stack) {
        yibao_canon_sort(c, keys, n);

    } else {
        qsort(keys, n, sizeof(yibao_canon_key_t), yibao_canon_cmp);
    }

    yibao_canon_byte(c, '{');

    for (i = 0; i < n; i++) {
        if (i) {
            yibao_canon_byte(c, ',');
        }

        yibao_canon_string(c, keys[i].key, keys[i].len);
        yibao_canon_byte(c, ':');
        child = keys[i].value;
        yibao_canon_value(c, child, depth + 1);
    }

    yibao_canon_byte(c, '}');

    if (keys != stack) {
        free(keys);
    }
}


static void
yibao_canon_value(yibao_canon_t *c, json_t *v, size_t depth)
{
    char     buf[32];
    size_t   i, n;
    json_t  *child;

    /* as deep as jansson dumps (JSON_PARSER_MAX_DEPTH) */

    if (depth > 2048) {
        c->failed = 1;
        return;
    }

    switch (json_typeof(v)) {

    case JSON_OBJECT:
        yibao_canon_object(c, v, depth);
        return;

    case JSON_ARRAY:
        yibao_canon_byte(c, '[');
        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            if (i) {
                yibao_canon_byte(c, ',');
            }

            child = json_array_get(v, i);
            yibao_canon_value(c, child, depth + 1);
        }

        yibao_canon_byte(c, ']');
        return;

    case JSON_STRING:
        yibao_canon_string(c, json_string_value(v), json_string_length(v));
        return;

    case JSON_INTEGER:
        n = yibao_decimal_int_text((int64_t) json_integer_value(v), buf);
        yibao_canon_put(c, buf, n);
        return;

    case JSON_REAL:
        yibao_canon_real(c, json_real_value(v));
        return;

    case JSON_TRUE:
        yibao_canon_put(c, "true", 4);
        return;

    case JSON_FALSE:
        yibao_canon_put(c, "false", 5);
        return;

    default:
        yibao_canon_put(c, "null", 4);
        return;
    }
}


unsigned char *
yibao_json_canonical(const void *json, size_t *len)
{
    yibao_canon_t  c;

    if (json == NULL) {
        return NULL;
    }

    memset(&c, 0, sizeof(yibao_canon_t));

    yibao_canon_value(&c, (json_t *) json, 0);

    if (c.failed || c.p == NULL) {
        free(c.p);
        return NULL;
    }

    *len = c.len;

    return c.p;
}


int
yibao_cache_key(const yibao_envelope_t *env, const yibao_str_t *entity,
    yibao_alloc_t *a, yibao_str_t *key)
{
    int             rc;
    char            hex[65];
    size_t          len;
    unsigned char  *p;

    rc = yibao_cache_input_digest(env, hex);
    if (rc != YIBAO_OK) {
        return rc;
    }

    len = sizeof("yibao:{}:c:::") - 1 + entity->len + env->infno.len
          + env->insuplc_admdvs.len + 64;

    p = yibao_alloc(a, len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    key->data = p;
    key->len = len;

    memcpy(p, "yibao:{", 7);
    p += 7;
    memcpy(p, entity->data, entity->len);
    p += entity->len;
    memcpy(p, "}:c:", 4);
    p += 4;
    memcpy(p, env->infno.data, env->infno.len);
    p += env->infno.len;
    *p++ = ':';

    if (env->insuplc_admdvs.len) {
        memcpy(p, env->insuplc_admdvs.data, env->insuplc_admdvs.len);
        p += env->insuplc_admdvs.len;
    }

    *p++ = ':';

    memcpy(p, hex, 64);

    return YIBAO_OK;
}


int
yibao_cache_unframe(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_str_t *answer)
{
    int             has;
    yibao_fields_t  f;

    return yibao_cache_unframe_fields(data, len, fresh_until_ms, &f, &has,
                                      answer);
}


int
yibao_cache_unframe_fields(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_fields_t *f, int *has_fields,
    yibao_str_t *answer)
{
    size_t        i, k, n, d;
    uint64_t      t;
    yibao_str_t  *s[3];

    memset(f, 0, sizeof(yibao_fields_t));
    *has_fields = 0;

    t = 0;

    /* at most 19 digits: any of them fits a uint64_t */

    for (i = 0; i < len && i < 19 && data[i] >= '0' && data[i] <= '9'; i++) {
        t = t * 10 + (data[i] - '0');
    }

    if (i == 0 || i >= len) {
        return YIBAO_ERR_SYNTAX;
    }

    if (data[i] == ' ') {
        /* " <len>:<bytes>" for mdtrt_id, setl_id, psn_no */

        s[0] = &f->mdtrt_id;
        s[1] = &f->setl_id;
        s[2] = &f->psn_no;

        i++;

        for (k = 0; k < 3; k++) {
            n = 0;
            d = i;

            while (i < len && data[i] >= '0' && data[i] <= '9'
                   && n <= YIBAO_CACHE_FIELD_MAX)
            {
                n = n * 10 + (data[i++] - '0');
            }

            if (i == d || n > YIBAO_CACHE_FIELD_MAX || i >= len
                || data[i] != ':' || len - i - 1 < n)
            {
                memset(f, 0, sizeof(yibao_fields_t));
                return YIBAO_ERR_SYNTAX;
            }

            s[k]->data = data + i + 1;
            s[k]->len = n;
            i += 1 + n;
        }

        if (i >= len) {
            memset(f, 0, sizeof(yibao_fields_t));
            return YIBAO_ERR_SYNTAX;
        }

        *has_fields = 1;
    }

    if (data[i] != '\n') {
        memset(f, 0, sizeof(yibao_fields_t));
        *has_fields = 0;
        return YIBAO_ERR_SYNTAX;
    }

    *fresh_until_ms = t;
    answer->data = data + i + 1;
    answer->len = len - i - 1;

    return YIBAO_OK;
}


size_t
yibao_cache_fields_size(const yibao_fields_t *f)
{
    if (f->mdtrt_id.len > YIBAO_CACHE_FIELD_MAX
        || f->setl_id.len > YIBAO_CACHE_FIELD_MAX
        || f->psn_no.len > YIBAO_CACHE_FIELD_MAX)
    {
        return 0;
    }

    /* " " and three "<up to 3 digits>:" */

    return 1 + 3 * 4 + f->mdtrt_id.len + f->setl_id.len + f->psn_no.len;
}


unsigned char *
yibao_cache_fields_write(unsigned char *p, const yibao_fields_t *f)
{
    size_t              k;
    const yibao_str_t  *s[3];

    if (yibao_cache_fields_size(f) == 0) {
        return p;
    }

    s[0] = &f->mdtrt_id;
    s[1] = &f->setl_id;
    s[2] = &f->psn_no;

    *p++ = ' ';

    for (k = 0; k < 3; k++) {
        p += sprintf((char *) p, "%zu:", s[k]->len);

        if (s[k]->len) {
            memcpy(p, s[k]->data, s[k]->len);
            p += s[k]->len;
        }
    }

    return p;
}
