/*
 * Copyright (C) yibao-gateway authors
 */


/* The compact mode of mappings/yibao_hash.h (the pointer mode is tested
 * in test_yibao_registry.c). */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_hash.h"
#include "yibao_test_alloc.h"


#define U(s)          ((const unsigned char *) (s))
#define TEST_KEYS     5000


/* the caller's entries: strings, and how often match() was asked */

typedef struct {
    char                  keys[TEST_KEYS][16];
    size_t                matches;
    int                   same_hash;    /* every key hashes to 7 */
} test_entries_t;


typedef struct {
    yibao_test_arena_t    arena;
    yibao_alloc_t         alloc;
    test_entries_t        e;
} test_ctx_t;


static int
test_setup(void **state)
{
    size_t       i;
    test_ctx_t  *t;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);

    for (i = 0; i < TEST_KEYS; i++) {
        snprintf(t->e.keys[i], sizeof(t->e.keys[i]), "key-%zu", i);
    }

    *state = t;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *t = *state;

    yibao_test_arena_free(&t->arena);
    free(t);

    return 0;
}


static int
test_match(const void *ctx, uint32_t n, const void *key)
{
    test_entries_t  *e = (test_entries_t *) ctx;

    e->matches++;

    assert_true(n < TEST_KEYS);

    return strcmp(e->keys[n], key) == 0;
}


static uint32_t
test_hash(const test_entries_t *e, const char *key)
{
    return e->same_hash ? 7 : yibao_hash_key(U(key), strlen(key));
}


static void
test_compact_basic(void **state)
{
    test_ctx_t  *t = *state;

    size_t         i;
    uint32_t       n, prev;
    yibao_hash_t  *h;

    h = yibao_hash_create_compact(TEST_KEYS, TEST_KEYS, test_match, &t->e,
                                  &t->alloc);
    assert_non_null(h);
    assert_int_equal(yibao_hash_count(h), 0);

    /* 5000 keys: a table of 16384 slots of 4 bytes, and the header */

    assert_true(yibao_hash_bytes(h) >= 16384 * 4);
    assert_true(yibao_hash_bytes(h) < 16384 * 4 + 256);

    for (i = 0; i < TEST_KEYS; i++) {
        assert_int_equal(yibao_hash_insert_index(h, (uint32_t) i,
                                                 test_hash(&t->e,
                                                           t->e.keys[i]),
                                                 t->e.keys[i], NULL),
                         YIBAO_OK);
    }

    assert_int_equal(yibao_hash_count(h), TEST_KEYS);

    t->e.matches = 0;

    for (i = 0; i < TEST_KEYS; i++) {
        n = UINT32_MAX;
        assert_true(yibao_hash_find_index(h, test_hash(&t->e, t->e.keys[i]),
                                          t->e.keys[i], &n));
        assert_int_equal(n, i);
    }

    /* the tags spare match(): about one call per key found */

    assert_true(t->e.matches < TEST_KEYS + TEST_KEYS / 50);

    assert_false(yibao_hash_find_index(h, test_hash(&t->e, "key-5000"),
                                       "key-5000", &n));
    assert_false(yibao_hash_find_index(h, test_hash(&t->e, "key-"), "key-",
                                       &n));

    /* a duplicate keeps the first entry and names it */

    prev = UINT32_MAX;
    strcpy(t->e.keys[TEST_KEYS - 1], "key-17");
    assert_int_equal(yibao_hash_insert_index(h, TEST_KEYS - 1,
                                             test_hash(&t->e, "key-17"),
                                             "key-17", &prev),
                     YIBAO_ERR_INVALID);
    assert_int_equal(prev, 17);
    assert_int_equal(yibao_hash_insert_index(h, TEST_KEYS - 1,
                                             test_hash(&t->e, "key-17"),
                                             "key-17", NULL),
                     YIBAO_ERR_INVALID);

    /* full */

    strcpy(t->e.keys[TEST_KEYS - 1], "another");
    assert_int_equal(yibao_hash_insert_index(h, TEST_KEYS - 1,
                                             test_hash(&t->e, "another"),
                                             "another", NULL),
                     YIBAO_ERR_TOO_LARGE);
    assert_int_equal(yibao_hash_count(h), TEST_KEYS);
}


static void
test_compact_collisions(void **state)
{
    test_ctx_t  *t = *state;

    size_t         i;
    uint32_t       n;
    yibao_hash_t  *h;

    /* one hash for all: correct, only slower */

    t->e.same_hash = 1;

    h = yibao_hash_create_compact(200, TEST_KEYS, test_match, &t->e,
                                  &t->alloc);
    assert_non_null(h);

    for (i = 0; i < 200; i++) {
        assert_int_equal(yibao_hash_insert_index(h, (uint32_t) i * 3, 7,
                                                 t->e.keys[i * 3], NULL),
                         YIBAO_OK);
    }

    for (i = 0; i < 600; i++) {
        if (i % 3 == 0) {
            assert_true(yibao_hash_find_index(h, 7, t->e.keys[i], &n));
            assert_int_equal(n, i);

        } else {
            assert_false(yibao_hash_find_index(h, 7, t->e.keys[i], &n));
        }
    }

    /* entry numbers up to limit - 1, not only nelts - 1 */

    assert_int_equal(yibao_hash_count(h), 200);
    assert_true(t->e.matches > 200 * 100);
}


static void
test_compact_limits(void **state)
{
    test_ctx_t  *t = *state;

    uint32_t       n;
    yibao_hash_t  *h;

    /* an empty index */

    h = yibao_hash_create_compact(0, 0, test_match, &t->e, &t->alloc);
    assert_non_null(h);
    assert_false(yibao_hash_find_index(h, 0, "key-0", &n));
    assert_int_equal(yibao_hash_insert_index(h, 0, 0, "key-0", NULL),
                     YIBAO_ERR_TOO_LARGE);

    /* entry numbers below limit */

    h = yibao_hash_create_compact(4, 10, test_match, &t->e, &t->alloc);
    assert_non_null(h);
    assert_int_equal(yibao_hash_insert_index(h, 10, 1, "key-10", NULL),
                     YIBAO_ERR_TOO_LARGE);
    assert_int_equal(yibao_hash_insert_index(h, 9, 1, "key-9", NULL),
                     YIBAO_OK);
    assert_true(yibao_hash_find_index(h, 1, "key-9", &n));
    assert_int_equal(n, 9);

    /* the largest limit takes all but one bit of a slot */

    h = yibao_hash_create_compact(4, ((size_t) 1 << 31) - 1, test_match,
                                  &t->e, &t->alloc);
    assert_non_null(h);
    assert_int_equal(yibao_hash_insert_index(h, 4999, 0xffffffffu,
                                             "key-4999", NULL),
                     YIBAO_OK);
    assert_true(yibao_hash_find_index(h, 0xffffffffu, "key-4999", &n));
    assert_int_equal(n, 4999);
    assert_false(yibao_hash_find_index(h, 0xffffffffu, "key-4998", &n));

    assert_null(yibao_hash_create_compact(4, (size_t) 1 << 31, test_match,
                                          &t->e, &t->alloc));
    assert_null(yibao_hash_create_compact(((size_t) 1 << 30) + 1, 10,
                                          test_match, &t->e, &t->alloc));
    assert_null(yibao_hash_create_compact(4, 10, NULL, &t->e, &t->alloc));

    /* prefetch is only a hint */

    yibao_hash_prefetch(h, 0);
    yibao_hash_prefetch(h, 0xffffffffu);
}


static void
test_modes_do_not_mix(void **state)
{
    test_ctx_t  *t = *state;

    int            value;
    uint32_t       n;
    yibao_hash_t  *compact, *pointers;

    compact = yibao_hash_create_compact(4, 4, test_match, &t->e, &t->alloc);
    pointers = yibao_hash_create(4, &t->alloc);
    assert_non_null(compact);
    assert_non_null(pointers);

    assert_int_equal(yibao_hash_insert(compact, U("key-0"), 5, &value),
                     YIBAO_ERR_INVALID);
    assert_null(yibao_hash_find(compact, U("key-0"), 5));
    assert_int_equal(yibao_hash_count(compact), 0);

    assert_int_equal(yibao_hash_insert_index(pointers, 0, 1, "key-0", NULL),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_hash_insert(pointers, U("key-0"), 5, &value),
                     YIBAO_OK);
    assert_false(yibao_hash_find_index(pointers, 1, "key-0", &n));
    assert_ptr_equal(yibao_hash_find(pointers, U("key-0"), 5), &value);

    /* the pointer mode counts its entries in its bytes */

    assert_true(yibao_hash_bytes(pointers) > yibao_hash_bytes(compact));
}


static void
test_compact_nomem(void **state)
{
    test_ctx_t  *t = *state;

    size_t  n;

    for (n = 1; n <= 2; n++) {
        yibao_test_arena_fail_at(&t->arena, n);
        assert_null(yibao_hash_create_compact(10, 10, test_match, &t->e,
                                              &t->alloc));
    }

    yibao_test_arena_fail_at(&t->arena, 3);
    assert_non_null(yibao_hash_create_compact(10, 10, test_match, &t->e,
                                              &t->alloc));
    assert_int_equal(t->arena.failed, 2);
}


#define TEST_HASH(f)                                                         \
    cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        TEST_HASH(test_compact_basic),
        TEST_HASH(test_compact_collisions),
        TEST_HASH(test_compact_limits),
        TEST_HASH(test_modes_do_not_mix),
        TEST_HASH(test_compact_nomem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
