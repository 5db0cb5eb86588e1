/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_FREELIST_H_INCLUDED_
#define _YIBAO_FREELIST_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * Free lists in front of malloc() for small blocks that are allocated
 * and freed one by one, many times a request: jansson's values, object
 * slots and strings (about 150 blocks for a 1101 and its answer).
 *
 * A block of up to YIBAO_FREELIST_MAX bytes is rounded up to a multiple
 * of YIBAO_FREELIST_QUANTUM; a freed block goes onto the list of its
 * size and is handed out again by the next get() of that size, so that
 * after the first requests no block of a request goes through malloc()
 * or free().  The list of a size keeps blocks of at most keep_bytes in
 * all (headers included; the rest go back to free()), so the lists
 * never hold more than YIBAO_FREELIST_CLASSES * keep_bytes; keep_bytes 0
 * makes get() and put() plain malloc() and free() (for memory checkers,
 * which then see every block).  Larger blocks always go straight to
 * malloc() and free().
 *
 * Each block carries a header of YIBAO_FREELIST_QUANTUM bytes with its
 * size class before the address handed out, which stays aligned as
 * malloc()'s is.  One yibao_freelist_t serves one thread: there is no
 * locking.
 */


#define YIBAO_FREELIST_QUANTUM   16
#define YIBAO_FREELIST_CLASSES   32
#define YIBAO_FREELIST_MAX       (YIBAO_FREELIST_QUANTUM                     \
                                  * YIBAO_FREELIST_CLASSES)


typedef struct yibao_freelist_block_s  yibao_freelist_block_t;

struct yibao_freelist_block_s {
    yibao_freelist_block_t  *next;
};


typedef struct {
    yibao_freelist_block_t  *free[YIBAO_FREELIST_CLASSES];
    size_t                   count[YIBAO_FREELIST_CLASSES];
    size_t                   limit[YIBAO_FREELIST_CLASSES];

    void                  *(*malloc)(size_t size);
    void                   (*release)(void *p);

    /* get()s served from a list (those from malloc() the malloc counts) */
    uint64_t                 reused;
} yibao_freelist_t;


void yibao_freelist_init(yibao_freelist_t *fl, size_t keep_bytes,
    void *(*malloc_fn)(size_t size), void (*free_fn)(void *p));
void *yibao_freelist_get(yibao_freelist_t *fl, size_t size);
void yibao_freelist_put(yibao_freelist_t *fl, void *p);

/* Frees every block the lists keep; the lists stay usable. */
void yibao_freelist_drain(yibao_freelist_t *fl);

/* Blocks the lists keep now, and their bytes (headers included). */
size_t yibao_freelist_kept(yibao_freelist_t *fl, size_t *bytes);


#endif /* _YIBAO_FREELIST_H_INCLUDED_ */
