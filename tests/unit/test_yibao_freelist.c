/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_freelist.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif


/* malloc() and free() that count, and a malloc() that fails on demand */

static size_t  test_mallocs;
static size_t  test_frees;
static int     test_fail;


static void *
counting_malloc(size_t size)
{
    if (test_fail) {
        return NULL;
    }

    test_mallocs++;
    return malloc(size);
}


static void
counting_free(void *p)
{
    test_frees++;
    free(p);
}


static int
test_setup(void **state)
{
    (void) state;

    test_mallocs = 0;
    test_frees = 0;
    test_fail = 0;

    return 0;
}


static void
test_blocks_are_aligned_and_whole(void **state)
{
    size_t            size;
    unsigned char    *p;
    yibao_freelist_t  fl;

    (void) state;

    yibao_freelist_init(&fl, 65536, counting_malloc, counting_free);

    /* every byte asked for is writable (ASan checks the bounds) */

    for (size = 0; size <= YIBAO_FREELIST_MAX + 40; size++) {
        p = yibao_freelist_get(&fl, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % YIBAO_FREELIST_QUANTUM, 0);
        memset(p, 0xa5, size);
        yibao_freelist_put(&fl, p);
    }

    yibao_freelist_drain(&fl);
    assert_int_equal(test_mallocs, test_frees);
}


static void
test_freed_block_is_reused(void **state)
{
    void              *a, *b, *c;
    yibao_freelist_t   fl;

    (void) state;

    yibao_freelist_init(&fl, 65536, counting_malloc, counting_free);

    a = yibao_freelist_get(&fl, 40);
    yibao_freelist_put(&fl, a);
    assert_int_equal(yibao_freelist_kept(&fl, NULL), 1);

    /* 33..48 bytes are one class: the block comes back, no malloc() */

    b = yibao_freelist_get(&fl, 33);
    assert_ptr_equal(a, b);
    assert_int_equal(test_mallocs, 1);
    assert_int_equal(fl.reused, 1);

    /* another class does not take it */

    yibao_freelist_put(&fl, b);
    c = yibao_freelist_get(&fl, 49);
    assert_ptr_not_equal(c, b);
    assert_int_equal(test_mallocs, 2);

    yibao_freelist_put(&fl, c);
    yibao_freelist_drain(&fl);
    assert_int_equal(yibao_freelist_kept(&fl, NULL), 0);
    assert_int_equal(test_frees, 2);
}


static void
test_lists_keep_at_most_keep(void **state)
{
    size_t            i, bytes;
    void             *p[10];
    yibao_freelist_t  fl;

    (void) state;

    yibao_freelist_init(&fl, 3 * (YIBAO_FREELIST_QUANTUM + 112) + 100,
                        counting_malloc, counting_free);

    for (i = 0; i < 10; i++) {
        p[i] = yibao_freelist_get(&fl, 100);
    }

    for (i = 0; i < 10; i++) {
        yibao_freelist_put(&fl, p[i]);
    }

    /* 3 blocks of 128 bytes fit in 484: 3 kept, 7 given back at once */

    assert_int_equal(yibao_freelist_kept(&fl, &bytes), 3);
    assert_int_equal(bytes, 3 * (YIBAO_FREELIST_QUANTUM + 112));
    assert_int_equal(test_frees, 7);

    yibao_freelist_drain(&fl);
    assert_int_equal(test_frees, 10);
}


static void
test_keep_zero_is_malloc_and_free(void **state)
{
    void              *p;
    yibao_freelist_t   fl;

    (void) state;

    yibao_freelist_init(&fl, 0, counting_malloc, counting_free);

    p = yibao_freelist_get(&fl, 24);
    yibao_freelist_put(&fl, p);
    assert_int_equal(test_frees, 1);

    p = yibao_freelist_get(&fl, 24);
    yibao_freelist_put(&fl, p);
    assert_int_equal(test_mallocs, 2);
    assert_int_equal(test_frees, 2);
    assert_int_equal(fl.reused, 0);
}


static void
test_large_blocks_are_never_kept(void **state)
{
    unsigned char     *p;
    yibao_freelist_t   fl;

    (void) state;

    yibao_freelist_init(&fl, 65536, counting_malloc, counting_free);

    p = yibao_freelist_get(&fl, YIBAO_FREELIST_MAX + 1);
    assert_non_null(p);
    memset(p, 1, YIBAO_FREELIST_MAX + 1);
    yibao_freelist_put(&fl, p);

    assert_int_equal(yibao_freelist_kept(&fl, NULL), 0);
    assert_int_equal(test_frees, 1);

    /* the largest small block is kept */

    p = yibao_freelist_get(&fl, YIBAO_FREELIST_MAX);
    yibao_freelist_put(&fl, p);
    assert_int_equal(yibao_freelist_kept(&fl, NULL), 1);

    yibao_freelist_drain(&fl);
}


static void
test_failures(void **state)
{
    void              *p;
    yibao_freelist_t   fl;

    (void) state;

    yibao_freelist_init(&fl, 65536, counting_malloc, counting_free);

    test_fail = 1;
    assert_null(yibao_freelist_get(&fl, 10));
    assert_null(yibao_freelist_get(&fl, 100000));

    /* a size whose header would wrap around */

    test_fail = 0;
    assert_null(yibao_freelist_get(&fl, (size_t) -1));
    assert_null(yibao_freelist_get(&fl, (size_t) -1 - 8));
    assert_int_equal(test_mallocs, 0);

    /* a kept block is still handed out while malloc() fails */

    p = yibao_freelist_get(&fl, 10);
    yibao_freelist_put(&fl, p);
    test_fail = 1;
    assert_ptr_equal(yibao_freelist_get(&fl, 10), p);

    yibao_freelist_put(&fl, p);
    yibao_freelist_put(&fl, NULL);
    yibao_freelist_drain(&fl);
    assert_int_equal(test_frees, 1);
}


static void
test_listed_block_is_out_of_bounds(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
    unsigned char     *p, *q;
    yibao_freelist_t   fl;

    (void) state;

    yibao_freelist_init(&fl, 65536, counting_malloc, counting_free);

    p = yibao_freelist_get(&fl, 48);
    assert_int_equal(__asan_region_is_poisoned(p, 48), 0);

    /* on the list, the whole block is poisoned, as a freed block is */

    yibao_freelist_put(&fl, p);
    assert_ptr_equal(__asan_region_is_poisoned(p, 48), p);
    assert_true(__asan_address_is_poisoned(p + 47));

    /* handed out again, all of it is usable */

    q = yibao_freelist_get(&fl, 48);
    assert_ptr_equal(p, q);
    assert_int_equal(__asan_region_is_poisoned(q, 48), 0);

    yibao_freelist_put(&fl, q);
    yibao_freelist_drain(&fl);
#else
    (void) state;
    skip();
#endif
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_blocks_are_aligned_and_whole,
                               test_setup),
        cmocka_unit_test_setup(test_freed_block_is_reused, test_setup),
        cmocka_unit_test_setup(test_lists_keep_at_most_keep, test_setup),
        cmocka_unit_test_setup(test_keep_zero_is_malloc_and_free,
                               test_setup),
        cmocka_unit_test_setup(test_large_blocks_are_never_kept,
                               test_setup),
        cmocka_unit_test_setup(test_failures, test_setup),
        cmocka_unit_test_setup(test_listed_block_is_out_of_bounds,
                               test_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
