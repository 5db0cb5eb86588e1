/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The journal's queries and reconciliation: yibao_journal_select() over
 * any list of stored records (what Redis or the zone hands back), for
 * each kind of query, the same answer made a record at a time
 * (yibao_journal_sel_*), the zone's index keys of each record
 * (yibao_journal_zone_keys), and yibao_journal_outputs() of any platform
 * answer.
 *
 * Input: the list alone, or "value" RS list to choose the id, clinic and
 * entity the queries look for.
 */

#include <jansson.h>

#include "yibao_journal.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))


static void fuzz_select(const yibao_str_t *list, const yibao_str_t *value,
    yibao_alloc_t *a);
static void fuzz_outputs(const yibao_str_t *answer, yibao_alloc_t *a);
static void fuzz_records(const yibao_str_t *list, const yibao_str_t *value,
    yibao_alloc_t *a);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               n;
    yibao_str_t          parts[2], list, value;
    yibao_alloc_t        alloc;
    unsigned char       *copy;
    yibao_fuzz_arena_t   arena;

    yibao_fuzz_arena_init(&arena, &alloc);

    n = yibao_fuzz_split(data, size, parts, 2);

    if (n == 2) {
        value = parts[0];
        list = parts[1];

    } else {
        value.data = U("C1");
        value.len = 2;
        list.data = data;
        list.len = size;
    }

    copy = yibao_fuzz_copy(&list);
    list.data = copy;

    fuzz_select(&list, &value, &alloc);
    fuzz_records(&list, &value, &alloc);
    fuzz_outputs(&list, &alloc);

    free(copy);
    yibao_fuzz_arena_free(&arena);

    return 0;
}


static void
fuzz_select(const yibao_str_t *list, const yibao_str_t *value,
    yibao_alloc_t *a)
{
    int                     rc, kind;
    json_t                 *doc;
    yibao_str_t             out;
    json_error_t            jerr;
    yibao_journal_query_t   q;

    for (kind = YIBAO_JOURNAL_Q_MSGID; kind <= YIBAO_JOURNAL_Q_UNKNOWN;
         kind++)
    {
        memset(&q, 0, sizeof(q));
        q.kind = (yibao_journal_q_e) kind;
        q.value = *value;
        q.clinic = *value;
        q.entity = *value;
        q.day.data = U("2026-11-26");
        q.day.len = 10;
        q.now_ms = 1795723625782ULL;
        q.in_flight_ms = 120000;
        q.medfee_sumamt = *value;
        q.setl_cnt = *value;

        rc = yibao_journal_select(&q, list->data, list->len, a, &out);

        yibao_fuzz_assert(rc == YIBAO_OK || rc == YIBAO_ERR_SYNTAX
                          || rc == YIBAO_ERR_NOMEM);

        if (rc != YIBAO_OK) {
            continue;
        }

        /*
         * the answer is JSON: a list, or the totals' object (a value
         * with a NUL byte is echoed as \u0000, which is JSON)
         */

        doc = json_loadb((const char *) out.data, out.len, JSON_ALLOW_NUL,
                         &jerr);
        yibao_fuzz_assert(doc != NULL);
        yibao_fuzz_assert(kind == YIBAO_JOURNAL_Q_TOTALS
                          ? json_is_object(doc) : json_is_array(doc));

        /* never the stored answer */
        if (json_is_array(doc)) {
            size_t   i;
            json_t  *o;

            json_array_foreach(doc, i, o) {
                yibao_fuzz_assert(json_object_get(o, "answer") == NULL);
            }
        }

        json_decref(doc);
    }
}


static void
fuzz_outputs(const yibao_str_t *answer, yibao_alloc_t *a)
{
    int               rc;
    yibao_journal_t   j;

    static const char  *infnos[] = { "2207", "2208", "3201" };

    for (rc = 0; rc < 3; rc++) {
        memset(&j, 0, sizeof(yibao_journal_t));
        j.infno.data = U(infnos[rc]);
        j.infno.len = 4;

        yibao_fuzz_assert(yibao_journal_outputs(NULL, answer->data,
                                                answer->len, a, &j)
                          != YIBAO_ERR_SYNTAX);

        /* an amount taken is exact text with two places */
        if (j.medfee_sumamt.len) {
            yibao_fuzz_assert(j.medfee_sumamt.len >= 4);
            yibao_fuzz_assert(j.medfee_sumamt.data[j.medfee_sumamt.len - 3]
                              == '.');
        }
    }
}


/* each element of the list as a record of its own */

static void
fuzz_records(const yibao_str_t *list, const yibao_str_t *value,
    yibao_alloc_t *a)
{
    int                     rc, kind;
    char                   *text;
    size_t                  i, k, n;
    json_t                 *doc, *o, *ans;
    yibao_str_t             keys[YIBAO_JOURNAL_ZONE_KEYS], out;
    json_error_t            jerr;
    yibao_journal_sel_t    *s;
    yibao_journal_query_t   q;

    doc = json_loadb((const char *) list->data, list->len, JSON_ALLOW_NUL,
                     &jerr);

    if (!json_is_array(doc)) {
        json_decref(doc);
        return;
    }

    for (kind = YIBAO_JOURNAL_Q_MSGID; kind <= YIBAO_JOURNAL_Q_UNKNOWN;
         kind++)
    {
        memset(&q, 0, sizeof(q));
        q.kind = (yibao_journal_q_e) kind;
        q.value = *value;
        q.clinic = *value;
        q.entity = *value;
        q.day.data = U("2026-11-26");
        q.day.len = 10;
        q.now_ms = 1795723625782ULL;
        q.in_flight_ms = 120000;

        s = yibao_journal_sel_create(&q, a);
        if (s == NULL) {
            continue;
        }

        rc = YIBAO_OK;

        json_array_foreach(doc, i, o) {
            text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL) {
                continue;
            }

            if (kind == YIBAO_JOURNAL_Q_MSGID) {
                rc = yibao_journal_zone_keys(U(text), strlen(text), a,
                                             keys, &n);

                yibao_fuzz_assert(rc == YIBAO_OK || rc == YIBAO_ERR_SYNTAX
                                  || rc == YIBAO_ERR_NOMEM);
                yibao_fuzz_assert(n <= YIBAO_JOURNAL_ZONE_KEYS);

                for (k = 0; rc == YIBAO_OK && k < n; k++) {
                    yibao_fuzz_assert(keys[k].len > 6
                                      && memcmp(keys[k].data, "yibao:", 6)
                                         == 0);
                }
            }

            rc = yibao_journal_sel_add(s, U(text), strlen(text));
            free(text);

            yibao_fuzz_assert(rc == YIBAO_OK || rc == YIBAO_ERR_NOMEM);

            if (rc != YIBAO_OK) {
                break;
            }
        }

        if (rc == YIBAO_OK) {
            rc = yibao_journal_sel_answer(s, a, &out);
            yibao_fuzz_assert(rc == YIBAO_OK || rc == YIBAO_ERR_NOMEM);

            if (rc == YIBAO_OK) {
                ans = json_loadb((const char *) out.data, out.len,
                                 JSON_ALLOW_NUL, &jerr);
                yibao_fuzz_assert(ans != NULL);
                yibao_fuzz_assert(kind == YIBAO_JOURNAL_Q_TOTALS
                                  ? json_is_object(ans)
                                  : json_is_array(ans));
                json_decref(ans);
            }
        }

        yibao_journal_sel_free(s);
    }

    json_decref(doc);
}
