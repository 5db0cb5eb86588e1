/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The platform's audit's mapping file: yibao_audit_map_parse() on any
 * text and, when it parses, the input it makes of a visit of two fee
 * lines, with and without a diagnosis; the input must dump as JSON.
 */

#include <jansson.h>

#include "yibao_audit.h"
#include "yibao_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  *dump;
    size_t                 k;
    json_t                *in;
    yibao_err_t            err;
    yibao_str_t            text;
    yibao_alloc_t          alloc;
    unsigned char         *copy;
    yibao_audit_map_t     *map;
    yibao_fuzz_arena_t     arena;
    yibao_audit_line_t     lines[2];
    yibao_audit_remote_t   v;

    yibao_fuzz_arena_init(&arena, &alloc);
    memset(&err, 0, sizeof(yibao_err_t));

    text.data = data;
    text.len = size;
    copy = yibao_fuzz_copy(&text);

    map = yibao_audit_map_parse(copy, size, &alloc, &err);

    if (map == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        yibao_fuzz_assert(err.line >= 1 || strstr(err.msg, "memory"));
        goto done;
    }

    memset(&v, 0, sizeof(yibao_audit_remote_t));
    v.node = (yibao_str_t) yibao_string("data");
    v.psn_no = (yibao_str_t) yibao_string("37000000000000000001");
    v.gend = (yibao_str_t) yibao_string("1");
    v.diag = (yibao_str_t) yibao_string("I10.x00");

    memset(lines, 0, sizeof(lines));

    for (k = 0; k < 2; k++) {
        lines[k].sn = (yibao_str_t) yibao_string("1");
        lines[k].code = (yibao_str_t) yibao_string("XJ01CAA040A001010102699");
        lines[k].cnt = 2000000;
        lines[k].pric = 12600000;
        lines[k].amt = 25200000;
    }

    for (k = 0; k < 2; k++) {
        in = yibao_audit_remote_input(map, &v, lines, 2 - k);
        yibao_fuzz_assert(in != NULL);

        dump = json_dumps(in, JSON_COMPACT);
        yibao_fuzz_assert(dump != NULL);

        free(dump);
        json_decref(in);
        v.diag.len = 0;
    }

done:

    free(copy);
    yibao_fuzz_arena_free(&arena);

    return 0;
}
