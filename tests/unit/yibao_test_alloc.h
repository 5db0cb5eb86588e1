/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TEST_ALLOC_H_INCLUDED_
#define _YIBAO_TEST_ALLOC_H_INCLUDED_


#include <stdlib.h>
#include <string.h>

#include "yibao_types.h"


/*
 * A test arena behind yibao_alloc_t: every block comes from malloc(),
 * is filled with a garbage byte (so nothing relies on zeroed memory)
 * and is released by yibao_test_arena_free(), like a pool.  The arena
 * counts allocation calls and bytes and can be told to fail chosen
 * calls, to exercise the YIBAO_ERR_NOMEM paths:
 *
 *     yibao_test_arena_t  arena;
 *     yibao_alloc_t       alloc;
 *
 *     yibao_test_arena_init(&arena, &alloc);
 *     yibao_test_arena_fail_at(&arena, 2);
 *     ...                       (the 2nd alloc() from here returns NULL)
 *     yibao_test_arena_free(&arena);
 *
 * fail_at() and fail_from() restart the call count at 0, so "n" counts
 * the calls made after them.  A NOMEM sweep of a function that makes k
 * calls: for n = 1, 2, ... fail call n and expect YIBAO_ERR_NOMEM until
 * the function succeeds with n > k.
 */

#define YIBAO_TEST_ARENA_FILL  0xa5


typedef union yibao_test_block_u  yibao_test_block_t;

union yibao_test_block_u {
    struct {
        yibao_test_block_t  *next;
        size_t               size;
    } h;

    /* keeps the user part after the header maximally aligned */
    long double           ld;
    long long             ll;
    void                 *p;
};


typedef struct {
    yibao_test_block_t   *blocks;
    size_t                calls;    /* alloc() calls, failed ones too */
    size_t                failed;   /* alloc() calls that returned NULL */
    size_t                live;     /* blocks held */
    size_t                bytes;    /* bytes handed out */
    size_t                fail_at;  /* 1-based call to fail, 0: none */
    int                   fail_rest;    /* fail every call from fail_at */
    size_t                limit;    /* total bytes allowed, 0: no limit */
} yibao_test_arena_t;


static inline void *
yibao_test_arena_alloc(void *ctx, size_t size)
{
    yibao_test_arena_t  *arena = ctx;

    yibao_test_block_t  *b;

    arena->calls++;

    if ((arena->fail_at != 0
         && (arena->calls == arena->fail_at
             || (arena->fail_rest && arena->calls > arena->fail_at)))
        || (arena->limit != 0 && arena->bytes + size > arena->limit))
    {
        arena->failed++;
        return NULL;
    }

    b = malloc(sizeof(yibao_test_block_t) + (size != 0 ? size : 1));
    if (b == NULL) {
        arena->failed++;
        return NULL;
    }

    memset(b + 1, YIBAO_TEST_ARENA_FILL, size);

    b->h.next = arena->blocks;
    b->h.size = size;
    arena->blocks = b;
    arena->live++;
    arena->bytes += size;

    return b + 1;
}


static inline void
yibao_test_arena_init(yibao_test_arena_t *arena, yibao_alloc_t *alloc)
{
    memset(arena, 0, sizeof(yibao_test_arena_t));

    alloc->alloc = yibao_test_arena_alloc;
    alloc->ctx = arena;
}


/* Releases every block; the arena stays usable, with its counters and
 * failure settings reset. */

static inline void
yibao_test_arena_free(yibao_test_arena_t *arena)
{
    yibao_test_block_t  *b, *next;

    for (b = arena->blocks; b != NULL; b = next) {
        next = b->h.next;
        free(b);
    }

    memset(arena, 0, sizeof(yibao_test_arena_t));
}


/* Makes call n (counted from now on) return NULL; 0 disarms. */

static inline void
yibao_test_arena_fail_at(yibao_test_arena_t *arena, size_t n)
{
    arena->calls = 0;
    arena->fail_at = n;
    arena->fail_rest = 0;
}


/* Makes call n (counted from now on) and every later one return NULL. */

static inline void
yibao_test_arena_fail_from(yibao_test_arena_t *arena, size_t n)
{
    arena->calls = 0;
    arena->fail_at = n;
    arena->fail_rest = 1;
}


/* Makes every call that would bring the bytes handed out over limit
 * return NULL; 0 removes the limit. */

static inline void
yibao_test_arena_limit(yibao_test_arena_t *arena, size_t limit)
{
    arena->limit = limit;
}


/*
 * Returns 1 if any block handed out and not yet released holds the
 * bytes s[0..len - 1], e.g. to check that a secret was wiped.
 */

static inline int
yibao_test_arena_contains(yibao_test_arena_t *arena, const void *s,
    size_t len)
{
    size_t               i;
    unsigned char       *p;
    yibao_test_block_t  *b;

    if (len == 0) {
        return 0;
    }

    for (b = arena->blocks; b != NULL; b = b->h.next) {
        p = (unsigned char *) (b + 1);

        for (i = 0; i + len <= b->h.size; i++) {
            if (memcmp(p + i, s, len) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * cmocka fixtures for a test context on the heap whose first member is
 * a yibao_test_ctx_t: the setup zeroes the context and readies the
 * arena, the teardown releases the arena and the context.
 *
 *     typedef struct {
 *         yibao_test_ctx_t    base;
 *         ...
 *     } test_ctx_t;
 *
 *     static int
 *     test_setup(void **state)
 *     {
 *         return yibao_test_ctx_setup(state, sizeof(test_ctx_t));
 *     }
 *
 *     cmocka_unit_test_setup_teardown(test_x, test_setup,
 *                                     yibao_test_ctx_teardown)
 */

typedef struct {
    yibao_test_arena_t    arena;
    yibao_alloc_t         alloc;
} yibao_test_ctx_t;


static inline int
yibao_test_ctx_setup(void **state, size_t size)
{
    yibao_test_ctx_t  *ctx;

    ctx = calloc(1, size);
    if (ctx == NULL) {
        return -1;
    }

    yibao_test_arena_init(&ctx->arena, &ctx->alloc);
    *state = ctx;

    return 0;
}


static inline int
yibao_test_ctx_teardown(void **state)
{
    yibao_test_ctx_t  *ctx = *state;

    yibao_test_arena_free(&ctx->arena);
    free(ctx);

    return 0;
}


#endif /* _YIBAO_TEST_ALLOC_H_INCLUDED_ */
