/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * yibao_json_load() is json_loadb(): on every input the same tree (the
 * same types, values and key order) or the same error (line, column,
 * position and text).
 *
 * Input: one byte of flags (bit 0 JSON_REJECT_DUPLICATES, bit 1
 * JSON_DECODE_ANY, bit 2 JSON_ALLOW_NUL), then the text.
 */

#include <jansson.h>

#include "yibao_json.h"
#include "yibao_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *a, *b, *text;
    size_t         flags;
    json_t        *want, *got;
    json_error_t   want_err, got_err;

    if (size == 0) {
        return 0;
    }

    flags = ((data[0] & 1) ? JSON_REJECT_DUPLICATES : 0)
            | ((data[0] & 2) ? JSON_DECODE_ANY : 0)
            | ((data[0] & 4) ? JSON_ALLOW_NUL : 0);

    /* an exact-size copy, so that ASan sees a read past the text */

    text = malloc(size > 1 ? size - 1 : 1);
    yibao_fuzz_assert(text != NULL);
    memcpy(text, data + 1, size - 1);

    want = json_loadb(text, size - 1, flags, &want_err);
    got = yibao_json_load(text, size - 1, flags, &got_err);

    if (want == NULL) {
        yibao_fuzz_assert(got == NULL);
        yibao_fuzz_assert(got_err.line == want_err.line);
        yibao_fuzz_assert(got_err.column == want_err.column);
        yibao_fuzz_assert(got_err.position == want_err.position);
        yibao_fuzz_assert(strcmp(got_err.text, want_err.text) == 0);

    } else {
        yibao_fuzz_assert(got != NULL);
        yibao_fuzz_assert(json_equal(want, got));

        a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        /* out of memory in the dump is not a difference */

        if (a != NULL && b != NULL) {
            yibao_fuzz_assert(strcmp(a, b) == 0);
        }

        free(a);
        free(b);
        json_decref(want);
        json_decref(got);
    }

    free(text);

    return 0;
}
