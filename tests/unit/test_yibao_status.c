/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Status and metrics: classes, slot tables, bucket edges, quantiles,
 * the sliding windows, the failing-clinics table, escaping, and the two
 * renderings against golden files in tests/unit/data/status/.  To
 * rewrite the golden files after an intended change of the output,
 * run the binary with YIBAO_STATUS_WRITE_GOLDEN=1 and review the diff.
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

#include "yibao_status.h"
#include "yibao_gwerr.h"
#include "yibao_test_alloc.h"


#define U(s)        ((const unsigned char *) (s))

#define NOW         1700000130          /* 30 s into minute 28333335 */
#define NOW_MIN     (NOW / 60)

#define ORG_A       "PDY60134132080312D6001"
#define ORG_B       "PDY60134132080312D6002"

/* 东村卫生室 */
#define NAME_A      "\xe4\xb8\x9c\xe6\x9d\x91\xe5\x8d\xab\xe7\x94\x9f" \
                    "\xe5\xae\xa4"
#define NAME_B      "Clinic \"B\" <&>\n\x01"


typedef struct {
    yibao_test_ctx_t          base;
    yibao_status_snapshot_t  *s;
} test_ctx_t;


static int
test_setup(void **state)
{
    test_ctx_t  *ctx;

    if (yibao_test_ctx_setup(state, sizeof(test_ctx_t)) != 0) {
        return -1;
    }

    ctx = *state;

    ctx->s = calloc(1, sizeof(yibao_status_snapshot_t));
    if (ctx->s == NULL) {
        return -1;
    }

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *ctx = *state;

    free(ctx->s);

    return yibao_test_ctx_teardown(state);
}


static int
slot_of(const char *infno)
{
    return yibao_status_infno_slot(U(infno), strlen(infno));
}


static yibao_status_minute_t *
minute_at(yibao_status_snapshot_t *s, int64_t minute)
{
    yibao_status_minute_t  *m;

    m = &s->minutes[minute % YIBAO_STATUS_MINUTES];
    m->minute = (uint64_t) minute;

    return m;
}


static void
audit(yibao_status_audit_t *t, const char *log, const char *clinic,
    int64_t now)
{
    yibao_status_audit_record(t, U(log), strlen(log), U(clinic),
                              strlen(clinic), now);
}


static void
record(yibao_status_clinics_t *t, const char *code, const char *infno,
    int cls, int gwerr, int infcode_known, long infcode, int64_t now)
{
    yibao_status_failure_t  f;

    memset(&f, 0, sizeof(yibao_status_failure_t));

    f.code = U(code);
    f.code_len = strlen(code);
    f.infno = U(infno);
    f.infno_len = infno ? strlen(infno) : 0;
    f.cls = cls;
    f.gwerr = gwerr;
    f.infcode_known = infcode_known;
    f.infcode = infcode;
    f.now = now;

    yibao_status_clinics_record(t, &f);
}


/*
 * The snapshot of the golden files: two transactions with traffic and
 * one refused before its infno was known, three minutes in the ring
 * (and a stale entry that must not count), two failing clinics.
 */

static void
fill_snapshot(yibao_status_snapshot_t *s)
{
    int                            a, b, o;
    yibao_status_minute_t         *m;
    yibao_status_offline_entity_t  e;

    memset(s, 0, sizeof(yibao_status_snapshot_t));

    s->now = NOW;
    s->started = 1699990000;
    s->loaded = 1699999000;
    s->reloads = 2;
    s->last_success = 1700000120;
    s->last_failure = 1700000100;
    s->store = YIBAO_STATUS_STORE_EMBEDDED;
    s->store_up = 1;
    s->events[YIBAO_STATUS_EV_RATELIMIT_PASSED] = 5;
    s->events[YIBAO_STATUS_EV_CACHE_HIT] = 2;
    s->mapping_rows = 1234;
    s->mapping_bytes = 56789;
    s->rules = 40;
    s->clinics_registered = 10;
    s->callers = 3;
    s->keys = 5;
    s->key_states[0] = 1;     /* never used */
    s->key_states[1] = 2;     /* activated */
    s->key_states[3] = 2;     /* expired */
    s->top = 20;

    /* 记账: a township with open records (one failing its check), one
     * whose only record is settled */
    s->offline.configured = 1;
    memset(&e, 0, sizeof(e));
    strcpy(e.entity, "H37010200001");
    yibao_status_offline_count(&e, "recorded", (NOW - 600) * 1000ULL, 1);
    yibao_status_offline_count(&e, "waiting", (NOW - 7200) * 1000ULL, 1);
    yibao_status_offline_count(&e, "recorded", (NOW - 60) * 1000ULL, 0);
    yibao_status_offline_count(&e, "voided", (NOW - 9000) * 1000ULL, 1);
    yibao_status_offline_count(&e, "nonsense", (NOW - 9000) * 1000ULL, 1);
    yibao_status_offline_add(&s->offline, &e);
    memset(&e, 0, sizeof(e));
    strcpy(e.entity, "H37010200002");
    yibao_status_offline_count(&e, "settled", (NOW - 9000) * 1000ULL, 1);
    yibao_status_offline_add(&s->offline, &e);

    /* Redis without persistence lost the journal 100 s ago */
    s->journal_durable = 0;
    s->journal_lost = (int64_t) (NOW - 100) * 1000 + 250;
    s->journal_until = s->journal_lost + 7 * 86400 * 1000;
    s->journal_losses = 1;
    s->journal_checks[YIBAO_STATUS_CHECK_SETTLED] = 3;
    s->journal_checks[YIBAO_STATUS_CHECK_FAILED] = 1;

    a = slot_of("1101");
    b = slot_of("2207");
    o = YIBAO_STATUS_OTHER;

    s->infno[a].requests[YIBAO_STATUS_OK] = 8;
    s->infno[a].requests[YIBAO_STATUS_PLATFORM_ERROR] = 1;
    s->infno[a].total[1] = 5;
    s->infno[a].total[3] = 3;
    s->infno[a].total[11] = 1;
    s->infno[a].total_ms = 5 * 8 + 3 * 40 + 12000;
    s->infno[a].upstream[0] = 4;
    s->infno[a].upstream[2] = 5;
    s->infno[a].upstream_ms = 4 * 3 + 5 * 20;

    s->infno[b].requests[YIBAO_STATUS_OK] = 2;
    s->infno[b].requests[YIBAO_STATUS_UPSTREAM_FAILURE] = 1;
    s->infno[b].requests[YIBAO_STATUS_UNKNOWN_OUTCOME] = 1;
    s->infno[b].total[5] = 3;
    s->infno[b].total[10] = 1;
    s->infno[b].total_ms = 3 * 200 + 10000;
    s->infno[b].upstream[5] = 3;
    s->infno[b].upstream[10] = 1;
    s->infno[b].upstream_ms = 3 * 190 + 9990;

    s->infno[o].requests[YIBAO_STATUS_REJECTED] = 2;
    s->infno[o].total[0] = 2;
    s->infno[o].total_ms = 2;

    s->rejections[yibao_status_reason_slot(YIBAO_GWERR_AUTH_SIGNATURE)] = 1;
    s->rejections[0] = 1;
    s->upstream_errors[yibao_status_reason_slot(YIBAO_GWERR_UPSTREAM_TIMEOUT)]
        = 1;
    s->upstream_errors[yibao_status_reason_slot(YIBAO_GWERR_UPSTREAM_STATUS)]
        = 1;

    /* the current minute */

    m = minute_at(s, NOW_MIN);
    m->infno[a].forwarded = 3;
    m->infno[a].requests[YIBAO_STATUS_OK] = 3;
    m->infno[a].latency[1] = 3;
    m->infno[a].latency_ms = 24;

    /* the previous one */

    m = minute_at(s, NOW_MIN - 1);
    m->infno[b].forwarded = 2;
    m->infno[b].requests[YIBAO_STATUS_OK] = 1;
    m->infno[b].requests[YIBAO_STATUS_UNKNOWN_OUTCOME] = 1;
    m->infno[b].latency[5] = 1;
    m->infno[b].latency[10] = 1;
    m->infno[b].latency_ms = 10200;

    /* half of it in the 15-minute window */

    m = minute_at(s, NOW_MIN - 15);
    m->infno[a].forwarded = 4;
    m->infno[a].requests[YIBAO_STATUS_OK] = 2;
    m->infno[a].requests[YIBAO_STATUS_PLATFORM_ERROR] = 2;
    m->infno[a].latency[3] = 4;
    m->infno[a].latency_ms = 160;

    /* an hour and more ago: its ring entry was not reused since */

    m = minute_at(s, NOW_MIN - 80);
    m->infno[a].forwarded = 100;
    m->infno[a].requests[YIBAO_STATUS_OK] = 100;
    m->infno[a].latency[0] = 100;

    record(&s->clinics, ORG_A, "2207", YIBAO_STATUS_UNKNOWN_OUTCOME,
           YIBAO_GWERR_UPSTREAM_TIMEOUT, 0, 0, NOW - 60);
    record(&s->clinics, ORG_A, "1101", YIBAO_STATUS_PLATFORM_ERROR, 0, 1,
           -1, NOW - 30);
    record(&s->clinics, ORG_B, "2207", YIBAO_STATUS_UPSTREAM_FAILURE,
           YIBAO_GWERR_UPSTREAM_STATUS, 0, 0, NOW - 20);

    s->clinic_name[0].data = U(NAME_A);
    s->clinic_name[0].len = sizeof(NAME_A) - 1;
    s->clinic_entity[0].data = U("H37010200001");
    s->clinic_entity[0].len = 12;
    s->clinic_name[1].data = U(NAME_B);
    s->clinic_name[1].len = sizeof(NAME_B) - 1;

    /* the audit's findings, as $yibao_audit has them */

    audit(&s->audit, "YB-L01:enforce:1:10.00 YB-L05:warn:2:1.00+ack",
          ORG_A, NOW - 50);
    audit(&s->audit, "YB-L01:shadow:1:10.00 3101:R?01:warn:2:45.20 "
          "3101:timeout", ORG_B, NOW - 10);
    audit(&s->audit, "YB-L01:enforce:1:10.00", ORG_B, NOW - 5);
    audit(&s->audit, "3102:failed", ORG_A, NOW - 4);

    s->audit_clinic_name[0].data = U(NAME_A);
    s->audit_clinic_name[0].len = sizeof(NAME_A) - 1;
    s->audit_clinic_entity[0].data = U("H37010200001");
    s->audit_clinic_entity[0].len = 12;
}


static char *
golden_path(const char *name)
{
    char        *path;
    const char  *dir;

    dir = getenv("YIBAO_TEST_DATA");
    if (dir == NULL) {
        dir = "tests/unit/data";
    }

    if (asprintf(&path, "%s/status/%s", dir, name) < 0) {
        return NULL;
    }

    return path;
}


static void
check_golden(const char *name, const yibao_str_t *out)
{
    FILE    *f;
    char    *path, *want;
    long     size;
    size_t   i;

    path = golden_path(name);
    assert_non_null(path);

    if (getenv("YIBAO_STATUS_WRITE_GOLDEN") != NULL) {
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(out->data, 1, out->len, f), out->len);
        assert_int_equal(fclose(f), 0);
        free(path);
        return;
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);

    want = malloc(size + 1);
    assert_non_null(want);
    assert_int_equal(fread(want, 1, size, f), (size_t) size);
    fclose(f);

    for (i = 0; i < out->len && i < (size_t) size; i++) {
        if (out->data[i] != (unsigned char) want[i]) {
            break;
        }
    }

    if (i != out->len || out->len != (size_t) size) {
        fail_msg("%s differs from the output at byte %zu: "
                 "got \"%.40s\", want \"%.40s\"", path, i,
                 (const char *) out->data + i, want + i);
    }

    free(want);
    free(path);
}


static void
test_class_names(void **state)
{
    (void) state;

    assert_string_equal(yibao_status_class_name(YIBAO_STATUS_OK), "ok");
    assert_string_equal(yibao_status_class_name(YIBAO_STATUS_PLATFORM_ERROR),
                        "platform_error");
    assert_string_equal(yibao_status_class_name(YIBAO_STATUS_REJECTED),
                        "rejected");
    assert_string_equal(
        yibao_status_class_name(YIBAO_STATUS_UPSTREAM_FAILURE),
        "upstream_failure");
    assert_string_equal(
        yibao_status_class_name(YIBAO_STATUS_UNKNOWN_OUTCOME),
        "unknown_outcome");
    assert_string_equal(yibao_status_class_name(-1), "unknown");
    assert_string_equal(yibao_status_class_name(YIBAO_STATUS_NCLASSES),
                        "unknown");
}


static int
classify(int gwerr, int infcode_known, long infcode, int forwarded,
    int status)
{
    yibao_status_outcome_t  o;

    o.gwerr = gwerr;
    o.infcode_known = infcode_known;
    o.infcode = infcode;
    o.forwarded = forwarded;
    o.http_status = status;
    o.repeatable = 0;

    return yibao_status_classify(&o);
}


/* a read, a computation: nothing it does can be in doubt */

static void
test_classify_repeatable(void **state)
{
    yibao_status_outcome_t  o;

    (void) state;

    memset(&o, 0, sizeof(yibao_status_outcome_t));
    o.repeatable = 1;
    o.forwarded = 1;

    o.gwerr = 6002;
    o.http_status = 504;
    assert_int_equal(yibao_status_classify(&o),
                     YIBAO_STATUS_UPSTREAM_FAILURE);

    o.gwerr = 0;
    o.http_status = 499;
    assert_int_equal(yibao_status_classify(&o),
                     YIBAO_STATUS_UPSTREAM_FAILURE);

    o.gwerr = 1015;                 /* the caller left: logged only */
    assert_int_equal(yibao_status_classify(&o), YIBAO_STATUS_REJECTED);

    o.gwerr = 6010;
    o.http_status = 502;
    assert_int_equal(yibao_status_classify(&o),
                     YIBAO_STATUS_UNKNOWN_OUTCOME);

    o.repeatable = 0;
    o.gwerr = 6002;
    o.http_status = 504;
    assert_int_equal(yibao_status_classify(&o),
                     YIBAO_STATUS_UNKNOWN_OUTCOME);
}


static void
test_classify(void **state)
{
    size_t  i;

    static const struct {
        int   gwerr;
        int   known;
        long  infcode;
        int   forwarded;
        int   status;
        int   want;
    } cases[] = {
        { 0, 1, 0, 1, 200, YIBAO_STATUS_OK },
        { 0, 1, -1, 1, 200, YIBAO_STATUS_PLATFORM_ERROR },
        { 0, 1, 1, 1, 200, YIBAO_STATUS_PLATFORM_ERROR },
        { 0, 0, 0, 1, 200, YIBAO_STATUS_OK },          /* a download */
        { 0, 0, 0, 1, 499, YIBAO_STATUS_UNKNOWN_OUTCOME },
        { 0, 0, 0, 0, 499, YIBAO_STATUS_REJECTED },
        { 0, 0, 0, 0, 0, YIBAO_STATUS_REJECTED },
        { 1001, 0, 0, 0, 400, YIBAO_STATUS_REJECTED },
        { 1012, 0, 0, 0, 400, YIBAO_STATUS_REJECTED },
        { 2003, 0, 0, 0, 401, YIBAO_STATUS_REJECTED },
        { 2102, 0, 0, 0, 403, YIBAO_STATUS_REJECTED },
        { 3002, 0, 0, 0, 404, YIBAO_STATUS_REJECTED },
        { 3101, 0, 0, 0, 429, YIBAO_STATUS_REJECTED },  /* rate limit */
        { 4001, 0, 0, 0, 422, YIBAO_STATUS_REJECTED },
        { 4999, 0, 0, 1, 422, YIBAO_STATUS_REJECTED },
        { 5001, 0, 0, 0, 500, YIBAO_STATUS_REJECTED },
        { 5001, 0, 0, 1, 500, YIBAO_STATUS_UNKNOWN_OUTCOME },
        { 5002, 0, 0, 1, 500, YIBAO_STATUS_REJECTED },
        { 5003, 0, 0, 0, 503, YIBAO_STATUS_REJECTED },
        { 5004, 0, 0, 0, 503, YIBAO_STATUS_REJECTED },
        { 5005, 0, 0, 0, 503, YIBAO_STATUS_REJECTED },  /* store down */
        { 5099, 0, 0, 0, 500, YIBAO_STATUS_REJECTED },
        { 6001, 0, 0, 1, 502, YIBAO_STATUS_UPSTREAM_FAILURE },
        { 6002, 0, 0, 1, 504, YIBAO_STATUS_UNKNOWN_OUTCOME },
        { 6003, 1, -1, 1, 502, YIBAO_STATUS_UPSTREAM_FAILURE },
        { 6004, 0, 0, 1, 502, YIBAO_STATUS_UPSTREAM_FAILURE },
        { 6005, 0, 0, 1, 502, YIBAO_STATUS_UPSTREAM_FAILURE },
        { 6006, 0, 0, 1, 502, YIBAO_STATUS_UNKNOWN_OUTCOME },
        { 6101, 0, 0, 0, 504, YIBAO_STATUS_UNKNOWN_OUTCOME },
        { 999, 0, 0, 0, 500, YIBAO_STATUS_REJECTED },
        { 999, 0, 0, 1, 500, YIBAO_STATUS_UNKNOWN_OUTCOME },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (classify(cases[i].gwerr, cases[i].known, cases[i].infcode,
                     cases[i].forwarded, cases[i].status)
            != cases[i].want)
        {
            fail_msg("case %zu (gwerr %d): got %s, want %s", i,
                     cases[i].gwerr,
                     yibao_status_class_name(
                         classify(cases[i].gwerr, cases[i].known,
                                  cases[i].infcode, cases[i].forwarded,
                                  cases[i].status)),
                     yibao_status_class_name(cases[i].want));
        }
    }
}


static void
test_infno_slots(void **state)
{
    int          i, j;
    const char  *name;

    (void) state;

    assert_string_equal(yibao_status_infno_name(slot_of("1101")), "1101");
    assert_string_equal(yibao_status_infno_name(slot_of("2203A")), "2203A");
    assert_int_not_equal(slot_of("2207"), slot_of("2207A"));

    assert_int_equal(slot_of("1102"), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of("2203B"), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of("110"), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of("11011"), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of("2207AA"), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of(""), YIBAO_STATUS_OTHER);
    assert_int_equal(slot_of("other"), YIBAO_STATUS_OTHER);
    assert_int_equal(yibao_status_infno_slot(NULL, 4), YIBAO_STATUS_OTHER);

    /* "1101" must not match a longer or shorter prefix */
    assert_int_equal(yibao_status_infno_slot(U("1101X"), 4),
                     slot_of("1101"));

    assert_string_equal(yibao_status_infno_name(YIBAO_STATUS_OTHER),
                        "other");
    assert_string_equal(yibao_status_infno_name(-1), "other");
    assert_string_equal(yibao_status_infno_name(YIBAO_STATUS_INFNOS),
                        "other");

    /* every known infno has the national shape and one slot */

    for (i = 0; i < YIBAO_STATUS_OTHER; i++) {
        name = yibao_status_infno_name(i);

        assert_true(strlen(name) == 4
                    || (strlen(name) == 5 && name[4] >= 'A'
                        && name[4] <= 'Z'));

        for (j = 0; j < 4; j++) {
            assert_true(name[j] >= '0' && name[j] <= '9');
        }

        assert_int_equal(slot_of(name), i);
    }
}


static void
test_bucket_edges(void **state)
{
    int  i;

    (void) state;

    assert_int_equal(yibao_status_bucket(0), 0);
    assert_int_equal(yibao_status_bucket(5), 0);
    assert_int_equal(yibao_status_bucket(6), 1);
    assert_int_equal(yibao_status_bucket(10), 1);
    assert_int_equal(yibao_status_bucket(11), 2);
    assert_int_equal(yibao_status_bucket(999), 7);
    assert_int_equal(yibao_status_bucket(1000), 7);
    assert_int_equal(yibao_status_bucket(1001), 8);
    assert_int_equal(yibao_status_bucket(10000), 10);
    assert_int_equal(yibao_status_bucket(10001), YIBAO_STATUS_BUCKETS - 1);
    assert_int_equal(yibao_status_bucket(UINT64_MAX),
                     YIBAO_STATUS_BUCKETS - 1);

    /* each bound is in its own bucket, one more ms in the next */

    for (i = 0; i < YIBAO_STATUS_BUCKETS - 1; i++) {
        assert_int_equal(yibao_status_bucket(yibao_status_bucket_ms[i]), i);
        assert_int_equal(yibao_status_bucket(yibao_status_bucket_ms[i] + 1),
                         i + 1);

        if (i > 0) {
            assert_true(yibao_status_bucket_ms[i]
                        > yibao_status_bucket_ms[i - 1]);
        }
    }
}


static void
test_quantile(void **state)
{
    uint64_t  b[YIBAO_STATUS_BUCKETS];

    (void) state;

    memset(b, 0, sizeof(b));
    assert_int_equal(yibao_status_quantile(b, 500), -1);

    /* ten requests in (0, 5]: the median is halfway */
    b[0] = 10;
    assert_int_equal(yibao_status_quantile(b, 500), 2);
    assert_int_equal(yibao_status_quantile(b, 1000), 5);
    assert_int_equal(yibao_status_quantile(b, 0), 0);

    /* 50 in (25, 50], 50 in (100, 250] */
    memset(b, 0, sizeof(b));
    b[3] = 50;
    b[5] = 50;
    assert_int_equal(yibao_status_quantile(b, 500), 50);
    assert_int_equal(yibao_status_quantile(b, 250), 37);
    assert_int_equal(yibao_status_quantile(b, 950), 235);
    assert_int_equal(yibao_status_quantile(b, 510), 103);

    /* the quantile in +Inf: the largest bound */
    memset(b, 0, sizeof(b));
    b[0] = 1;
    b[YIBAO_STATUS_BUCKETS - 1] = 9;
    assert_int_equal(yibao_status_quantile(b, 950), 10000);
    assert_int_equal(yibao_status_quantile(b, 100), 5);

    /* q beyond 1000 is clamped */
    assert_int_equal(yibao_status_quantile(b, 5000), 10000);

    /* large counts do not overflow */
    memset(b, 0, sizeof(b));
    b[9] = 1000000000000ULL;
    assert_int_equal(yibao_status_quantile(b, 500), 3750);
}


static void
test_reasons(void **state)
{
    int   code, slot;
    char  buf[16];

    static const int  codes[] = { 1001, 1199, 2003, 2101, 3002, 4005,
                                  5004, 6001, 6005, 6199 };

    (void) state;

    for (slot = 0; slot < (int) (sizeof(codes) / sizeof(int)); slot++) {
        code = codes[slot];
        assert_true(yibao_status_reason_slot(code) > 0);
        assert_true(yibao_status_reason_slot(code) < YIBAO_STATUS_REASONS);
        assert_int_equal(
            yibao_status_reason_code(yibao_status_reason_slot(code)), code);
    }

    for (slot = 1; slot < YIBAO_STATUS_REASONS; slot++) {
        assert_int_equal(
            yibao_status_reason_slot(yibao_status_reason_code(slot)), slot);
    }

    assert_int_equal(yibao_status_reason_slot(0), 0);
    assert_int_equal(yibao_status_reason_slot(999), 0);
    assert_int_equal(yibao_status_reason_slot(1200), 0);
    assert_int_equal(yibao_status_reason_slot(6200), 0);
    assert_int_equal(yibao_status_reason_slot(7000), 0);
    assert_int_equal(yibao_status_reason_slot(-2003), 0);
    assert_int_equal(yibao_status_reason_code(0), 0);
    assert_int_equal(yibao_status_reason_code(YIBAO_STATUS_REASONS), 0);

    assert_string_equal(yibao_status_reason_name(2003, buf),
                        "auth_signature");
    assert_string_equal(yibao_status_reason_name(6002, buf),
                        "upstream_timeout");
    assert_string_equal(yibao_status_reason_name(6150, buf), "yb6150");
    assert_string_equal(yibao_status_reason_name(1050, buf), "yb1050");
    assert_string_equal(yibao_status_reason_name(0, buf), "other");
}


static void
test_clinics_table(void **state)
{
    int                     i;
    char                    code[32];
    yibao_status_clinic_t  *c;
    yibao_status_clinics_t *t;

    (void) state;

    t = calloc(1, sizeof(yibao_status_clinics_t));
    assert_non_null(t);

    /* the same clinic again: one entry, the newest errors first kept */

    for (i = 0; i < 6; i++) {
        record(t, ORG_A, (i & 1) ? "2207" : "1101",
               YIBAO_STATUS_UPSTREAM_FAILURE, 6001 + i % 3, 0, 0,
               1000 + i);
    }

    assert_int_equal(t->n, 1);
    c = &t->clinic[0];
    assert_int_equal(c->failures, 6);
    assert_int_equal(c->classes[YIBAO_STATUS_UPSTREAM_FAILURE], 6);
    assert_int_equal(c->first, 1000);
    assert_int_equal(c->last, 1005);
    assert_int_equal(c->nerrors, YIBAO_STATUS_ERRORS);

    /* errors 2..5 kept; next points at the oldest, error 2 */
    assert_int_equal(c->errors[c->next].time, 1002);
    assert_int_equal(c->errors[(c->next + 3) % YIBAO_STATUS_ERRORS].time,
                     1005);
    assert_memory_equal(c->errors[(c->next + 3) % YIBAO_STATUS_ERRORS].infno,
                        "2207", 4);

    /* a bad code is not stored; a bad infno is stored as "" */

    record(t, "", "1101", YIBAO_STATUS_REJECTED, 3001, 0, 0, 2000);
    record(t, "0123456789012345678901234", "1101", YIBAO_STATUS_REJECTED,
           3001, 0, 0, 2000);
    assert_int_equal(t->n, 1);

    record(t, ORG_B, "1101\"x", YIBAO_STATUS_PLATFORM_ERROR, 0, 1,
           3000000000L, 2001);
    assert_int_equal(t->n, 2);
    assert_int_equal(t->clinic[1].errors[0].infno_len, 0);
    assert_int_equal(t->clinic[1].errors[0].infcode, INT32_MAX);
    assert_int_equal(t->clinic[1].errors[0].infcode_known, 1);

    record(t, ORG_B, NULL, YIBAO_STATUS_REJECTED, 2101, 0, 0, 2002);
    assert_int_equal(t->clinic[1].errors[1].infno_len, 0);
    assert_int_equal(t->clinic[1].failures, 2);

    /* fill the table, then evict the least recently failing clinic */

    for (i = 2; i < YIBAO_STATUS_CLINICS; i++) {
        snprintf(code, sizeof(code), "CLINIC%016d", i);
        record(t, code, "1101", YIBAO_STATUS_REJECTED, 2003, 0, 0,
               3000 + i);
    }

    assert_int_equal(t->n, YIBAO_STATUS_CLINICS);
    assert_int_equal(t->evicted, 0);

    /* ORG_A failed at 1005, the oldest: it goes */

    record(t, "NEWCOMER", "2207", YIBAO_STATUS_UNKNOWN_OUTCOME, 6002, 0, 0,
           5000);
    assert_int_equal(t->n, YIBAO_STATUS_CLINICS);
    assert_int_equal(t->evicted, 1);
    assert_int_equal(t->clinic[0].code_len, 8);
    assert_memory_equal(t->clinic[0].code, "NEWCOMER", 8);
    assert_int_equal(t->clinic[0].failures, 1);
    assert_int_equal(t->clinic[0].nerrors, 1);
    assert_int_equal(t->clinic[0].first, 5000);

    /* then ORG_B (2002) */

    record(t, ORG_A, "2207", YIBAO_STATUS_UNKNOWN_OUTCOME, 6002, 0, 0,
           5001);
    assert_int_equal(t->evicted, 2);
    assert_int_equal(t->clinic[1].code_len, 22);
    assert_memory_equal(t->clinic[1].code, ORG_A, 22);
    assert_int_equal(t->clinic[1].failures, 1);

    free(t);
}


static void
test_windows(void **state)
{
    test_ctx_t             *ctx = *state;

    int                     a, b;
    yibao_status_window_t   w;
    yibao_status_snapshot_t *s;

    s = ctx->s;
    fill_snapshot(s);

    a = slot_of("1101");
    b = slot_of("2207");

    /* 1 minute: the current minute whole, half of the previous one */

    yibao_status_window(s, -1, 1, &w);
    assert_int_equal(w.forwarded, 3 * 60 + 2 * 30);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 3 * 60 + 1 * 30);
    assert_int_equal(w.requests[YIBAO_STATUS_UNKNOWN_OUTCOME], 1 * 30);
    assert_int_equal(w.latency[1], 3 * 60);
    assert_int_equal(w.latency[10], 30);

    yibao_status_window(s, a, 1, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 3 * 60);
    assert_int_equal(w.requests[YIBAO_STATUS_UNKNOWN_OUTCOME], 0);

    /* 5 minutes: both whole */

    yibao_status_window(s, -1, 5, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 4 * 60);
    assert_int_equal(w.requests[YIBAO_STATUS_UNKNOWN_OUTCOME], 60);
    assert_int_equal(w.requests[YIBAO_STATUS_PLATFORM_ERROR], 0);

    /* 15 minutes: and half of minute -15; never the stale entry */

    yibao_status_window(s, -1, 15, &w);
    assert_int_equal(w.forwarded, 5 * 60 + 4 * 30);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 4 * 60 + 2 * 30);
    assert_int_equal(w.requests[YIBAO_STATUS_PLATFORM_ERROR], 2 * 30);
    assert_int_equal(w.latency[0], 0);
    assert_int_equal(w.latency[3], 4 * 30);

    yibao_status_window(s, b, 15, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 60);
    assert_int_equal(w.requests[YIBAO_STATUS_UNKNOWN_OUTCOME], 60);

    /* at the first second of a minute the oldest one counts whole */

    s->now = NOW_MIN * 60;
    yibao_status_window(s, -1, 15, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 4 * 60 + 2 * 60);

    /* and at its last second hardly at all */

    s->now = NOW_MIN * 60 + 59;
    yibao_status_window(s, -1, 15, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 4 * 60 + 2 * 1);

    /* a window beyond the ring is cut to the ring */

    s->now = NOW;
    yibao_status_window(s, -1, 1000, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 4 * 60 + 2 * 60);

    yibao_status_window(s, -1, 0, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 0);

    /* answers from the cache are ok, but were not sent to the platform */

    s->minutes[NOW_MIN % YIBAO_STATUS_MINUTES].infno[a]
        .requests[YIBAO_STATUS_OK] += 10;
    yibao_status_window(s, -1, 5, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 14 * 60);
    assert_int_equal(w.forwarded, 5 * 60);

    /* a clock gone back: nothing in the ring matches */

    s->now = NOW - 3 * 3600;
    yibao_status_window(s, -1, 15, &w);
    assert_int_equal(w.requests[YIBAO_STATUS_OK], 0);
}


/*
 * 记账 records per township: the totals of all, and a bounded list of
 * the entities whose oldest open record is the oldest.
 */

static void
test_offline_entities(void **state)
{
    int                            i;
    yibao_status_offline_t        *t;
    yibao_status_offline_entity_t  e;

    (void) state;

    t = calloc(1, sizeof(yibao_status_offline_t));
    assert_non_null(t);

    /* entity i's open record was taken at 1000 + (i * 7) % 40 */

    for (i = 0; i < 40; i++) {
        memset(&e, 0, sizeof(e));
        snprintf(e.entity, sizeof(e.entity), "H370102%05d", i);
        yibao_status_offline_count(&e, "settled", 10 * 1000ULL, 1);
        yibao_status_offline_count(&e, "pending",
                                   (1000 + (i * 7) % 40) * 1000ULL, 1);
        yibao_status_offline_add(t, &e);
    }

    /* one without an open record is not listed when the list is full */
    memset(&e, 0, sizeof(e));
    strcpy(e.entity, "H37010299999");
    yibao_status_offline_count(&e, "voided", 5 * 1000ULL, 0);
    yibao_status_offline_add(t, &e);

    assert_int_equal(t->entities, 41);
    assert_int_equal(t->n, YIBAO_STATUS_OFFLINE_ENTITIES);
    assert_int_equal(t->states[3], 40);      /* pending */
    assert_int_equal(t->states[5], 40);      /* settled */
    assert_int_equal(t->states[7], 1);       /* voided */
    assert_int_equal(t->unverified, 1);
    assert_int_equal(t->oldest_open, 1000);

    /* the 32 listed are those of 1000 .. 1031 */
    for (i = 0; i < (int) t->n; i++) {
        assert_true(t->entity[i].oldest_open < 1000 + 32);
        assert_int_equal(t->entity[i].states[3], 1);
    }

    free(t);
}


static void
test_escaping(void **state)
{
    size_t         n;
    unsigned char  buf[128];

    static const char  in[] = "a\"b\\c<d>&e\n\r\t\x01\x7f\xe5\x8d\xab/";
    static const char  json[] = "\"a\\\"b\\\\c\\u003Cd\\u003E\\u0026e"
                                "\\n\\r\\t\\u0001\\u007F\xe5\x8d\xab/\"";
    static const char  label[] = "\"a\\\"b\\\\c<d>&e\\n\r\t\x01\x7f"
                                 "\xe5\x8d\xab/\"";

    (void) state;

    n = yibao_status_json_string(U(in), sizeof(in) - 1, NULL);
    assert_int_equal(n, sizeof(json) - 1);
    assert_int_equal(yibao_status_json_string(U(in), sizeof(in) - 1, buf),
                     n);
    assert_memory_equal(buf, json, n);

    n = yibao_status_label_value(U(in), sizeof(in) - 1, NULL);
    assert_int_equal(n, sizeof(label) - 1);
    assert_int_equal(yibao_status_label_value(U(in), sizeof(in) - 1, buf),
                     n);
    assert_memory_equal(buf, label, n);

    assert_int_equal(yibao_status_json_string(U(""), 0, buf), 2);
    assert_memory_equal(buf, "\"\"", 2);
    assert_int_equal(yibao_status_label_value(U("plain"), 5, buf), 7);
    assert_memory_equal(buf, "\"plain\"", 7);
}


static void
test_render_json(void **state)
{
    test_ctx_t    *ctx = *state;

    json_t        *doc, *v, *inf, *top;
    yibao_str_t    out;
    json_error_t   jerr;

    fill_snapshot(ctx->s);

    assert_int_equal(yibao_status_render_json(ctx->s, &ctx->base.alloc,
                                              &out),
                     YIBAO_OK);

    /* one allocation of exactly the document's size */
    assert_int_equal(ctx->base.arena.calls, 1);
    assert_int_equal(ctx->base.arena.bytes, out.len);

    check_golden("basic.json", &out);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    if (doc == NULL) {
        fail_msg("not JSON: %s at %d", jerr.text, jerr.position);
    }

    v = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(v, "requests")), 15);
    assert_int_equal(json_integer_value(json_object_get(v, "ok")), 10);
    assert_int_equal(json_integer_value(json_object_get(v, "rejected")), 2);

    v = json_array_get(json_object_get(json_object_get(doc, "platform"),
                                       "windows"), 2);
    assert_string_equal(json_string_value(json_object_get(v, "window")),
                        "15m");
    /* 4 + 1 + half of 4, in whole requests */
    assert_int_equal(json_integer_value(json_object_get(v, "forwarded")), 7);
    assert_int_equal(json_integer_value(json_object_get(v, "failed")), 1);

    inf = json_object_get(doc, "infnos");
    assert_int_equal(json_array_size(inf), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(inf, 0), "infno")), "1101");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(inf, 1), "infno")), "2207");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(inf, 2), "infno")), "other");

    v = json_object_get(json_object_get(json_array_get(inf, 0), "series"),
                        "requests");
    assert_int_equal(json_array_size(v), YIBAO_STATUS_MINUTES);
    assert_int_equal(json_integer_value(json_array_get(v, 59)), 3);
    assert_int_equal(json_integer_value(json_array_get(v, 44)), 4);
    assert_int_equal(json_integer_value(json_array_get(v, 0)), 0);

    top = json_object_get(json_object_get(doc, "clinics"), "top");
    assert_int_equal(json_array_size(top), 2);
    v = json_array_get(top, 0);
    assert_string_equal(json_string_value(json_object_get(v, "clinic")),
                        ORG_A);
    assert_string_equal(json_string_value(json_object_get(v, "name")),
                        NAME_A);
    v = json_array_get(top, 1);
    assert_string_equal(json_string_value(json_object_get(v, "name")),
                        NAME_B);
    assert_true(json_is_null(json_object_get(v, "entity")));

    /* the newest error first */
    v = json_array_get(json_object_get(json_array_get(top, 0), "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "class")),
                        "platform_error");
    assert_int_equal(json_integer_value(json_object_get(v, "infcode")), -1);
    assert_true(json_is_null(json_object_get(v, "code")));

    /* the journal's store lost its records: the window, in seconds */
    v = json_object_get(doc, "journal");
    assert_true(json_is_false(json_object_get(v, "durable")));
    assert_int_equal(json_integer_value(json_object_get(v, "forgotten_at")),
                     NOW - 100);
    assert_int_equal(json_integer_value(json_object_get(v,
                                                        "checked_until")),
                     NOW - 100 + 7 * 86400);
    assert_int_equal(json_integer_value(json_object_get(v, "losses")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(v, "checks"), "settled")), 3);
    json_decref(doc);

    /* once the window has passed there is none; durable not known */

    ctx->s->journal_until = (int64_t) (NOW - 1) * 1000;
    ctx->s->journal_durable = -1;

    assert_int_equal(yibao_status_render_json(ctx->s, &ctx->base.alloc,
                                              &out),
                     YIBAO_OK);
    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);
    v = json_object_get(doc, "journal");
    assert_true(json_is_null(json_object_get(v, "durable")));
    assert_true(json_is_null(json_object_get(v, "forgotten_at")));
    assert_true(json_is_null(json_object_get(v, "checked_until")));
    json_decref(doc);

    assert_int_equal(yibao_status_render_prometheus(ctx->s,
                                                    &ctx->base.alloc, &out),
                     YIBAO_OK);
    assert_non_null(memmem(out.data, out.len, "\nyibao_journal_forgotten 0\n",
                           27));
}


static void
test_render_prometheus(void **state)
{
    test_ctx_t    *ctx = *state;

    char          *line, *end, *copy, *save;
    yibao_str_t    out;

    fill_snapshot(ctx->s);

    assert_int_equal(yibao_status_render_prometheus(ctx->s, &ctx->base.alloc,
                                                    &out),
                     YIBAO_OK);

    assert_int_equal(ctx->base.arena.calls, 1);
    assert_int_equal(ctx->base.arena.bytes, out.len);

    check_golden("basic.prom", &out);

    /* no per-clinic series; every line a comment or "name[{..}] value" */

    copy = strndup((const char *) out.data, out.len);
    assert_non_null(copy);
    assert_null(strstr(copy, ORG_A));
    assert_int_equal(copy[out.len - 1], '\n');

    for (line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        if (strncmp(line, "# HELP yibao_", 13) == 0
            || strncmp(line, "# TYPE yibao_", 13) == 0)
        {
            continue;
        }

        assert_int_equal(strncmp(line, "yibao_", 6), 0);

        end = strrchr(line, ' ');
        assert_non_null(end);
        assert_true(end[1] >= '0' && end[1] <= '9');
    }

    free(copy);
}


static void
test_render_empty(void **state)
{
    test_ctx_t    *ctx = *state;

    json_t        *doc;
    yibao_str_t    out;
    json_error_t   jerr;

    static const char  families[] = "# TYPE yibao_requests_total counter\n"
                                    "# HELP yibao_rejections_total ";

    memset(ctx->s, 0, sizeof(yibao_status_snapshot_t));
    ctx->s->now = NOW;

    assert_int_equal(yibao_status_render_json(ctx->s, &ctx->base.alloc,
                                              &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);
    assert_true(json_is_null(json_object_get(json_object_get(doc, "totals"),
                                             "success_ratio")));
    assert_int_equal(json_array_size(json_object_get(doc, "infnos")), 0);
    assert_true(json_is_null(json_object_get(json_object_get(doc,
                                                             "platform"),
                                             "last_success")));
    json_decref(doc);

    assert_int_equal(yibao_status_render_prometheus(ctx->s,
                                                    &ctx->base.alloc, &out),
                     YIBAO_OK);
    assert_non_null(memmem(out.data, out.len, families,
                           sizeof(families) - 1));
}


static void
test_render_nomem(void **state)
{
    test_ctx_t    *ctx = *state;

    yibao_str_t    out;

    fill_snapshot(ctx->s);

    yibao_test_arena_fail_at(&ctx->base.arena, 1);
    assert_int_equal(yibao_status_render_json(ctx->s, &ctx->base.alloc,
                                              &out),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_fail_at(&ctx->base.arena, 1);
    assert_int_equal(yibao_status_render_prometheus(ctx->s,
                                                    &ctx->base.alloc, &out),
                     YIBAO_ERR_NOMEM);
}


/* Only the top N clinics are listed, in order; the table counts all. */

static void
test_render_top(void **state)
{
    test_ctx_t    *ctx = *state;

    int            i, j;
    char           code[32];
    json_t        *doc, *top;
    yibao_str_t    out;
    json_error_t   jerr;

    memset(ctx->s, 0, sizeof(yibao_status_snapshot_t));
    ctx->s->now = NOW;
    ctx->s->top = 5;

    for (i = 0; i < 30; i++) {
        snprintf(code, sizeof(code), "CLINIC%016d", i);

        for (j = 0; j <= i % 10; j++) {
            record(&ctx->s->clinics, code, "2207", YIBAO_STATUS_REJECTED,
                   2003, 0, 0, NOW - 100 + i);
        }
    }

    assert_int_equal(yibao_status_render_json(ctx->s, &ctx->base.alloc,
                                              &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);

    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "clinics"), "tracked")), 30);

    top = json_object_get(json_object_get(doc, "clinics"), "top");
    assert_int_equal(json_array_size(top), 5);

    /* 10 failures: clinics 29, 19, 9 (latest first); then 9: 28 */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(top, 0), "clinic")),
                        "CLINIC0000000000000029");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(top, 2), "clinic")),
                        "CLINIC0000000000000009");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(top, 3), "clinic")),
                        "CLINIC0000000000000028");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(top, 4), "failures")), 9);

    json_decref(doc);
}



/*
 * The audit's counters stay bounded: rule ids beyond the table's rows
 * are "other", a word of another shape or an id that no rules file can
 * have is not counted, the platform's rules are one row per infno, and
 * a full table of clinics drops the one with the fewest findings.
 */

static void
test_audit_record(void **state)
{
    char                   log[64], org[32];
    unsigned               i;
    yibao_status_audit_t  *t;

    (void) state;

    t = calloc(1, sizeof(yibao_status_audit_t));
    assert_non_null(t);

    audit(t, "bad!id:warn:1:0.00 R1:block:1:0.00 x:y 12a4:R:warn:1:0.00 "
          "3101:R:warn:1 3101:late  R2:warn:9:0.00", ORG_A, 100);
    assert_int_equal(t->nrules, 1);
    assert_memory_equal(t->rule[0].id, "R2", 2);
    assert_int_equal(t->rule[0].findings[1][3], 1);    /* warn, other */
    assert_int_equal(t->misses[0] + t->misses[1], 0);
    assert_int_equal(t->clinic[0].findings, 1);

    audit(t, "3101:A:enforce:1:1.00 3101:B?x:warn:3:1.00 3101:failed "
          "3102:timeout", ORG_B, 101);
    assert_int_equal(t->nrules, 2);
    assert_int_equal(t->rule[1].platform, 1);
    assert_memory_equal(t->rule[1].id, "3101", 4);
    assert_int_equal(t->rule[1].total, 2);
    assert_int_equal(t->misses[0], 1);
    assert_int_equal(t->misses[1], 1);

    for (i = 0; i < 70; i++) {
        snprintf(log, sizeof(log), "R-%u:shadow:3:0.00", i);
        snprintf(org, sizeof(org), "PDY6013413208031%06u", i);
        audit(t, log, org, 200 + i);
    }

    assert_int_equal(t->nrules, YIBAO_STATUS_AUDIT_RULES);
    assert_memory_equal(t->rule[YIBAO_STATUS_AUDIT_RULES - 1].id, "other",
                        5);
    /* R-0 .. R-60 have rows; R-61 .. R-69 are "other" */
    assert_int_equal(t->rule[YIBAO_STATUS_AUDIT_RULES - 1].total, 9);

    assert_int_equal(t->nclinics, YIBAO_STATUS_AUDIT_CLINICS);
    assert_int_equal(t->evicted, 72 - YIBAO_STATUS_AUDIT_CLINICS);
    /* ORG_B (2 findings) stayed; ORG_A (1) was dropped first */
    for (i = 0; i < YIBAO_STATUS_AUDIT_CLINICS; i++) {
        assert_false(t->clinic[i].code_len == strlen(ORG_A)
                     && memcmp(t->clinic[i].code, ORG_A, strlen(ORG_A))
                        == 0);
        if (memcmp(t->clinic[i].code, ORG_B, strlen(ORG_B)) == 0) {
            assert_int_equal(t->clinic[i].findings, 2);
            break;
        }
    }
    assert_true(i < YIBAO_STATUS_AUDIT_CLINICS);

    free(t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_classify_repeatable),
        cmocka_unit_test(test_infno_slots),
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_clinics_table),
        cmocka_unit_test(test_offline_entities),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test_setup_teardown(test_windows, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_render_json, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_render_prometheus, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_render_empty, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_render_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test(test_audit_record),
        cmocka_unit_test_setup_teardown(test_render_top, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
