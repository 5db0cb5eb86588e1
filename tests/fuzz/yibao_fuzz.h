/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_FUZZ_H_INCLUDED_
#define _YIBAO_FUZZ_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_types.h"


/*
 * Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * yibao_fuzz_arena_t is a pool-like yibao_alloc_t: every block comes
 * from malloc() (so that ASan sees each block's bounds), is filled with
 * a garbage byte (nothing may rely on zeroed memory) and is released
 * all at once by yibao_fuzz_arena_free() at the end of each input, so
 * that LeakSanitizer stays quiet.  A byte budget makes a runaway
 * allocation fail (NULL) instead of exhausting the fuzzer's memory.
 *
 * Inputs of several parts are split on YIBAO_FUZZ_SEP (ASCII record
 * separator, 0x1e), which none of the project's text formats uses.
 */

#define YIBAO_FUZZ_SEP         0x1e
#define YIBAO_FUZZ_FILL        0xa5
#define YIBAO_FUZZ_BUDGET      (64 * 1024 * 1024)
#define YIBAO_FUZZ_MAX_PARTS   16


#define yibao_fuzz_assert(expr)                                              \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__,      \
                    __LINE__, #expr);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)


typedef union yibao_fuzz_block_u  yibao_fuzz_block_t;

union yibao_fuzz_block_u {
    yibao_fuzz_block_t   *next;

    /* keeps the user part after the header maximally aligned */
    long double           ld;
    long long             ll;
    void                 *p;
};


typedef struct {
    yibao_fuzz_block_t   *blocks;
    size_t                bytes;
    size_t                budget;
} yibao_fuzz_arena_t;


static inline void *
yibao_fuzz_arena_alloc(void *ctx, size_t size)
{
    yibao_fuzz_arena_t  *arena = ctx;

    yibao_fuzz_block_t  *b;

    if (size > arena->budget - arena->bytes) {
        return NULL;
    }

    b = malloc(sizeof(yibao_fuzz_block_t) + (size != 0 ? size : 1));
    if (b == NULL) {
        return NULL;
    }

    memset(b + 1, YIBAO_FUZZ_FILL, size);

    b->next = arena->blocks;
    arena->blocks = b;
    arena->bytes += size;

    return b + 1;
}


static inline void
yibao_fuzz_arena_init(yibao_fuzz_arena_t *arena, yibao_alloc_t *alloc)
{
    arena->blocks = NULL;
    arena->bytes = 0;
    arena->budget = YIBAO_FUZZ_BUDGET;

    alloc->alloc = yibao_fuzz_arena_alloc;
    alloc->ctx = arena;
}


static inline void
yibao_fuzz_arena_free(yibao_fuzz_arena_t *arena)
{
    yibao_fuzz_block_t  *b, *next;

    for (b = arena->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    arena->blocks = NULL;
    arena->bytes = 0;
}


/*
 * Splits data[0..len) on YIBAO_FUZZ_SEP into at most n parts (the last
 * part keeps any further separators); returns the number of parts,
 * at least 1.
 */

static inline size_t
yibao_fuzz_split(const uint8_t *data, size_t len, yibao_str_t *parts,
    size_t n)
{
    size_t          k;
    const uint8_t  *p, *last, *sep;

    p = data;
    last = data + len;
    k = 0;

    while (k + 1 < n
           && (sep = memchr(p, YIBAO_FUZZ_SEP, (size_t) (last - p))) != NULL)
    {
        parts[k].data = p;
        parts[k].len = (size_t) (sep - p);
        k++;
        p = sep + 1;
    }

    parts[k].data = p;
    parts[k].len = (size_t) (last - p);

    return k + 1;
}


/*
 * An exact-size heap copy of a part: a read past its end is then seen
 * by ASan, which it would not be inside the fuzzer's larger buffer.
 * An empty part gets a valid pointer too, as a request's empty body
 * has; the caller free()s it.
 */

static inline unsigned char *
yibao_fuzz_copy(const yibao_str_t *s)
{
    unsigned char  *p;

    p = malloc(s->len != 0 ? s->len : 1);
    if (p == NULL) {
        abort();
    }

    if (s->len != 0) {
        memcpy(p, s->data, s->len);
    }

    return p;
}


/* Up to 8 bytes of *data as a little-endian number, consumed. */

static inline uint64_t
yibao_fuzz_take_u64(const uint8_t **data, size_t *len, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n && *len > 0; i++) {
        v |= (uint64_t) **data << (8 * i);
        (*data)++;
        (*len)--;
    }

    return v;
}


/*
 * Reads a whole file for a target's one-time setup; aborts when it
 * cannot (the targets run from the repository root, or from where
 * YIBAO_FUZZ_ROOT points).  The buffer is kept for the process' life.
 */

static inline unsigned char *
yibao_fuzz_read_file(const char *name, size_t *len)
{
    char            path[4096];
    long            n;
    FILE           *f;
    const char     *root;
    unsigned char  *p;

    root = getenv("YIBAO_FUZZ_ROOT");
    snprintf(path, sizeof(path), "%s%s%s", root ? root : "",
             root ? "/" : "", name);

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz: cannot open %s (run from the repository "
                "root or set YIBAO_FUZZ_ROOT)\n", path);
        abort();
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        abort();
    }

    p = malloc((size_t) n + 1);
    if (p == NULL || fread(p, 1, (size_t) n, f) != (size_t) n) {
        abort();
    }

    fclose(f);
    p[n] = '\0';
    *len = (size_t) n;

    return p;
}


/* A static arena for what a target builds once and keeps. */

static inline yibao_alloc_t *
yibao_fuzz_static_alloc(void)
{
    static yibao_fuzz_arena_t  arena;
    static yibao_alloc_t       alloc;
    static int                 init;

    if (!init) {
        yibao_fuzz_arena_init(&arena, &alloc);
        init = 1;
    }

    return &alloc;
}


#ifdef _YIBAO_MAP_H_INCLUDED_

/*
 * The demo mapping tables (conf/demo/mappings), built once into the
 * static arena, for the targets that translate.
 */

static inline const yibao_map_t *
yibao_fuzz_demo_map(void)
{
    size_t                i, len;
    yibao_err_t           err;
    yibao_str_t           label;
    unsigned char        *p;
    yibao_map_builder_t  *b;

    static yibao_map_t   *map;
    static const char    *tables[] = {
        "conf/demo/mappings/consumables.tsv",
        "conf/demo/mappings/diagnoses.tsv",
        "conf/demo/mappings/dicts.tsv",
        "conf/demo/mappings/drugs.tsv",
        "conf/demo/mappings/items.tsv",
        "conf/demo/mappings/staff.tsv",
        NULL
    };

    if (map != NULL) {
        return map;
    }

    b = yibao_map_builder_create(yibao_fuzz_static_alloc());
    if (b == NULL) {
        abort();
    }

    for (i = 0; tables[i] != NULL; i++) {
        p = yibao_fuzz_read_file(tables[i], &len);
        label.data = (const unsigned char *) tables[i];
        label.len = strlen(tables[i]);

        if (yibao_map_builder_add_named(b, &label, p, len, &err)
            != YIBAO_OK)
        {
            fprintf(stderr, "fuzz: %s line %zu: %s\n", tables[i],
                    err.line, err.msg);
            abort();
        }

        free(p);
    }

    map = yibao_map_build(b, &err);
    if (map == NULL) {
        fprintf(stderr, "fuzz: demo map: %s\n", err.msg);
        abort();
    }

    return map;
}

#endif


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#endif /* _YIBAO_FUZZ_H_INCLUDED_ */
