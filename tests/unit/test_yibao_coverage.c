/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Clinic coverage: events of requests, the day ring and its rolling,
 * the errors kept and the top error, merging (a restore), the classes
 * (silent, not seen, failing, never activated) and the reports in JSON
 * and CSV, parsed back with jansson where they are JSON.
 */

#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "yibao_coverage.h"
#include "yibao_test_alloc.h"


#define U(s)        ((const unsigned char *) (s))

#define GMTOFF      (8 * 3600)                   /* Asia/Shanghai */
#define DAY         86400
/* 2026-12-07 10:00:00 +08:00 */
#define NOW         ((int64_t) 1796608800)
#define TODAY       ((uint32_t) ((NOW + GMTOFF) / DAY))

#define ORG_A       "PDY60134132080312D6001"
#define ORG_B       "PDY60134132080312D6002"
#define ORG_C       "PDY60134132080312D6003"
#define ORG_D       "PDY60134132080312D6004"


static void
rec(yibao_cov_clinic_t *c, int64_t t, const char *infno, int ok, int gwerr)
{
    yibao_cov_event_t  ev;

    yibao_cov_event(&ev, U(infno), strlen(infno), ok, gwerr);
    yibao_cov_record(c, t, GMTOFF, &ev);
}


static void
test_event_kinds(void **state)
{
    char               name[16];
    yibao_cov_event_t  ev;

    (void) state;

    yibao_cov_event(&ev, U("2207"), 4, 1, 0);
    assert_true(ev.settled && ev.activated && !ev.failed);

    yibao_cov_event(&ev, U("2207A"), 5, 1, 0);
    assert_true(ev.settled);

    yibao_cov_event(&ev, U("2304"), 4, 1, 0);
    assert_true(ev.settled);

    yibao_cov_event(&ev, U("2208"), 4, 1, 0);
    assert_false(ev.settled || ev.activated);

    yibao_cov_event(&ev, U("9001"), 4, 1, 0);
    assert_true(ev.activated && !ev.settled);

    yibao_cov_event(&ev, U("1101"), 4, 1, 0);
    assert_false(ev.settled || ev.activated || ev.failed);

    yibao_cov_event(&ev, U("2207"), 4, 0, 6002);
    assert_true(ev.failed && !ev.settled && !ev.activated);
    yibao_cov_error_name(ev.error, name, sizeof(name));
    assert_string_equal(name, "YB6002");

    yibao_cov_event(&ev, U("2207"), 4, 0, 0);
    yibao_cov_error_name(ev.error, name, sizeof(name));
    assert_string_equal(name, "platform:2207");

    yibao_cov_event(&ev, U(""), 0, 0, 0);
    assert_true(ev.failed);
    yibao_cov_error_name(ev.error, name, sizeof(name));
    assert_string_equal(name, "failed");

    /* a short buffer is cut, and NUL-terminated */
    assert_int_equal(yibao_cov_error_name((1u << 24) | 2003, name, 4), 3);
    assert_string_equal(name, "YB2");
}


static void
test_slot_code(void **state)
{
    yibao_cov_clinic_t  c;

    (void) state;

    yibao_cov_init(&c, U(ORG_A), 22);
    assert_true(yibao_cov_is(&c, U(ORG_A), 22));
    assert_false(yibao_cov_is(&c, U(ORG_B), 22));
    assert_false(yibao_cov_is(&c, U(ORG_A), 21));
    assert_false(yibao_cov_is(&c, U("H37010200001"), 12));
    assert_int_equal(c.last_seen, 0);
    assert_int_equal(c.days[0].day, 0);
}


static void
test_day_ring_rolls(void **state)
{
    int                 i;
    yibao_cov_sum_t     s;
    yibao_cov_clinic_t  c;

    (void) state;

    yibao_cov_init(&c, U(ORG_A), 22);

    /* 3 requests a day for 10 days, the last day today; 1 fails */

    for (i = 9; i >= 0; i--) {
        rec(&c, NOW - i * DAY, "2207", 1, 0);
        rec(&c, NOW - i * DAY + 1, "1101", 1, 0);
        rec(&c, NOW - i * DAY + 2, "2207", 0, 6002);
    }

    yibao_cov_sum(&c, TODAY, 1, &s);
    assert_int_equal(s.requests, 3);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.settled, 1);

    yibao_cov_sum(&c, TODAY, YIBAO_COV_WEEK, &s);
    assert_int_equal(s.requests, 21);
    assert_int_equal(s.failed, 7);
    assert_int_equal(s.settled, 7);

    /* the ring holds 8 days, never more */
    yibao_cov_sum(&c, TODAY, 30, &s);
    assert_int_equal(s.requests, 24);

    /* a day later nothing was seen: today is empty, the week shorter */
    yibao_cov_sum(&c, TODAY + 1, 1, &s);
    assert_int_equal(s.requests, 0);
    yibao_cov_sum(&c, TODAY + 1, YIBAO_COV_WEEK, &s);
    assert_int_equal(s.requests, 18);

    /* a late request of a day the ring has passed: not in the days */
    rec(&c, NOW - 9 * DAY, "1101", 1, 0);
    yibao_cov_sum(&c, TODAY, 30, &s);
    assert_int_equal(s.requests, 24);

    assert_int_equal(c.last_seen, NOW + 2);
    assert_int_equal(c.last_settled, NOW);
    assert_int_equal(c.activated, NOW - 9 * DAY);
    assert_int_equal(c.last_failed, NOW + 2);

    /* the day entry of 8 days ago was reused for today */
    assert_int_equal(c.days[TODAY % YIBAO_COV_DAYS].day, TODAY);
}


static void
test_top_error(void **state)
{
    int                 i;
    char                name[16];
    uint32_t            key, n;
    yibao_cov_clinic_t  c;

    (void) state;

    yibao_cov_init(&c, U(ORG_A), 22);

    assert_int_equal(yibao_cov_top_error(&c, TODAY, &n), 0);
    assert_int_equal(n, 0);

    /* 10 days ago: 50 times YB4001; today: 3 x YB6002, 2 x platform */

    for (i = 0; i < 50; i++) {
        rec(&c, NOW - 10 * DAY, "2204", 0, 4001);
    }

    rec(&c, NOW, "2207", 0, 6002);
    rec(&c, NOW, "2207", 0, 6002);
    rec(&c, NOW, "2207", 0, 0);
    rec(&c, NOW, "2207", 0, 6002);
    rec(&c, NOW, "2207", 0, 0);

    key = yibao_cov_top_error(&c, TODAY, &n);
    yibao_cov_error_name(key, name, sizeof(name));
    assert_string_equal(name, "YB6002");
    assert_int_equal(n, 3);

    /* as of 10 days ago YB4001 was the top */
    key = yibao_cov_top_error(&c, TODAY - 10, &n);
    yibao_cov_error_name(key, name, sizeof(name));
    assert_string_equal(name, "YB4001");
    assert_int_equal(n, 50);

    /* more distinct errors than entries: the stale one goes first,
     * then the lowest count is taken over (space-saving) */

    rec(&c, NOW, "2207", 0, 5005);
    rec(&c, NOW, "2207", 0, 2003);
    rec(&c, NOW, "2207", 0, 3101);

    for (i = 0; i < YIBAO_COV_ERRORS; i++) {
        assert_int_not_equal(c.errors[i].key, (1u << 24) | 4001);
        assert_int_not_equal(c.errors[i].key, 0);
    }

    key = yibao_cov_top_error(&c, TODAY, &n);
    yibao_cov_error_name(key, name, sizeof(name));
    assert_string_equal(name, "YB6002");
    assert_int_equal(n, 3);

    /* a week later nothing counts */
    assert_int_equal(yibao_cov_top_error(&c, TODAY + 7, &n), 0);
}


static void
test_merge(void **state)
{
    yibao_cov_sum_t     s;
    yibao_cov_clinic_t  a, b;

    (void) state;

    yibao_cov_init(&a, U(ORG_A), 22);
    yibao_cov_init(&b, U(ORG_A), 22);

    /* a: since the restart, today; b: restored, yesterday and today */

    rec(&a, NOW, "2207", 1, 0);
    rec(&a, NOW + 5, "2207", 0, 6002);

    rec(&b, NOW - DAY, "9001", 1, 0);
    rec(&b, NOW - DAY + 1, "2207", 1, 0);
    rec(&b, NOW - 60, "2207", 0, 6002);
    rec(&b, NOW - 50, "2207", 0, 6003);

    yibao_cov_merge(&a, &b);

    assert_int_equal(a.last_seen, NOW + 5);
    assert_int_equal(a.last_settled, NOW);
    assert_int_equal(a.activated, NOW - DAY);

    yibao_cov_sum(&a, TODAY, 1, &s);
    assert_int_equal(s.requests, 4);
    assert_int_equal(s.failed, 3);
    assert_int_equal(s.settled, 1);

    yibao_cov_sum(&a, TODAY, 2, &s);
    assert_int_equal(s.requests, 6);
    assert_int_equal(s.settled, 2);

    assert_int_equal(yibao_cov_top_error(&a, TODAY, NULL),
                     (1u << 24) | 6002);
}


/*
 * The same clinic counted on two nodes (one node's live slot, the
 * other's as persisted): counts add, the latest times win, the first
 * activation stays, and the most frequent error is the one over the
 * merged counts, not either node's own; either order gives the same.
 */

static void
test_merge_two_nodes(void **state)
{
    int                 o;
    uint32_t            n;
    yibao_cov_sum_t     s;
    yibao_cov_clinic_t  a, b, m;

    (void) state;

    yibao_cov_init(&a, U(ORG_A), 22);
    yibao_cov_init(&b, U(ORG_A), 22);

    /* node a: a settlement at NOW, 6002 three times, 6003 once */
    rec(&a, NOW - 3 * 3600, "9001", 1, 0);
    rec(&a, NOW, "2207", 1, 0);
    rec(&a, NOW + 10, "2207", 0, 6002);
    rec(&a, NOW + 11, "2207", 0, 6002);
    rec(&a, NOW + 12, "2207", 0, 6002);
    rec(&a, NOW + 13, "2207", 0, 6003);

    /* node b: seen last, settled earlier, 6003 three times */
    rec(&b, NOW - 4 * 3600, "9001", 1, 0);
    rec(&b, NOW - 60, "2207", 1, 0);
    rec(&b, NOW + 20, "2207", 0, 6003);
    rec(&b, NOW + 21, "2207", 0, 6003);
    rec(&b, NOW + 22, "1101", 0, 6003);

    assert_int_equal(yibao_cov_top_error(&a, TODAY, NULL),
                     (1u << 24) | 6002);
    assert_int_equal(yibao_cov_top_error(&b, TODAY, NULL),
                     (1u << 24) | 6003);

    for (o = 0; o < 2; o++) {
        m = o ? b : a;
        yibao_cov_merge(&m, o ? &a : &b);

        assert_int_equal(m.last_seen, NOW + 22);
        assert_int_equal(m.last_settled, NOW);
        assert_int_equal(m.last_failed, NOW + 22);
        assert_int_equal(m.activated, NOW - 4 * 3600);

        yibao_cov_sum(&m, TODAY, 1, &s);
        assert_int_equal(s.requests, 11);
        assert_int_equal(s.failed, 7);
        assert_int_equal(s.settled, 2);

        assert_int_equal(yibao_cov_top_error(&m, TODAY, &n),
                         (1u << 24) | 6003);
        assert_int_equal(n, 4);
    }
}


/*
 * Nodes whose days differ: node b persisted 3 days ago (its ring ends
 * at TODAY - 3 and reaches back to TODAY - 10), node a counts until
 * today.  Entries are aligned by their day: the same day adds, a day
 * only one node has is taken, and a day older than the 8 kept (b's
 * TODAY - 10, where a keeps TODAY - 2) is dropped.  Either order.
 */

static void
test_merge_days_differ(void **state)
{
    int                 o;
    uint32_t            d;
    yibao_cov_sum_t     s;
    yibao_cov_clinic_t  a, b, m;

    (void) state;

    yibao_cov_init(&a, U(ORG_A), 22);
    yibao_cov_init(&b, U(ORG_A), 22);

    rec(&b, NOW - 10 * DAY, "2207", 1, 0);      /* dropped */
    rec(&b, NOW - 10 * DAY + 1, "2207", 1, 0);
    rec(&b, NOW - 5 * DAY, "2207", 1, 0);       /* b only */
    rec(&b, NOW - 3 * DAY, "2207", 0, 6001);    /* with a's */
    rec(&b, NOW - 3 * DAY + 1, "2207", 1, 0);

    rec(&a, NOW - 3 * DAY, "2207", 1, 0);
    rec(&a, NOW - 2 * DAY, "1101", 1, 0);       /* a only */
    rec(&a, NOW, "2207", 1, 0);

    for (o = 0; o < 2; o++) {
        m = o ? b : a;
        yibao_cov_merge(&m, o ? &a : &b);

        assert_int_equal(m.last_seen, NOW);
        assert_int_equal(m.last_settled, NOW);
        assert_int_equal(m.activated, NOW - 10 * DAY);

        yibao_cov_sum(&m, TODAY, 1, &s);
        assert_int_equal(s.requests, 1);

        yibao_cov_sum(&m, TODAY, 3, &s);        /* TODAY-2 .. TODAY */
        assert_int_equal(s.requests, 2);
        assert_int_equal(s.settled, 1);

        yibao_cov_sum(&m, TODAY, 4, &s);        /* with TODAY - 3 */
        assert_int_equal(s.requests, 5);
        assert_int_equal(s.failed, 1);
        assert_int_equal(s.settled, 3);

        yibao_cov_sum(&m, TODAY, 8, &s);        /* with TODAY - 5 */
        assert_int_equal(s.requests, 6);
        assert_int_equal(s.settled, 4);

        /* the ring holds days, one entry each, none older than 8 */
        for (d = 0; d < YIBAO_COV_DAYS; d++) {
            assert_true(m.days[d].day == 0
                        || m.days[d].day + YIBAO_COV_DAYS > TODAY);
        }

        assert_int_equal(yibao_cov_top_error(&m, TODAY, NULL),
                         (1u << 24) | 6001);
    }
}


/*
 * A node's value as it keeps it in Redis: read back for the clinic its
 * field names, whatever position the clinic had in the registry the
 * node ran with; a value of another layout (an older gateway), or one
 * that is another clinic's coverage, is refused.
 */

static void
test_value_decode(void **state)
{
    yibao_cov_clinic_t  a, c;
    unsigned char       v[YIBAO_COV_VALUE + 8];

    (void) state;

    yibao_cov_init(&a, U(ORG_B), 22);
    rec(&a, NOW, "2207", 1, 0);
    rec(&a, NOW + 1, "2207", 0, 6002);

    yibao_cov_value_encode(&a, v);
    assert_memory_equal(v, "YCV1", 4);

    memset(&c, 0xff, sizeof(c));
    assert_int_equal(yibao_cov_value_decode(U(ORG_B), 22, v,
                                            YIBAO_COV_VALUE, &c),
                     YIBAO_OK);
    assert_memory_equal(&c, &a, sizeof(a));

    /* under another clinic's field, or a prefix of the code */
    assert_int_equal(yibao_cov_value_decode(U(ORG_A), 22, v,
                                            YIBAO_COV_VALUE, &c),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_cov_value_decode(U(ORG_B), 21, v,
                                            YIBAO_COV_VALUE, &c),
                     YIBAO_ERR_INVALID);

    /* another layout: a shorter or longer slot, another magic */
    assert_int_equal(yibao_cov_value_decode(U(ORG_B), 22, v,
                                            YIBAO_COV_VALUE - 8, &c),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_cov_value_decode(U(ORG_B), 22, v,
                                            YIBAO_COV_VALUE + 8, &c),
                     YIBAO_ERR_INVALID);

    v[3] = '0';
    assert_int_equal(yibao_cov_value_decode(U(ORG_B), 22, v,
                                            YIBAO_COV_VALUE, &c),
                     YIBAO_ERR_INVALID);
}


static void
test_classify(void **state)
{
    int                 i;
    unsigned            cls;
    yibao_cov_params_t  p;
    yibao_cov_clinic_t  c;

    (void) state;

    yibao_cov_params_default(&p);
    yibao_cov_init(&c, U(ORG_A), 22);

    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_int_equal(cls, YIBAO_COV_NOT_SEEN | YIBAO_COV_SILENT
                          | YIBAO_COV_NEVER_ACTIVATED);

    /* seen 3 days ago, only reads: seen this week, silent, never
     * activated */
    rec(&c, NOW - 3 * DAY, "1101", 1, 0);
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_int_equal(cls, YIBAO_COV_SEEN_WEEK | YIBAO_COV_SILENT
                          | YIBAO_COV_NEVER_ACTIVATED);

    /* settled 3 days ago: not silent for 7 days, silent for 3 */
    rec(&c, NOW - 3 * DAY, "2207", 1, 0);
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_int_equal(cls, YIBAO_COV_SEEN_WEEK);

    p.silent_days = 3;
    assert_true(yibao_cov_classify(&c, NOW, GMTOFF, &p) & YIBAO_COV_SILENT);
    p.silent_days = 4;
    assert_false(yibao_cov_classify(&c, NOW, GMTOFF, &p)
                 & YIBAO_COV_SILENT);

    /* failing today: 1 of 4 is 25 % > 20 %, but 3 of the 4 only with
     * min_requests 3 */
    yibao_cov_params_default(&p);
    rec(&c, NOW, "1101", 1, 0);
    rec(&c, NOW, "1101", 0, 6002);
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_int_equal(cls, YIBAO_COV_SEEN_TODAY | YIBAO_COV_SEEN_WEEK);

    rec(&c, NOW, "1101", 1, 0);
    rec(&c, NOW, "1101", 1, 0);
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_true(cls & YIBAO_COV_FAILING);

    /* 1 of 5 is exactly 20 %: not over the threshold */
    rec(&c, NOW, "1101", 1, 0);
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_false(cls & YIBAO_COV_FAILING);

    /* over the week: 1 failed of 7 */
    p.window = 7;
    p.threshold = 1000;
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_true(cls & YIBAO_COV_FAILING);
    p.threshold = 1500;
    cls = yibao_cov_classify(&c, NOW, GMTOFF, &p);
    assert_false(cls & YIBAO_COV_FAILING);

    /* min_requests: 2 failed of 2 today is not enough with 3 */
    yibao_cov_params_default(&p);
    yibao_cov_init(&c, U(ORG_B), 22);

    for (i = 0; i < 2; i++) {
        rec(&c, NOW, "2207", 0, 0);
    }

    assert_false(yibao_cov_classify(&c, NOW, GMTOFF, &p)
                 & YIBAO_COV_FAILING);
    p.min_requests = 2;
    assert_true(yibao_cov_classify(&c, NOW, GMTOFF, &p)
                & YIBAO_COV_FAILING);

    /* a day later: seen this week, not today, no longer failing */
    cls = yibao_cov_classify(&c, NOW + DAY, GMTOFF, &p);
    assert_int_equal(cls, YIBAO_COV_SEEN_WEEK | YIBAO_COV_SILENT
                          | YIBAO_COV_NEVER_ACTIVATED);
}


/* four clinics: A own and busy, B and C through township T1 (B
 * failing, C never seen), D through T2, signed in only */

typedef struct {
    yibao_cov_info_t    info[4];
    yibao_cov_clinic_t  cov[4];
    yibao_cov_report_t  r;
    yibao_test_arena_t  arena;
    yibao_alloc_t       alloc;
} fixture_t;


static void
info_set(yibao_cov_info_t *i, const char *code, const char *name,
    const char *admdvs, const char *entity, const char *entity_name,
    unsigned township)
{
    memset(i, 0, sizeof(yibao_cov_info_t));

    i->code.data = U(code);
    i->code.len = strlen(code);
    i->name.data = U(name);
    i->name.len = strlen(name);
    i->admdvs.data = U(admdvs);
    i->admdvs.len = strlen(admdvs);
    i->entity_code.data = U(entity);
    i->entity_code.len = strlen(entity);
    i->entity_name.data = U(entity_name);
    i->entity_name.len = strlen(entity_name);
    i->township = township;
    i->key_state = -1;
}


static int
fixture_setup(void **state)
{
    int         i;
    fixture_t  *f;

    f = calloc(1, sizeof(fixture_t));
    if (f == NULL) {
        return -1;
    }

    info_set(&f->info[0], ORG_A, "Clinic, \"A\"", "320803",
             "H32080300001", "Clinic A", 0);
    info_set(&f->info[1], ORG_B, "Clinic B", "320803", "H32080300009",
             "Township One", 1);
    info_set(&f->info[2], ORG_C, "Clinic C", "320803", "H32080300009",
             "Township One", 1);
    info_set(&f->info[3], ORG_D, "Clinic D", "320804", "H32080400009",
             "Township Two", 1);

    for (i = 0; i < 4; i++) {
        yibao_cov_init(&f->cov[i], f->info[i].code.data, 22);
    }

    rec(&f->cov[0], NOW - DAY, "2207", 1, 0);
    rec(&f->cov[0], NOW, "2207", 1, 0);
    rec(&f->cov[0], NOW, "1101", 1, 0);

    rec(&f->cov[1], NOW - 2 * DAY, "2207", 1, 0);
    rec(&f->cov[1], NOW, "2207", 0, 6002);
    rec(&f->cov[1], NOW, "2207", 0, 6002);
    rec(&f->cov[1], NOW, "2204", 0, 4001);

    rec(&f->cov[3], NOW - 9 * DAY, "9001", 1, 0);

    f->r.info = f->info;
    f->r.cov = f->cov;
    f->r.n = 4;
    f->r.now = NOW;
    f->r.gmtoff = GMTOFF;
    yibao_cov_params_default(&f->r.params);

    yibao_test_arena_init(&f->arena, &f->alloc);

    *state = f;

    return 0;
}


static int
fixture_teardown(void **state)
{
    fixture_t  *f = *state;

    yibao_test_arena_free(&f->arena);
    free(f);

    return 0;
}


static json_t *
render_json(fixture_t *f, unsigned report)
{
    json_t        *j;
    yibao_str_t    out;
    json_error_t   e;

    f->r.report = report;
    f->r.csv = 0;

    assert_int_equal(yibao_cov_render(&f->r, &f->alloc, &out), YIBAO_OK);

    j = json_loadb((const char *) out.data, out.len, 0, &e);
    if (j == NULL) {
        fail_msg("invalid JSON: %s: %.*s", e.text, (int) out.len,
                 out.data);
    }

    return j;
}


static char *
render_csv(fixture_t *f, unsigned report)
{
    char         *s;
    yibao_str_t   out;

    f->r.report = report;
    f->r.csv = 1;

    assert_int_equal(yibao_cov_render(&f->r, &f->alloc, &out), YIBAO_OK);

    s = yibao_alloc(&f->alloc, out.len + 1);
    assert_non_null(s);
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';

    return s;
}


static const char *
clinic_at(json_t *j, size_t i)
{
    return json_string_value(json_object_get(
               json_array_get(json_object_get(j, "clinics"), i), "clinic"));
}


static void
test_report_lists(void **state)
{
    json_t     *j, *c;
    fixture_t  *f = *state;

    /* silent 7 days: C (never seen), D (only signed in) */
    j = render_json(f, YIBAO_COV_REPORT_SILENT);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
    assert_string_equal(clinic_at(j, 0), ORG_C);
    assert_string_equal(clinic_at(j, 1), ORG_D);
    c = json_array_get(json_object_get(j, "clinics"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "silent")),
                        "not_seen");
    assert_true(json_is_null(json_object_get(c, "last_seen")));
    c = json_array_get(json_object_get(j, "clinics"), 1);
    assert_string_equal(json_string_value(json_object_get(c, "silent")),
                        "no_settlement");
    assert_string_equal(json_string_value(json_object_get(c, "key_state")),
                        "activated");
    json_decref(j);

    /* silent 2 days: B too (settled 2 days ago) */
    f->r.params.silent_days = 2;
    j = render_json(f, YIBAO_COV_REPORT_SILENT);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
    assert_string_equal(clinic_at(j, 0), ORG_B);
    json_decref(j);
    yibao_cov_params_default(&f->r.params);

    /* failing: B, 3 failed of 3 today, top error YB6002 (2) */
    j = render_json(f, YIBAO_COV_REPORT_FAILING);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    assert_string_equal(clinic_at(j, 0), ORG_B);
    c = json_array_get(json_object_get(j, "clinics"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "top_error")),
                        "YB6002");
    assert_int_equal(json_array_size(json_object_get(c, "errors")), 2);
    assert_true(json_real_value(json_object_get(
                    json_object_get(c, "window"), "error_ratio")) == 1.0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(c, "today"), "failed")), 3);
    json_decref(j);

    /* never activated: C; with D's key given as expired it stays out */
    j = render_json(f, YIBAO_COV_REPORT_NEVER);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
    assert_string_equal(clinic_at(j, 0), ORG_C);
    c = json_array_get(json_object_get(j, "clinics"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "key_state")),
                        "never_used");
    json_decref(j);

    j = render_json(f, YIBAO_COV_REPORT_CLINICS);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "registry")), 4);
    c = json_array_get(json_object_get(j, "clinics"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")),
                        "Clinic, \"A\"");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(c, "week"), "settled")), 2);
    json_decref(j);
}


static void
test_report_townships(void **state)
{
    json_t     *j, *t;
    fixture_t  *f = *state;

    j = render_json(f, YIBAO_COV_REPORT_TOWNSHIPS);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);

    t = json_array_get(json_object_get(j, "townships"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "entity")),
                        "H32080300009");
    assert_string_equal(json_string_value(json_object_get(t, "name")),
                        "Township One");
    assert_int_equal(json_integer_value(json_object_get(t, "villages")), 2);
    assert_int_equal(json_integer_value(json_object_get(t, "seen_today")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(t, "not_seen")), 1);
    assert_int_equal(json_integer_value(json_object_get(t, "failing")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(t, "today"), "failed")), 3);

    t = json_array_get(json_object_get(j, "townships"), 1);
    assert_int_equal(json_integer_value(json_object_get(t, "villages")), 1);
    assert_int_equal(json_integer_value(json_object_get(t, "seen_week")), 0);
    json_decref(j);

    /* the summary: total, counties, townships, key states */
    j = render_json(f, YIBAO_COV_REPORT_SUMMARY);
    t = json_object_get(j, "total");
    assert_int_equal(json_integer_value(json_object_get(t, "clinics")), 4);
    assert_int_equal(json_integer_value(json_object_get(t, "seen_today")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(t, "silent")), 2);
    assert_int_equal(json_integer_value(json_object_get(t,
                                                        "failed_today")), 1);
    assert_int_equal(json_array_size(json_object_get(j, "counties")), 2);
    t = json_array_get(json_object_get(j, "counties"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "admdvs")),
                        "320803");
    assert_int_equal(json_integer_value(json_object_get(t, "clinics")), 3);
    assert_int_equal(json_array_size(json_object_get(j, "townships")), 2);
    t = json_object_get(j, "keys");
    assert_int_equal(json_integer_value(json_object_get(t, "activated")), 3);
    assert_int_equal(json_integer_value(json_object_get(t, "never_used")),
                     1);
    json_decref(j);
}


/* an own-designation clinic supervised by a township hospital is in its
 * roll-up (the registry's township_code) */

static void
test_report_township_link(void **state)
{
    json_t     *j, *t;
    fixture_t  *f = *state;

    f->info[0].township_code.data = U("H32080300009");
    f->info[0].township_code.len = 12;

    j = render_json(f, YIBAO_COV_REPORT_TOWNSHIPS);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);

    t = json_array_get(json_object_get(j, "townships"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "entity")),
                        "H32080300009");
    assert_string_equal(json_string_value(json_object_get(t, "name")),
                        "Township One");
    assert_int_equal(json_integer_value(json_object_get(t, "villages")), 3);
    assert_int_equal(json_integer_value(json_object_get(t, "own_villages")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(t, "seen_today")),
                     2);
    json_decref(j);

    /* a hospital only own villages name: its code stands for its name */
    f->info[1].township = 0;
    f->info[2].township = 0;
    f->info[1].township_code = f->info[0].township_code;
    f->info[2].township_code = f->info[0].township_code;

    j = render_json(f, YIBAO_COV_REPORT_TOWNSHIPS);
    t = json_array_get(json_object_get(j, "townships"), 0);
    assert_int_equal(json_integer_value(json_object_get(t, "own_villages")),
                     3);
    assert_string_equal(json_string_value(json_object_get(t, "name")),
                        "H32080300009");
    json_decref(j);
}


static void
test_report_csv(void **state)
{
    char       *s;
    fixture_t  *f = *state;

    s = render_csv(f, YIBAO_COV_REPORT_FAILING);
    assert_non_null(strstr(s, "clinic,name,admdvs,"));
    assert_non_null(strstr(s, "\r\n" ORG_B ",Clinic B,320803,"
                              "H32080300009,Township One,township,"));
    assert_non_null(strstr(s, ",1.0000,YB6002,2,YB6002:2 YB4001:1,,yes,"));
    assert_null(strstr(s, ORG_A));

    /* quoting, local times */
    s = render_csv(f, YIBAO_COV_REPORT_CLINICS);
    assert_non_null(strstr(s, ORG_A ",\"Clinic, \"\"A\"\"\",320803,"));
    assert_non_null(strstr(s, ",2026-12-07 10:00:00,"));
    assert_non_null(strstr(s, ",2026-12-06 10:00:00,"));

    s = render_csv(f, YIBAO_COV_REPORT_TOWNSHIPS);
    assert_non_null(strstr(s, "township,H32080300009,Township One,320803,"
                              "2,1,1,1,1,1,1,3,3,0,1,0,1,1,0,0,0\r\n"));

    s = render_csv(f, YIBAO_COV_REPORT_SUMMARY);
    assert_non_null(strstr(s, "\r\ntotal,,,,4,2,2,1,2,1,1,"));
    assert_non_null(strstr(s, "\r\ncounty,320803,,320803,3,"));
}


/*
 * The clinics by their key's state, per county and per township
 * hospital: the state the glue gives (the keys' store's), else from the
 * clinic's coverage; in JSON and CSV
 */

static void
test_report_key_states_by_group(void **state)
{
    char       *s;
    json_t     *j, *t, *k;
    fixture_t  *f = *state;

    f->info[0].key_state = YIBAO_COV_KEY_EXPIRED;
    f->info[1].key_state = YIBAO_COV_KEY_ACTIVATED;
    f->info[2].key_state = YIBAO_COV_KEY_ACTIVATED;  /* the township's */
    f->info[3].key_state = YIBAO_COV_KEY_EXPIRING;

    j = render_json(f, YIBAO_COV_REPORT_SUMMARY);

    k = json_object_get(j, "keys");
    assert_int_equal(json_integer_value(json_object_get(k, "activated")), 2);
    assert_int_equal(json_integer_value(json_object_get(k, "expired")), 1);
    assert_int_equal(json_integer_value(json_object_get(k, "expiring")), 1);
    assert_int_equal(json_integer_value(json_object_get(k, "never_used")),
                     0);
    assert_true(json_equal(k, json_object_get(json_object_get(j, "total"),
                                              "keys")));

    t = json_array_get(json_object_get(j, "counties"), 0);     /* 320803 */
    k = json_object_get(t, "keys");
    assert_int_equal(json_integer_value(json_object_get(k, "activated")), 2);
    assert_int_equal(json_integer_value(json_object_get(k, "expired")), 1);
    assert_int_equal(json_integer_value(json_object_get(k, "expiring")), 0);

    t = json_array_get(json_object_get(j, "counties"), 1);     /* 320804 */
    k = json_object_get(t, "keys");
    assert_int_equal(json_integer_value(json_object_get(k, "expiring")), 1);
    assert_int_equal(json_integer_value(json_object_get(k, "activated")), 0);

    t = json_array_get(json_object_get(j, "townships"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "entity")),
                        "H32080300009");
    k = json_object_get(t, "keys");
    assert_int_equal(json_integer_value(json_object_get(k, "activated")), 2);
    assert_int_equal(json_integer_value(json_object_get(k, "expired")), 0);
    json_decref(j);

    s = render_csv(f, YIBAO_COV_REPORT_SUMMARY);
    assert_non_null(strstr(s, ",key_none,key_never_used,key_activated,"
                              "key_expiring,key_expired,key_pending\r\n"));
    assert_non_null(strstr(s, "\r\ncounty,320803,,320803,3,"));
    assert_non_null(strstr(s, ",0,0,2,0,1,0\r\ncounty,320804,"));
    assert_non_null(strstr(s, "\r\ntownship,H32080300009,Township One,"
                              "320803,2,"));
    assert_non_null(strstr(s, ",0,0,2,0,0,0\r\ntownship,H32080400009,"));
}


static void
test_report_weekly(void **state)
{
    char       *s;
    json_t     *j, *row;
    fixture_t  *f = *state;

    j = render_json(f, YIBAO_COV_REPORT_WEEKLY);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);

    /* A: own designation, settled this week: included */
    row = json_array_get(json_object_get(j, "rows"), 0);
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe6\x98\xaf\xe5\x90\xa6\xe7\xba\xb3\xe5\x85\xa5\xe5\x8c\xbb\xe4"
        "\xbf\x9d\xe7\xbb\x93\xe7\xae\x97")), "\xe6\x98\xaf");
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe6\x98\xaf\xe5\x90\xa6\xe5\x8d\x95\xe7\x8b\xac\xe5\xae\x9a\xe7"
        "\x82\xb9")), "\xe6\x98\xaf");
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe6\x9c\xaa\xe7\xba\xb3\xe5\x85\xa5\xe5\x8e\x9f\xe5\x9b\xa0")), "");

    /* C: through the township, never activated: not included, why */
    row = json_array_get(json_object_get(j, "rows"), 2);
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe6\x98\xaf\xe5\x90\xa6\xe7\xba\xb3\xe5\x85\xa5\xe5\x8c\xbb\xe4"
        "\xbf\x9d\xe7\xbb\x93\xe7\xae\x97")), "\xe5\x90\xa6");
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe4\xb8\x80\xe4\xbd\x93\xe5\x8c\x96\xe4\xb8\xbb\xe4\xbd\x93")),
        "Township One");
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe6\x9c\xaa\xe7\xba\xb3\xe5\x85\xa5\xe5\x8e\x9f\xe5\x9b\xa0")),
        "\xe8\xb4\xa6\xe5\x8f\xb7\xe6\x9c\xaa\xe6\xbf\x80\xe6\xb4\xbb");
    json_decref(j);

    /* 县/乡镇 from the registry's names, quoted as CSV and JSON need */
    f->info[1].county.data = U("Lianyun, \"X\"");
    f->info[1].county.len = 12;
    f->info[1].town.data = U("Town");
    f->info[1].town.len = 4;

    j = render_json(f, YIBAO_COV_REPORT_WEEKLY);
    row = json_array_get(json_object_get(j, "rows"), 1);
    assert_string_equal(json_string_value(json_object_get(row,
        "\xe5\x8e\xbf/\xe4\xb9\xa1\xe9\x95\x87")), "Lianyun, \"X\"/Town");
    json_decref(j);

    s = render_csv(f, YIBAO_COV_REPORT_WEEKLY);
    assert_non_null(strstr(s, ",\"Lianyun, \"\"X\"\"/Town\",Clinic B,"));

    /* the registry's reason wins; no key: not included even settled */
    f->info[2].reason.data = U("network");
    f->info[2].reason.len = 7;
    f->info[0].key_state = YIBAO_COV_KEY_NONE;

    s = render_csv(f, YIBAO_COV_REPORT_WEEKLY);
    assert_non_null(strstr(s, ",Clinic C," ORG_C ",\xe5\x90\xa6,"
                              "\xe5\x90\xa6,\xe6\x98\xaf,Township One,"
                              "Township One,network\r\n"));
    assert_non_null(strstr(s, ",\"Clinic, \"\"A\"\"\"," ORG_A
                              ",\xe5\x90\xa6,"));
}


static void
test_report_nomem(void **state)
{
    size_t       n;
    yibao_str_t  out;
    fixture_t   *f = *state;

    f->r.report = YIBAO_COV_REPORT_SUMMARY;

    for (n = 1; n < 10; n++) {
        yibao_test_arena_fail_at(&f->arena, n);

        if (yibao_cov_render(&f->r, &f->alloc, &out) == YIBAO_OK) {
            break;
        }
    }

    /* six allocations: the classes, two groupings (an index and the
     * groups each), the output; each failure is YIBAO_ERR_NOMEM */
    assert_int_equal(n, 7);

    assert_int_equal(yibao_cov_report_find(U("silent"), 6),
                     YIBAO_COV_REPORT_SILENT);
    assert_int_equal(yibao_cov_report_find(U("weekly"), 6),
                     YIBAO_COV_REPORT_WEEKLY);
    assert_int_equal(yibao_cov_report_find(U("silen"), 5), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_event_kinds),
        cmocka_unit_test(test_slot_code),
        cmocka_unit_test(test_day_ring_rolls),
        cmocka_unit_test(test_top_error),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_two_nodes),
        cmocka_unit_test(test_merge_days_differ),
        cmocka_unit_test(test_value_decode),
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_report_lists, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_townships,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_township_link,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_csv, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_key_states_by_group,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_key_states_by_group,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_weekly, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_report_nomem, fixture_setup,
                                        fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
