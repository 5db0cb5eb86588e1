/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The platform's answer: yibao_answer_inspect() on any body, and
 * yibao_answer_replace_token() giving the caller its msgid back.
 *
 * Input: the answer body alone, or "from" RS "to" RS body (RS is
 * 0x1e) to choose the tokens; without them the upstream msgid is
 * replaced by a caller's one as the glue does.
 */

#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))


static void fuzz_inspect(const yibao_str_t *body);
static void fuzz_replace(const yibao_str_t *body, const yibao_str_t *from,
    const yibao_str_t *to, yibao_alloc_t *a);
static size_t fuzz_count_tokens(const yibao_str_t *body,
    const yibao_str_t *tok);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               n;
    yibao_str_t          parts[3], body, from, to;
    yibao_alloc_t        alloc;
    unsigned char       *copy;
    yibao_fuzz_arena_t   arena;

    yibao_fuzz_arena_init(&arena, &alloc);

    n = yibao_fuzz_split(data, size, parts, 3);

    if (n == 3) {
        from = parts[0];
        to = parts[1];
        body = parts[2];

    } else {
        from.data = U("H37010200001202401150830100042");
        from.len = 30;
        to.data = U("CALLERMSGID0001");
        to.len = 15;
        body.data = data;
        body.len = size;
    }

    /* exact-size copies, so that ASan sees a read past the body */

    copy = yibao_fuzz_copy(&body);
    body.data = copy;

    fuzz_inspect(&body);
    fuzz_replace(&body, &from, &to, &alloc);

    free(copy);
    yibao_fuzz_arena_free(&arena);

    return 0;
}


static void
fuzz_inspect(const yibao_str_t *body)
{
    void            *parsed;
    size_t           i, n, run;
    json_t          *doc, *v;
    json_error_t     jerr;
    yibao_answer_t   ans;

    static const yibao_str_t  person[2] = {
        { 26, U("37000000000000000000123456") },
        { 12, U("\xe5\x8f\xb8\xe9\xa9\xac\xe7\x9b\xb8\xe5\xa6\x82") }
    };

    yibao_fuzz_assert(yibao_answer_parse_masked(body->data, body->len,
                                                person, 2, &ans, &parsed)
                      == YIBAO_OK);
    yibao_answer_release(parsed);

    n = strnlen(ans.summary, sizeof(ans.summary));
    yibao_fuzz_assert(n < sizeof(ans.summary));

    /*
     * one readable line: no control characters; nothing of the person
     * (the summary is logged): no run of 15 digits, not the psn_no nor
     * the name
     */

    run = 0;

    for (i = 0; i < n; i++) {
        yibao_fuzz_assert((unsigned char) ans.summary[i] >= 0x20);

        run = (ans.summary[i] >= '0' && ans.summary[i] <= '9') ? run + 1 : 0;
        yibao_fuzz_assert(run < 15);
    }

    yibao_fuzz_assert(strstr(ans.summary, (const char *) person[0].data)
                      == NULL);
    yibao_fuzz_assert(strstr(ans.summary, (const char *) person[1].data)
                      == NULL);

    if (!ans.is_json) {
        yibao_fuzz_assert(!ans.is_envelope);
        return;
    }

    /*
     * An envelope is an object with an integer infcode, or "0" or
     * "-1": the infcode reported is the document's, never another
     * (a success only when the platform said 0).
     */

    doc = json_loadb((const char *) body->data, body->len, 0, &jerr);
    yibao_fuzz_assert(doc != NULL);

    if (ans.is_envelope) {
        v = json_object_get(doc, "infcode");

        if (json_is_integer(v)) {
            yibao_fuzz_assert(json_integer_value(v) == ans.infcode);

        } else {
            yibao_fuzz_assert(json_is_string(v));
            yibao_fuzz_assert(ans.infcode == 0 || ans.infcode == -1);
            yibao_fuzz_assert(strcmp(json_string_value(v),
                                     ans.infcode == 0 ? "0" : "-1") == 0);
        }
    }

    json_decref(doc);
}


static void
fuzz_replace(const yibao_str_t *body, const yibao_str_t *from,
    const yibao_str_t *to, yibao_alloc_t *a)
{
    int           rc;
    size_t        count, n;
    yibao_str_t   out;

    rc = yibao_answer_replace_token(body->data, body->len, from, to, a,
                                    &out, &count);
    if (rc != YIBAO_OK) {
        yibao_fuzz_assert(rc == YIBAO_ERR_NOMEM);
        return;
    }

    yibao_fuzz_assert(out.len == body->len - count * from->len
                                 + count * to->len);

    n = fuzz_count_tokens(body, from);
    yibao_fuzz_assert(count == n);

    if (from->len == to->len
        && (from->len == 0 || memcmp(from->data, to->data, from->len) == 0))
    {
        yibao_fuzz_assert(out.len == body->len);
        yibao_fuzz_assert(body->len == 0
                          || memcmp(out.data, body->data, body->len) == 0);
    }
}


/* "tok" quoted, counted left to right without overlaps. */

static size_t
fuzz_count_tokens(const yibao_str_t *body, const yibao_str_t *tok)
{
    size_t  i, n;

    n = 0;
    i = 0;

    while (i + tok->len + 2 <= body->len) {
        if (body->data[i] == '"' && body->data[i + tok->len + 1] == '"'
            && (tok->len == 0
                || memcmp(body->data + i + 1, tok->data, tok->len) == 0))
        {
            n++;
            i += tok->len + 2;
            continue;
        }

        i++;
    }

    return n;
}
