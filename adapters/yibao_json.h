/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_JSON_H_INCLUDED_
#define _YIBAO_JSON_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>


/*
 * yibao_json_load() is json_loadb(), faster.  simdjson (Debian's
 * libsimdjson, its DOM parser) reads and validates the text, and the
 * tree is built from what it found with jansson's own constructors, so
 * every user of the tree sees jansson values as before.
 *
 * Whatever simdjson does not take, and whatever json_loadb() would not
 * build the same way, goes to json_loadb() itself: a NUL in a key, or in
 * a string without JSON_ALLOW_NUL, a duplicate key with
 * JSON_REJECT_DUPLICATES, an integer above json_int_t, a scalar at the
 * top without JSON_DECODE_ANY, nesting deeper than simdjson's 1024, a
 * document over YIBAO_JSON_FAST_MAX bytes, any other flag.  So the tree,
 * and on failure the error with its line, column and text, is exactly
 * json_loadb()'s; tests/fuzz/fuzz_json.c checks that on every input.
 *
 * The implementation, yibao_json.cpp, is the project's one C++ file: a
 * binding to a C++ library behind this C interface, deciding nothing of
 * its own.  One parser per process (nginx workers have one thread).
 */


/* larger documents go to jansson: simdjson's parser keeps buffers of
 * about 14 times the largest document it has read, for the process's
 * life */
#define YIBAO_JSON_FAST_MAX  (256 * 1024)


#ifdef __cplusplus
extern "C" {
#endif

json_t *yibao_json_load(const void *data, size_t len, size_t flags,
    json_error_t *error);

/* documents built the fast way since the process started (for tests) */
size_t yibao_json_fast_loads(void);

#ifdef __cplusplus
}
#endif


#endif /* _YIBAO_JSON_H_INCLUDED_ */
