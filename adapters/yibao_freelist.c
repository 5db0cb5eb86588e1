/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_freelist.h"


/*
 * A block on a list is out of bounds for the memory checkers, as a
 * freed block is: AddressSanitizer (the unit and fuzz builds) and
 * valgrind's memcheck report a use of it.  Only its first word, the
 * list's link, is opened while the list code reads it.
 */

#if defined(__SANITIZE_ADDRESS__)

#include <sanitizer/asan_interface.h>

#define yibao_freelist_close(p, n)       ASAN_POISON_MEMORY_REGION(p, n)
#define yibao_freelist_open_link(p, n)   ASAN_UNPOISON_MEMORY_REGION(p, n)
#define yibao_freelist_open(p, n)        ASAN_UNPOISON_MEMORY_REGION(p, n)

#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)

#include <valgrind/memcheck.h>

#define yibao_freelist_close(p, n)       VALGRIND_MAKE_MEM_NOACCESS(p, n)
#define yibao_freelist_open_link(p, n)   VALGRIND_MAKE_MEM_DEFINED(p, n)
#define yibao_freelist_open(p, n)        VALGRIND_MAKE_MEM_UNDEFINED(p, n)

#endif
#endif

#ifndef yibao_freelist_close
#define yibao_freelist_close(p, n)
#define yibao_freelist_open_link(p, n)
#define yibao_freelist_open(p, n)
#endif


/* the header before each block: its class, or LARGE */

#define YIBAO_FREELIST_LARGE  ((size_t) YIBAO_FREELIST_CLASSES)


typedef union {
    size_t                cls;
    unsigned char         pad[YIBAO_FREELIST_QUANTUM];
} yibao_freelist_header_t;


/* what a block of a class takes from malloc(), its header included */

#define yibao_freelist_block_size(cls)                                      \
    (sizeof(yibao_freelist_header_t) + ((cls) + 1) * YIBAO_FREELIST_QUANTUM)


void
yibao_freelist_init(yibao_freelist_t *fl, size_t keep_bytes,
    void *(*malloc_fn)(size_t size), void (*free_fn)(void *p))
{
    size_t  cls;

    memset(fl, 0, sizeof(yibao_freelist_t));

    for (cls = 0; cls < YIBAO_FREELIST_CLASSES; cls++) {
        fl->limit[cls] = keep_bytes / yibao_freelist_block_size(cls);
    }

    fl->malloc = malloc_fn;
    fl->release = free_fn;
}


void *
yibao_freelist_get(yibao_freelist_t *fl, size_t size)
{
    size_t                    cls, bytes;
    yibao_freelist_block_t   *b;
    yibao_freelist_header_t  *h;

    if (size > YIBAO_FREELIST_MAX) {
        if (size > (size_t) -1 - sizeof(yibao_freelist_header_t)) {
            return NULL;
        }

        cls = YIBAO_FREELIST_LARGE;
        bytes = sizeof(yibao_freelist_header_t) + size;

    } else {
        cls = size ? (size - 1) / YIBAO_FREELIST_QUANTUM : 0;

        b = fl->free[cls];

        if (b != NULL) {
            yibao_freelist_open_link(b, sizeof(yibao_freelist_block_t));
            fl->free[cls] = b->next;
            yibao_freelist_open(b, (cls + 1) * YIBAO_FREELIST_QUANTUM);
            fl->count[cls]--;
            fl->reused++;
            return b;
        }

        bytes = yibao_freelist_block_size(cls);
    }

    h = fl->malloc(bytes);
    if (h == NULL) {
        return NULL;
    }

    h->cls = cls;

    return h + 1;
}


void
yibao_freelist_put(yibao_freelist_t *fl, void *p)
{
    size_t                    cls;
    yibao_freelist_block_t   *b;
    yibao_freelist_header_t  *h;

    if (p == NULL) {
        return;
    }

    h = (yibao_freelist_header_t *) p - 1;
    cls = h->cls;

    if (cls >= YIBAO_FREELIST_LARGE || fl->count[cls] >= fl->limit[cls]) {
        fl->release(h);
        return;
    }

    b = p;
    b->next = fl->free[cls];
    fl->free[cls] = b;
    yibao_freelist_close(b, (cls + 1) * YIBAO_FREELIST_QUANTUM);
    fl->count[cls]++;
}


void
yibao_freelist_drain(yibao_freelist_t *fl)
{
    size_t                   cls;
    yibao_freelist_block_t  *b, *next;

    for (cls = 0; cls < YIBAO_FREELIST_CLASSES; cls++) {

        for (b = fl->free[cls]; b != NULL; b = next) {
            yibao_freelist_open_link(b, sizeof(yibao_freelist_block_t));
            next = b->next;
            fl->release((yibao_freelist_header_t *) (void *) b - 1);
        }

        fl->free[cls] = NULL;
        fl->count[cls] = 0;
    }
}


size_t
yibao_freelist_kept(yibao_freelist_t *fl, size_t *bytes)
{
    size_t  cls, n, total;

    n = 0;
    total = 0;

    for (cls = 0; cls < YIBAO_FREELIST_CLASSES; cls++) {
        n += fl->count[cls];
        total += fl->count[cls] * yibao_freelist_block_size(cls);
    }

    if (bytes != NULL) {
        *bytes = total;
    }

    return n;
}
