/*
 * Copyright (C) yibao-gateway authors
 */


#include <stddef.h>
#include <string.h>

#include "yibao_status.h"
#include "yibao_gwerr.h"
#include "yibao_codes.h"
#include "yibao_envelope.h"
#include "yibao_registry.h"
#include "yibao_offline.h"


/*
 * Output: every renderer runs twice over the same snapshot, first with
 * buf NULL to size the document, then into one allocation of exactly
 * that size.  put() never writes past size; a second pass that would
 * (it cannot: the snapshot is const) ends with len != size and fails.
 */

typedef struct {
    unsigned char        *buf;
    size_t                len;
    size_t                size;
} yibao_status_out_t;


typedef void (*yibao_status_render_pt)(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);


/*
 * A Prometheus family: its "# HELP" and "# TYPE" lines, then samples()
 * writes its sample lines ("name[{labels}] value\n"), reading field
 * (an offsetof() in the snapshot) and arg as each function says.
 * Adding a metric is a row of yibao_status_families[]; a new kind of
 * sample, a function beside the others.
 */

typedef struct yibao_status_family_s  yibao_status_family_t;

typedef void (*yibao_status_samples_pt)(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);

struct yibao_status_family_s {
    const char                *name;
    const char                *type;
    const char                *help;
    yibao_status_samples_pt    samples;
    size_t                     field;
    unsigned                   arg;
};


/* the field's type for yibao_status_prom_value() */

typedef enum {
    YIBAO_STATUS_VALUE_U64 = 0,
    YIBAO_STATUS_VALUE_U32,
    YIBAO_STATUS_VALUE_TIME,        /* int64_t, 0 when not positive */
    YIBAO_STATUS_VALUE_FLAG         /* int, 1 when not 0 */
} yibao_status_value_e;


static int yibao_status_render(const yibao_status_snapshot_t *s,
    yibao_status_render_pt render, yibao_alloc_t *a, yibao_str_t *out);
static void yibao_status_put_run(void *ctx, const void *p, size_t len);
static void yibao_status_put(yibao_status_out_t *o, const void *p,
    size_t n);
static void yibao_status_puts(yibao_status_out_t *o, const char *s);
static void yibao_status_put_u64(yibao_status_out_t *o, uint64_t v);
static void yibao_status_put_i64(yibao_status_out_t *o, int64_t v);
static void yibao_status_put_ratio(yibao_status_out_t *o, uint64_t num,
    uint64_t den);
static void yibao_status_put_share(yibao_status_out_t *o, uint64_t num,
    uint64_t den);
static void yibao_status_put_seconds(yibao_status_out_t *o, uint64_t ms);
static void yibao_status_put_json_str(yibao_status_out_t *o,
    const unsigned char *p, size_t len);
static void yibao_status_put_label(yibao_status_out_t *o,
    const unsigned char *p, size_t len);
static void yibao_status_put_time(yibao_status_out_t *o, int64_t t);
static int yibao_status_forgotten(const yibao_status_snapshot_t *s);
static void yibao_status_put_quantile(yibao_status_out_t *o,
    const uint64_t *b, unsigned q);
static void yibao_status_put_code(yibao_status_out_t *o, int code);

static int yibao_status_minute_valid(const yibao_status_snapshot_t *s,
    int64_t minute, const yibao_status_minute_t **m);
static void yibao_status_slice_add(const yibao_status_minute_t *m, int slot,
    uint64_t weight, uint64_t *forwarded, uint64_t *requests,
    uint64_t *latency);
static uint64_t yibao_status_sum(const uint64_t *v, size_t n);
static uint64_t yibao_status_round60(uint64_t v);
static int yibao_status_active(const yibao_status_snapshot_t *s, int slot);
static uint64_t yibao_status_window_failed(const yibao_status_window_t *win);
static const char *yibao_status_reason_class(int code);
static const char *yibao_status_store_name(const yibao_status_snapshot_t *s);

static void yibao_status_json(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_totals(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_platform(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_store(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_journal(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_infno(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, int slot);
static void yibao_status_json_classes(yibao_status_out_t *o,
    const uint64_t *counts);
static void yibao_status_json_latency(yibao_status_out_t *o,
    const char *name, const uint64_t *b, uint64_t ms);
static void yibao_status_json_series(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, int slot, unsigned all);
static void yibao_status_json_reasons(yibao_status_out_t *o,
    const uint64_t *counts, unsigned upstream);
static void yibao_status_json_offline(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_offline_states(yibao_status_out_t *o,
    const uint64_t *states, uint64_t unverified, int64_t oldest);
static void yibao_status_prom_offline(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_json_clinics(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static int yibao_status_clinic_before(const yibao_status_clinic_t *a,
    const yibao_status_clinic_t *b);
static void yibao_status_json_clinic(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, unsigned i);

static void yibao_status_prometheus(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_prom_head(yibao_status_out_t *o, const char *name,
    const char *type, const char *help);
static void yibao_status_prom_value(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_requests(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_reasons(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_histogram(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_window(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_store_up(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_events(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_journal(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_audit(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_keys(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_prom_audit_misses(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);
static void yibao_status_json_audit(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_json_audit_clinics(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s);
static void yibao_status_audit_word(yibao_status_audit_t *t,
    const unsigned char *w, size_t len, uint64_t *found);
static int yibao_status_audit_index(const char *const *names, size_t n,
    const unsigned char *p, size_t len);
static yibao_status_audit_rule_t *yibao_status_audit_rule(
    yibao_status_audit_t *t, const unsigned char *id, size_t len,
    unsigned platform);
static void yibao_status_audit_clinic(yibao_status_audit_t *t,
    const unsigned char *code, size_t len, uint64_t found, int64_t now);
static void yibao_status_prom_checks(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f);


static const char  *yibao_status_classes[YIBAO_STATUS_NCLASSES] = {
    "ok",
    "platform_error",
    "rejected",
    "upstream_failure",
    "unknown_outcome"
};


/*
 * The known transactions, in the order of an outpatient visit and then
 * of the periodic work (reconciliation, catalog downloads): the status
 * page lists them in this order.
 */

static const char  *yibao_status_infnos[YIBAO_STATUS_INFNOS] = {
    "9001", "9002", "1101", "1201", "2001",
    "2201", "2202", "2203", "2203A", "2204", "2205", "2206", "2206A",
    "2207", "2207A", "2208", "2601",
    "5201", "5202", "5203", "5204", "5205", "5206",
    "5301", "5302", "5303", "5304",
    "3101", "3102", "3201", "3202", "3301", "3302", "3401", "3401A",
    "4101",
    "1301", "1302", "1305", "1306", "1307", "1309", "1312", "1901",
    "9102",
    "other"
};


const unsigned  yibao_status_bucket_ms[YIBAO_STATUS_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};


/* the bounds as Prometheus "le" label values, in seconds */

static const char  *yibao_status_le[YIBAO_STATUS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
    "5", "10", "+Inf"
};


static const char  *yibao_status_events[YIBAO_STATUS_EVENTS] = {
    "passed", "rejected", "dry_run", "bypassed", "local", "error",
    "hit", "miss", "expired", "stale", "bypass"
};


static const char  *yibao_status_checks[YIBAO_STATUS_CHECKS] = {
    "settled", "not_settled", "other_settlement", "failed"
};


static const char  *yibao_status_audit_modes[YIBAO_STATUS_AUDIT_MODES] = {
    "shadow", "warn", "enforce"
};

static const char  *yibao_status_audit_sevs[YIBAO_STATUS_AUDIT_SEVS] = {
    "1", "2", "3", "other"
};

static const char  *yibao_status_audit_misses[2] = { "timeout", "failed" };

static const unsigned  yibao_status_windows[3] = { 1, 5, 15 };


#define yibao_status_field(f)  offsetof(yibao_status_snapshot_t, f)


/* The Prometheus exposition, family by family, in this order. */

static const yibao_status_family_t  yibao_status_families[] = {

    { "yibao_requests_total", "counter",
      "Requests through the gateway by transaction and outcome class.",
      yibao_status_prom_requests, 0, 0 },

    { "yibao_rejections_total", "counter",
      "Requests refused by the gateway, by reason.",
      yibao_status_prom_reasons, yibao_status_field(rejections), 0 },

    { "yibao_upstream_errors_total", "counter",
      "Requests without a usable platform answer, by reason.",
      yibao_status_prom_reasons, yibao_status_field(upstream_errors), 1 },

    { "yibao_request_duration_seconds", "histogram",
      "Time from the caller's request to the gateway's answer, by "
      "transaction.",
      yibao_status_prom_histogram, 0, 0 },

    { "yibao_upstream_duration_seconds", "histogram",
      "Time the platform took to answer, by transaction.",
      yibao_status_prom_histogram, 0, 1 },

    { "yibao_platform_last_success_timestamp_seconds", "gauge",
      "When the platform last answered infcode 0 (0: not since the "
      "start).",
      yibao_status_prom_value, yibao_status_field(last_success),
      YIBAO_STATUS_VALUE_TIME },

    { "yibao_platform_last_failure_timestamp_seconds", "gauge",
      "When a request last got no usable platform answer (0: not since "
      "the start).",
      yibao_status_prom_value, yibao_status_field(last_failure),
      YIBAO_STATUS_VALUE_TIME },

    { "yibao_platform_error_ratio", "gauge",
      "Share of the requests sent to the platform without a usable "
      "answer, over a sliding window.",
      yibao_status_prom_window, 0, 1 },

    { "yibao_platform_requests", "gauge",
      "Requests sent to the platform over a sliding window.",
      yibao_status_prom_window, 0, 0 },

    { "yibao_store_up", "gauge",
      "1 when the state store is usable.",
      yibao_status_prom_store_up, 0, 0 },

    { "yibao_store_degraded", "gauge",
      "1 when the gateway runs on a fallback store.",
      yibao_status_prom_value, yibao_status_field(store_degraded),
      YIBAO_STATUS_VALUE_FLAG },

    { "yibao_store_errors_total", "counter",
      "Requests that found the state store down, and failed store "
      "operations.",
      yibao_status_prom_value, yibao_status_field(store_errors),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_journal_store_durable", "gauge",
      "1 when the journal's store keeps it over a restart (Redis with an "
      "AOF or RDB snapshots), 0 when it does not or that is not known.",
      yibao_status_prom_journal, 0, 0 },

    { "yibao_journal_forgotten", "gauge",
      "1 while the journal's store cannot vouch for its records (it lost "
      "them within the journal's ttl): a money-moving msgid it does not "
      "know is checked with the platform (5203) first.",
      yibao_status_prom_journal, 0, 1 },

    { "yibao_journal_checked_until_timestamp_seconds", "gauge",
      "The end of that window (0: none).",
      yibao_status_prom_journal, 0, 2 },

    { "yibao_journal_store_losses_total", "counter",
      "Losses of the journal's records that this node found.",
      yibao_status_prom_value, yibao_status_field(journal_losses),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_journal_checks_total", "counter",
      "Money-moving msgids the journal did not know while it could not "
      "vouch, checked with the platform (5203) before sending, by result.",
      yibao_status_prom_checks, 0, 0 },

    { "yibao_ratelimit_total", "counter",
      "Rate limit decisions.",
      yibao_status_prom_events, 0, YIBAO_STATUS_EV_RATELIMIT_PASSED },

    { "yibao_cache_total", "counter",
      "Answer cache lookups.",
      yibao_status_prom_events, 0, YIBAO_STATUS_EV_CACHE_HIT },

    { "yibao_keys", "gauge",
      "Platform keys (AK/SK) of the keys file by state: never used, "
      "activated, expiring within 30 days, expired, not yet valid.",
      yibao_status_prom_keys, 0, 0 },

    { "yibao_mapping_rows", "gauge",
      "Rows of the code mapping tables loaded.",
      yibao_status_prom_value, yibao_status_field(mapping_rows),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_mapping_bytes", "gauge",
      "Memory held by the code mapping tables.",
      yibao_status_prom_value, yibao_status_field(mapping_bytes),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_translate_rules", "gauge",
      "Translation rules loaded.",
      yibao_status_prom_value, yibao_status_field(rules),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_registry_clinics", "gauge",
      "Clinics in the registry.",
      yibao_status_prom_value, yibao_status_field(clinics_registered),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_registry_callers", "gauge",
      "Calling systems in the registry.",
      yibao_status_prom_value, yibao_status_field(callers),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_config_load_timestamp_seconds", "gauge",
      "When the configuration (and the tables) was last read.",
      yibao_status_prom_value, yibao_status_field(loaded),
      YIBAO_STATUS_VALUE_TIME },

    { "yibao_config_reloads_total", "counter",
      "Reloads since the counters were created.",
      yibao_status_prom_value, yibao_status_field(reloads),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_start_time_seconds", "gauge",
      "When the counters were created.",
      yibao_status_prom_value, yibao_status_field(started),
      YIBAO_STATUS_VALUE_TIME },

    { "yibao_failing_clinics", "gauge",
      "Clinics in the failing-clinics table (the clinics themselves are "
      "in the JSON status).",
      yibao_status_prom_value, yibao_status_field(clinics.n),
      YIBAO_STATUS_VALUE_U32 },

    { "yibao_failing_clinics_evicted_total", "counter",
      "Clinics dropped from the full failing-clinics table.",
      yibao_status_prom_value, yibao_status_field(clinics.evicted),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_audit_findings_total", "counter",
      "Findings of the fee-line audit by rule (the rules file's ids; the "
      "platform's audit as its infno, source platform), mode and "
      "severity.",
      yibao_status_prom_audit, 0, 0 },

    { "yibao_audit_platform_misses_total", "counter",
      "Transactions that went on without the platform's audit (3101/3102), "
      "by reason.",
      yibao_status_prom_audit_misses, 0, 0 },

    { "yibao_audit_clinics_evicted_total", "counter",
      "Clinics dropped from the full table of clinics by audit findings.",
      yibao_status_prom_value, yibao_status_field(audit.evicted),
      YIBAO_STATUS_VALUE_U64 },

    { "yibao_offline_records", "gauge",
      "记账 records kept on this node, by state (per township hospital in "
      "the JSON status and the offline API's summary).",
      yibao_status_prom_offline, 0, 0 },

    { "yibao_offline_unverified_records", "gauge",
      "记账 records that fail their check (changed, or their clinic's "
      "chain broken before them).",
      yibao_status_prom_offline, 0, 1 },

    { "yibao_offline_oldest_open_timestamp_seconds", "gauge",
      "When the oldest 记账 record still to be settled was taken (0: "
      "none).",
      yibao_status_prom_offline, 0, 2 },

    { NULL, NULL, NULL, NULL, 0, 0 }
};


const char *
yibao_status_class_name(int cls)
{
    if (cls < 0 || cls >= YIBAO_STATUS_NCLASSES) {
        return "unknown";
    }

    return yibao_status_classes[cls];
}


int
yibao_status_classify(const yibao_status_outcome_t *o)
{
    int  g;

    g = o->gwerr;

    if (g != 0) {

        switch (g) {

        case YIBAO_GWERR_UPSTREAM_TIMEOUT:
            return o->repeatable ? YIBAO_STATUS_UPSTREAM_FAILURE
                                 : YIBAO_STATUS_UNKNOWN_OUTCOME;

        case YIBAO_GWERR_UPSTREAM_UNREACHABLE:
        case YIBAO_GWERR_UPSTREAM_STATUS:
        case YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE:
        case YIBAO_GWERR_UPSTREAM_TOO_LARGE:
            return YIBAO_STATUS_UPSTREAM_FAILURE;

        case YIBAO_GWERR_SIGN_FAILED:
        case YIBAO_GWERR_MSGID_EXHAUSTED:
        case YIBAO_GWERR_NONCE_STORE_FULL:
            return YIBAO_STATUS_REJECTED;

        default:
            break;
        }

        if (g >= 6000) {
            return YIBAO_STATUS_UNKNOWN_OUTCOME;
        }

        if (g >= 1000 && g < 5000) {
            return YIBAO_STATUS_REJECTED;
        }

        return o->forwarded ? YIBAO_STATUS_UNKNOWN_OUTCOME
                            : YIBAO_STATUS_REJECTED;
    }

    if (o->infcode_known) {
        return (o->infcode == 0) ? YIBAO_STATUS_OK
                                 : YIBAO_STATUS_PLATFORM_ERROR;
    }

    if (o->http_status > 0 && o->http_status < 400) {
        return YIBAO_STATUS_OK;
    }

    if (!o->forwarded) {
        return YIBAO_STATUS_REJECTED;
    }

    return o->repeatable ? YIBAO_STATUS_UPSTREAM_FAILURE
                         : YIBAO_STATUS_UNKNOWN_OUTCOME;
}


int
yibao_status_infno_slot(const unsigned char *p, size_t len)
{
    int  i;

    if (p == NULL || len == 0 || len > 5) {
        return YIBAO_STATUS_OTHER;
    }

    for (i = 0; i < YIBAO_STATUS_OTHER; i++) {
        if (strlen(yibao_status_infnos[i]) == len
            && memcmp(yibao_status_infnos[i], p, len) == 0)
        {
            return i;
        }
    }

    return YIBAO_STATUS_OTHER;
}


const char *
yibao_status_infno_name(int slot)
{
    if (slot < 0 || slot >= YIBAO_STATUS_INFNOS) {
        return yibao_status_infnos[YIBAO_STATUS_OTHER];
    }

    return yibao_status_infnos[slot];
}


int
yibao_status_bucket(uint64_t ms)
{
    int  i;

    for (i = 0; i < YIBAO_STATUS_BUCKETS - 1; i++) {
        if (ms <= yibao_status_bucket_ms[i]) {
            return i;
        }
    }

    return YIBAO_STATUS_BUCKETS - 1;
}


int64_t
yibao_status_quantile(const uint64_t *b, unsigned q)
{
    int       i;
    uint64_t  total, rank, prev, lower, upper;

    total = yibao_status_sum(b, YIBAO_STATUS_BUCKETS);

    if (total == 0) {
        return -1;
    }

    if (q > 1000) {
        q = 1000;
    }

    /* in thousandths of a request, to stay in integers */

    rank = total * q;
    prev = 0;

    for (i = 0; i < YIBAO_STATUS_BUCKETS; i++) {

        if (b[i] != 0 && (prev + b[i]) * 1000 >= rank) {
            break;
        }

        prev += b[i];
    }

    if (i >= YIBAO_STATUS_BUCKETS - 1) {
        return yibao_status_bucket_ms[YIBAO_STATUS_BUCKETS - 2];
    }

    lower = (i == 0) ? 0 : yibao_status_bucket_ms[i - 1];
    upper = yibao_status_bucket_ms[i];

    if (rank < prev * 1000) {
        rank = prev * 1000;
    }

    return (int64_t) (lower + (upper - lower) * (rank - prev * 1000)
                              / (b[i] * 1000));
}


int
yibao_status_reason_slot(int gwerr)
{
    int  k, n;

    if (gwerr < 1000 || gwerr >= 7000) {
        return 0;
    }

    k = gwerr / 1000 - 1;
    n = gwerr % 1000;

    if (n >= 200) {
        return 0;
    }

    return 1 + k * 200 + n;
}


int
yibao_status_reason_code(int slot)
{
    if (slot <= 0 || slot >= YIBAO_STATUS_REASONS) {
        return 0;
    }

    slot--;

    return (slot / 200 + 1) * 1000 + slot % 200;
}


const char *
yibao_status_reason_name(int code, char *buf)
{
    int                   i;
    const yibao_gwerr_t  *e;

    if (code <= 0) {
        return "other";
    }

    e = yibao_gwerr_find(code);

    if (e->code == code) {
        return e->name;
    }

    buf[0] = 'y';
    buf[1] = 'b';

    for (i = 0; i < 4; i++) {
        buf[5 - i] = (char) ('0' + code % 10);
        code /= 10;
    }

    buf[6] = '\0';

    return buf;
}


void
yibao_status_offline_count(yibao_status_offline_entity_t *e,
    const char *state, uint64_t recorded_ms, int verified)
{
    int      i;
    int64_t  t;

    i = yibao_offline_state_index(state);
    if (i < 0) {
        return;
    }

    e->states[i]++;
    e->unverified += verified ? 0 : 1;

    t = (int64_t) (recorded_ms / 1000);

    if (yibao_offline_open(i) && t > 0
        && (e->oldest_open == 0 || t < e->oldest_open))
    {
        e->oldest_open = t;
    }
}


/* whether a's oldest open record is older than b's (none: never) */

static int
yibao_status_offline_older(const yibao_status_offline_entity_t *a,
    const yibao_status_offline_entity_t *b)
{
    return a->oldest_open != 0
           && (b->oldest_open == 0 || a->oldest_open < b->oldest_open);
}


void
yibao_status_offline_add(yibao_status_offline_t *t,
    const yibao_status_offline_entity_t *e)
{
    uint32_t  i, newest;

    for (i = 0; i < YIBAO_STATUS_OFFLINE_STATES; i++) {
        t->states[i] += e->states[i];
    }

    t->unverified += e->unverified;
    t->entities++;

    if (e->oldest_open != 0
        && (t->oldest_open == 0 || e->oldest_open < t->oldest_open))
    {
        t->oldest_open = e->oldest_open;
    }

    if (t->n < YIBAO_STATUS_OFFLINE_ENTITIES) {
        t->entity[t->n++] = *e;
        return;
    }

    newest = 0;

    for (i = 1; i < t->n; i++) {
        if (yibao_status_offline_older(&t->entity[newest], &t->entity[i])) {
            newest = i;
        }
    }

    if (yibao_status_offline_older(e, &t->entity[newest])) {
        t->entity[newest] = *e;
    }
}


void
yibao_status_clinics_record(yibao_status_clinics_t *t,
    const yibao_status_failure_t *f)
{
    uint32_t               i, oldest;
    yibao_status_clinic_t  *c;
    yibao_status_error_t   *e;

    if (f->code_len == 0 || f->code_len > YIBAO_STATUS_CLINIC_LEN) {
        return;
    }

    c = NULL;

    for (i = 0; i < t->n; i++) {
        if (t->clinic[i].code_len == f->code_len
            && memcmp(t->clinic[i].code, f->code, f->code_len) == 0)
        {
            c = &t->clinic[i];
            break;
        }
    }

    if (c == NULL) {

        if (t->n < YIBAO_STATUS_CLINICS) {
            c = &t->clinic[t->n++];

        } else {
            oldest = 0;

            for (i = 1; i < t->n; i++) {
                if (t->clinic[i].last < t->clinic[oldest].last) {
                    oldest = i;
                }
            }

            c = &t->clinic[oldest];
            t->evicted++;
        }

        memset(c, 0, sizeof(yibao_status_clinic_t));
        memcpy(c->code, f->code, f->code_len);
        c->code_len = (uint8_t) f->code_len;
        c->first = f->now;
    }

    c->failures++;

    if (f->cls >= 0 && f->cls < YIBAO_STATUS_NCLASSES) {
        c->classes[f->cls]++;
    }

    c->last = f->now;

    e = &c->errors[c->next];
    memset(e, 0, sizeof(yibao_status_error_t));

    e->time = f->now;
    e->gwerr = f->gwerr;
    e->cls = (uint8_t) f->cls;

    if (f->infcode_known) {
        e->infcode_known = 1;
        e->infcode = (f->infcode > INT32_MAX) ? INT32_MAX
                     : (f->infcode < INT32_MIN) ? INT32_MIN
                     : (int32_t) f->infcode;
    }

    if (f->infno != NULL && yibao_code_is_infno(f->infno, f->infno_len)) {
        memcpy(e->infno, f->infno, f->infno_len);
        e->infno_len = (uint8_t) f->infno_len;
    }

    c->next = (c->next + 1) % YIBAO_STATUS_ERRORS;

    if (c->nerrors < YIBAO_STATUS_ERRORS) {
        c->nerrors++;
    }
}


void
yibao_status_audit_record(yibao_status_audit_t *t, const unsigned char *log,
    size_t len, const unsigned char *clinic, size_t clinic_len, int64_t now)
{
    size_t    i, start;
    uint64_t  found;

    found = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && log[i] != ' ') {
            continue;
        }

        if (i > start) {
            yibao_status_audit_word(t, log + start, i - start, &found);
        }

        start = i + 1;
    }

    if (found) {
        yibao_status_audit_clinic(t, clinic, clinic_len, found, now);
    }
}


/* one word of $yibao_audit */

static void
yibao_status_audit_word(yibao_status_audit_t *t, const unsigned char *w,
    size_t len, uint64_t *found)
{
    int                         mode, sev;
    size_t                      i, n, f[6], flen[6];
    yibao_status_audit_rule_t  *r;

    /* the fields between ':' */

    n = 0;
    f[0] = 0;

    for (i = 0; i <= len && n < 6; i++) {
        if (i < len && w[i] != ':') {
            continue;
        }

        flen[n] = i - f[n];
        n++;

        if (n < 6) {
            f[n] = i + 1;
        }
    }

    if (n == 2) {
        if (yibao_code_is_infno(w, flen[0])) {
            i = (size_t) yibao_status_audit_index(yibao_status_audit_misses,
                                                  2, w + f[1], flen[1]);
            if (i < 2) {
                t->misses[i]++;
            }
        }

        return;
    }

    if (n != 4 && n != 5) {
        return;
    }

    /* 4: rule:mode:sev:amount, 5: infno:rule:mode:sev:amount */

    mode = yibao_status_audit_index(yibao_status_audit_modes,
                                    YIBAO_STATUS_AUDIT_MODES,
                                    w + f[n - 3], flen[n - 3]);
    sev = yibao_status_audit_index(yibao_status_audit_sevs,
                                   YIBAO_STATUS_AUDIT_SEVS - 1,
                                   w + f[n - 2], flen[n - 2]);

    if (mode < 0) {
        return;
    }

    if (sev < 0) {
        sev = YIBAO_STATUS_AUDIT_SEVS - 1;
    }

    if (n == 5) {
        if (!yibao_code_is_infno(w, flen[0]) || flen[0] != 4) {
            return;
        }

        r = yibao_status_audit_rule(t, w, 4, 1);

    } else {
        if (flen[0] == 0 || flen[0] > YIBAO_STATUS_AUDIT_ID_LEN) {
            return;
        }

        for (i = 0; i < flen[0]; i++) {
            if (!((w[i] >= 'A' && w[i] <= 'Z') || (w[i] >= 'a' && w[i] <= 'z')
                  || (w[i] >= '0' && w[i] <= '9') || w[i] == '_'
                  || w[i] == '-'))
            {
                return;
            }
        }

        r = yibao_status_audit_rule(t, w, flen[0], 0);
    }

    r->findings[mode][sev]++;
    r->total++;
    (*found)++;
}


static int
yibao_status_audit_index(const char *const *names, size_t n,
    const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], p, len) == 0) {
            return (int) i;
        }
    }

    return -1;
}


/* the row of a rule: found, made, or "other" when the table is full */

static yibao_status_audit_rule_t *
yibao_status_audit_rule(yibao_status_audit_t *t, const unsigned char *id,
    size_t len, unsigned platform)
{
    uint32_t                    i;
    yibao_status_audit_rule_t  *r;

    for (i = 0; i < t->nrules && i < YIBAO_STATUS_AUDIT_RULES; i++) {
        r = &t->rule[i];

        if (r->id_len == len && r->platform == platform
            && memcmp(r->id, id, len) == 0)
        {
            return r;
        }
    }

    if (t->nrules < YIBAO_STATUS_AUDIT_RULES - 1) {
        r = &t->rule[t->nrules++];
        memcpy(r->id, id, len);
        r->id_len = (uint8_t) len;
        r->platform = (uint8_t) platform;
        return r;
    }

    r = &t->rule[YIBAO_STATUS_AUDIT_RULES - 1];

    if (t->nrules < YIBAO_STATUS_AUDIT_RULES) {
        t->nrules = YIBAO_STATUS_AUDIT_RULES;
        memcpy(r->id, "other", 5);
        r->id_len = 5;
    }

    return r;
}


/* a clinic's findings; a full table drops the clinic with the fewest */

static void
yibao_status_audit_clinic(yibao_status_audit_t *t, const unsigned char *code,
    size_t len, uint64_t found, int64_t now)
{
    uint32_t                      i, low;
    yibao_status_audit_clinic_t  *c;

    if (len == 0 || len > YIBAO_STATUS_CLINIC_LEN) {
        return;
    }

    c = NULL;

    for (i = 0; i < t->nclinics && i < YIBAO_STATUS_AUDIT_CLINICS; i++) {
        if (t->clinic[i].code_len == len
            && memcmp(t->clinic[i].code, code, len) == 0)
        {
            c = &t->clinic[i];
            break;
        }
    }

    if (c == NULL) {

        if (t->nclinics < YIBAO_STATUS_AUDIT_CLINICS) {
            c = &t->clinic[t->nclinics++];

        } else {
            low = 0;

            for (i = 1; i < YIBAO_STATUS_AUDIT_CLINICS; i++) {
                if (t->clinic[i].findings < t->clinic[low].findings
                    || (t->clinic[i].findings == t->clinic[low].findings
                        && t->clinic[i].last < t->clinic[low].last))
                {
                    low = i;
                }
            }

            c = &t->clinic[low];
            t->evicted++;
        }

        memset(c, 0, sizeof(yibao_status_audit_clinic_t));
        memcpy(c->code, code, len);
        c->code_len = (uint8_t) len;
    }

    c->findings += found;
    c->transactions++;
    c->last = now;
}


void
yibao_status_window(const yibao_status_snapshot_t *s, int slot, unsigned w,
    yibao_status_window_t *out)
{
    int64_t                       now_min, m;
    uint64_t                      elapsed;
    const yibao_status_minute_t  *entry;

    memset(out, 0, sizeof(yibao_status_window_t));

    if (w == 0 || s->now <= 0) {
        return;
    }

    if (w >= YIBAO_STATUS_MINUTES) {
        w = YIBAO_STATUS_MINUTES - 1;
    }

    now_min = s->now / 60;
    elapsed = (uint64_t) (s->now % 60);

    for (m = now_min - (int64_t) w + 1; m <= now_min; m++) {
        if (yibao_status_minute_valid(s, m, &entry)) {
            yibao_status_slice_add(entry, slot, 60, &out->forwarded,
                                   out->requests, out->latency);
        }
    }

    /* the part of the oldest minute the window still covers */

    if (elapsed < 60
        && yibao_status_minute_valid(s, now_min - (int64_t) w, &entry))
    {
        yibao_status_slice_add(entry, slot, 60 - elapsed, &out->forwarded,
                               out->requests, out->latency);
    }
}


static int
yibao_status_minute_valid(const yibao_status_snapshot_t *s, int64_t minute,
    const yibao_status_minute_t **m)
{
    const yibao_status_minute_t  *entry;

    if (minute <= 0) {
        return 0;
    }

    entry = &s->minutes[minute % YIBAO_STATUS_MINUTES];

    if (entry->minute != (uint64_t) minute) {
        return 0;
    }

    *m = entry;

    return 1;
}


static void
yibao_status_slice_add(const yibao_status_minute_t *m, int slot,
    uint64_t weight, uint64_t *forwarded, uint64_t *requests,
    uint64_t *latency)
{
    int                          i, from, to;
    const yibao_status_slice_t  *sl;

    if (slot < 0) {
        from = 0;
        to = YIBAO_STATUS_INFNOS;

    } else {
        from = slot;
        to = slot + 1;
    }

    for ( /* void */ ; from < to; from++) {
        sl = &m->infno[from];

        *forwarded += sl->forwarded * weight;

        for (i = 0; i < YIBAO_STATUS_NCLASSES; i++) {
            requests[i] += sl->requests[i] * weight;
        }

        for (i = 0; i < YIBAO_STATUS_BUCKETS; i++) {
            latency[i] += sl->latency[i] * weight;
        }
    }
}


static uint64_t
yibao_status_sum(const uint64_t *v, size_t n)
{
    size_t    i;
    uint64_t  sum;

    sum = 0;

    for (i = 0; i < n; i++) {
        sum += v[i];
    }

    return sum;
}


static uint64_t
yibao_status_round60(uint64_t v)
{
    return (v + 30) / 60;
}


static int
yibao_status_active(const yibao_status_snapshot_t *s, int slot)
{
    return yibao_status_sum(s->infno[slot].requests, YIBAO_STATUS_NCLASSES)
           != 0;
}


/* the requests of a window without a usable answer, at most forwarded */

static uint64_t
yibao_status_window_failed(const yibao_status_window_t *win)
{
    uint64_t  failed;

    failed = win->requests[YIBAO_STATUS_UPSTREAM_FAILURE]
             + win->requests[YIBAO_STATUS_UNKNOWN_OUTCOME];

    return failed < win->forwarded ? failed : win->forwarded;
}


/* the class of an upstream error code: the request was sent */

static const char *
yibao_status_reason_class(int code)
{
    yibao_status_outcome_t  oc;

    memset(&oc, 0, sizeof(yibao_status_outcome_t));
    oc.gwerr = code;
    oc.forwarded = 1;

    return yibao_status_classes[yibao_status_classify(&oc)];
}


static const char *
yibao_status_store_name(const yibao_status_snapshot_t *s)
{
    return s->store == YIBAO_STATUS_STORE_REDIS ? "redis" : "embedded";
}


size_t
yibao_status_json_string(const unsigned char *p, size_t len,
    unsigned char *out)
{
    yibao_status_out_t  o;

    o.buf = out;
    o.len = 0;
    o.size = (size_t) -1;

    yibao_status_put_json_str(&o, p, len);

    return o.len;
}


size_t
yibao_status_label_value(const unsigned char *p, size_t len,
    unsigned char *out)
{
    yibao_status_out_t  o;

    o.buf = out;
    o.len = 0;
    o.size = (size_t) -1;

    yibao_status_put_label(&o, p, len);

    return o.len;
}


int
yibao_status_render_json(const yibao_status_snapshot_t *s, yibao_alloc_t *a,
    yibao_str_t *out)
{
    return yibao_status_render(s, yibao_status_json, a, out);
}


int
yibao_status_render_prometheus(const yibao_status_snapshot_t *s,
    yibao_alloc_t *a, yibao_str_t *out)
{
    return yibao_status_render(s, yibao_status_prometheus, a, out);
}


static int
yibao_status_render(const yibao_status_snapshot_t *s,
    yibao_status_render_pt render, yibao_alloc_t *a, yibao_str_t *out)
{
    yibao_status_out_t  o;

    memset(&o, 0, sizeof(yibao_status_out_t));

    render(&o, s);

    o.size = o.len;
    o.len = 0;

    o.buf = yibao_alloc(a, o.size ? o.size : 1);
    if (o.buf == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    render(&o, s);

    if (o.len != o.size) {
        return YIBAO_ERR_INVALID;
    }

    out->data = o.buf;
    out->len = o.len;

    return YIBAO_OK;
}


static void
yibao_status_put(yibao_status_out_t *o, const void *p, size_t n)
{
    if (o->buf != NULL && n <= o->size && o->len <= o->size - n) {
        memcpy(o->buf + o->len, p, n);
    }

    o->len += n;
}


static void
yibao_status_puts(yibao_status_out_t *o, const char *s)
{
    yibao_status_put(o, s, strlen(s));
}


static void
yibao_status_put_u64(yibao_status_out_t *o, uint64_t v)
{
    char   buf[24], *p;

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    yibao_status_put(o, p, buf + sizeof(buf) - p);
}


static void
yibao_status_put_i64(yibao_status_out_t *o, int64_t v)
{
    if (v < 0) {
        yibao_status_put(o, "-", 1);
        yibao_status_put_u64(o, (uint64_t) 0 - (uint64_t) v);
        return;
    }

    yibao_status_put_u64(o, (uint64_t) v);
}


/* num / den with 4 decimals, rounded; num <= den */

static void
yibao_status_put_ratio(yibao_status_out_t *o, uint64_t num, uint64_t den)
{
    char      frac[4];
    int       i;
    uint64_t  v;

    if (den == 0) {
        yibao_status_put(o, "0", 1);
        return;
    }

    v = (num * 10000 + den / 2) / den;

    yibao_status_put_u64(o, v / 10000);
    yibao_status_put(o, ".", 1);

    v %= 10000;

    for (i = 3; i >= 0; i--) {
        frac[i] = (char) ('0' + v % 10);
        v /= 10;
    }

    yibao_status_put(o, frac, 4);
}


/* the same for JSON, null when den is 0 */

static void
yibao_status_put_share(yibao_status_out_t *o, uint64_t num, uint64_t den)
{
    if (den == 0) {
        yibao_status_puts(o, "null");
        return;
    }

    yibao_status_put_ratio(o, num, den);
}


static void
yibao_status_put_seconds(yibao_status_out_t *o, uint64_t ms)
{
    char  frac[4];

    frac[0] = '.';
    frac[1] = (char) ('0' + ms % 1000 / 100);
    frac[2] = (char) ('0' + ms % 100 / 10);
    frac[3] = (char) ('0' + ms % 10);

    yibao_status_put_u64(o, ms / 1000);
    yibao_status_put(o, frac, 4);
}


/*
 * A JSON string: quotes, backslashes and control characters escaped,
 * and "<", ">", "&" too, so the document is safe inside HTML.  Other
 * bytes are copied: the strings are UTF-8 checked when read.
 */

static void
yibao_status_put_json_str(yibao_status_out_t *o, const unsigned char *p,
    size_t len)
{
    yibao_status_put(o, "\"", 1);
    yibao_json_escape(p, len, YIBAO_JSON_ESCAPE_HTML, yibao_status_put_run,
                      o);
    yibao_status_put(o, "\"", 1);
}


static void
yibao_status_put_run(void *ctx, const void *p, size_t len)
{
    yibao_status_put(ctx, p, len);
}


/* A Prometheus label value, quoted: backslash, quote and newline escaped */

static void
yibao_status_put_label(yibao_status_out_t *o, const unsigned char *p,
    size_t len)
{
    size_t  i, start;

    yibao_status_put(o, "\"", 1);

    start = 0;

    for (i = 0; i < len; i++) {

        if (p[i] != '\\' && p[i] != '"' && p[i] != '\n') {
            continue;
        }

        yibao_status_put(o, p + start, i - start);
        start = i + 1;

        yibao_status_put(o, (p[i] == '\\') ? "\\\\"
                            : (p[i] == '"') ? "\\\"" : "\\n", 2);
    }

    yibao_status_put(o, p + start, len - start);
    yibao_status_put(o, "\"", 1);
}


/* 1 while the journal's store cannot vouch for its records */

static int
yibao_status_forgotten(const yibao_status_snapshot_t *s)
{
    return s->journal_until > 0 && s->journal_until / 1000 >= s->now;
}


/* a time in seconds since the epoch, null for "never" */

static void
yibao_status_put_time(yibao_status_out_t *o, int64_t t)
{
    if (t <= 0) {
        yibao_status_puts(o, "null");
        return;
    }

    yibao_status_put_i64(o, t);
}


static void
yibao_status_put_quantile(yibao_status_out_t *o, const uint64_t *b,
    unsigned q)
{
    int64_t  v;

    v = yibao_status_quantile(b, q);

    if (v < 0) {
        yibao_status_puts(o, "null");
        return;
    }

    yibao_status_put_i64(o, v);
}


/* "YB2003", or null for code 0 */

static void
yibao_status_put_code(yibao_status_out_t *o, int code)
{
    char  buf[8];
    int   i;

    if (code <= 0 || code > 9999) {
        yibao_status_puts(o, "null");
        return;
    }

    buf[0] = '"';
    buf[1] = 'Y';
    buf[2] = 'B';

    for (i = 6; i >= 3; i--) {
        buf[i] = (char) ('0' + code % 10);
        code /= 10;
    }

    buf[7] = '"';

    yibao_status_put(o, buf, 8);
}


/*
 * The status document (docs/status.md), section by section: totals,
 * platform, store, rate limits and cache, configuration, the series,
 * the transactions seen, the reasons and the failing clinics.
 */

static void
yibao_status_json(yibao_status_out_t *o, const yibao_status_snapshot_t *s)
{
    int       slot;
    unsigned  first;

    yibao_status_puts(o, "{\"version\":1,\"now\":");
    yibao_status_put_i64(o, s->now);
    yibao_status_puts(o, ",\"started\":");
    yibao_status_put_time(o, s->started);
    yibao_status_puts(o, ",\"config_loaded\":");
    yibao_status_put_time(o, s->loaded);
    yibao_status_puts(o, ",\"reloads\":");
    yibao_status_put_u64(o, s->reloads);

    yibao_status_json_totals(o, s);
    yibao_status_json_platform(o, s);
    yibao_status_json_store(o, s);

    yibao_status_puts(o, "},\"series\":");
    yibao_status_json_series(o, s, -1, 1);

    /* the transactions that have been seen, in table order */

    yibao_status_puts(o, ",\"infnos\":[");

    first = 1;

    for (slot = 0; slot < YIBAO_STATUS_INFNOS; slot++) {

        if (!yibao_status_active(s, slot)) {
            continue;
        }

        yibao_status_puts(o, first ? "{" : ",{");
        first = 0;

        yibao_status_json_infno(o, s, slot);
    }

    yibao_status_puts(o, "],\"rejections\":");
    yibao_status_json_reasons(o, s->rejections, 0);
    yibao_status_puts(o, ",\"upstream_errors\":");
    yibao_status_json_reasons(o, s->upstream_errors, 1);

    yibao_status_puts(o, ",\"clinics\":");
    yibao_status_json_clinics(o, s);

    yibao_status_puts(o, ",\"audit\":");
    yibao_status_json_audit(o, s);
    yibao_status_puts(o, ",\"offline\":");
    yibao_status_json_offline(o, s);

    yibao_status_puts(o, "}\n");
}


/* totals over every transaction since the zone was created */

static void
yibao_status_json_totals(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    int       slot, c;
    uint64_t  total[YIBAO_STATUS_NCLASSES], n;

    memset(total, 0, sizeof(total));

    for (slot = 0; slot < YIBAO_STATUS_INFNOS; slot++) {
        for (c = 0; c < YIBAO_STATUS_NCLASSES; c++) {
            total[c] += s->infno[slot].requests[c];
        }
    }

    n = yibao_status_sum(total, YIBAO_STATUS_NCLASSES);

    yibao_status_puts(o, ",\"totals\":{\"requests\":");
    yibao_status_put_u64(o, n);
    yibao_status_json_classes(o, total);
    yibao_status_puts(o, ",\"success_ratio\":");
    yibao_status_put_share(o, total[YIBAO_STATUS_OK], n);
}


/* the platform: sent requests without a usable answer, by window */

static void
yibao_status_json_platform(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned               i;
    uint64_t               fwd, failed;
    yibao_status_window_t  win;

    yibao_status_puts(o, "},\"platform\":{\"last_success\":");
    yibao_status_put_time(o, s->last_success);
    yibao_status_puts(o, ",\"last_failure\":");
    yibao_status_put_time(o, s->last_failure);
    yibao_status_puts(o, ",\"windows\":[");

    for (i = 0; i < 3; i++) {
        yibao_status_window(s, -1, yibao_status_windows[i], &win);

        failed = yibao_status_window_failed(&win);
        fwd = win.forwarded;

        yibao_status_puts(o, i ? ",{\"window\":\"" : "{\"window\":\"");
        yibao_status_put_u64(o, yibao_status_windows[i]);
        yibao_status_puts(o, "m\",\"forwarded\":");
        yibao_status_put_u64(o, yibao_status_round60(fwd));
        yibao_status_puts(o, ",\"failed\":");
        yibao_status_put_u64(o, yibao_status_round60(failed));
        yibao_status_puts(o, ",\"platform_errors\":");
        yibao_status_put_u64(o, yibao_status_round60(
                                   win.requests[YIBAO_STATUS_PLATFORM_ERROR]));
        yibao_status_puts(o, ",\"error_ratio\":");
        yibao_status_put_share(o, failed, fwd);
        yibao_status_puts(o, "}");
    }

    yibao_status_puts(o, "]");
}


/* the store, the journal's, the rate-limit and cache events, the config */

static void
yibao_status_json_store(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned  i;

    yibao_status_puts(o, "},\"store\":{\"backend\":\"");
    yibao_status_puts(o, yibao_status_store_name(s));
    yibao_status_puts(o, s->store_up ? "\",\"up\":true" : "\",\"up\":false");
    yibao_status_puts(o, s->store_degraded ? ",\"degraded\":true"
                                           : ",\"degraded\":false");
    yibao_status_puts(o, ",\"errors\":");
    yibao_status_put_u64(o, s->store_errors);

    yibao_status_json_journal(o, s);

    yibao_status_puts(o, "},\"ratelimit\":{");

    for (i = 0; i < YIBAO_STATUS_EVENTS; i++) {

        if (i == YIBAO_STATUS_EV_CACHE_HIT) {
            yibao_status_puts(o, "},\"cache\":{");

        } else if (i != 0) {
            yibao_status_puts(o, ",");
        }

        yibao_status_puts(o, "\"");
        yibao_status_puts(o, yibao_status_events[i]);
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, s->events[i]);
    }

    yibao_status_puts(o, "},\"config\":{\"mapping_rows\":");
    yibao_status_put_u64(o, s->mapping_rows);
    yibao_status_puts(o, ",\"mapping_bytes\":");
    yibao_status_put_u64(o, s->mapping_bytes);
    yibao_status_puts(o, ",\"translate_rules\":");
    yibao_status_put_u64(o, s->rules);
    yibao_status_puts(o, ",\"clinics\":");
    yibao_status_put_u64(o, s->clinics_registered);
    yibao_status_puts(o, ",\"callers\":");
    yibao_status_put_u64(o, s->callers);
    yibao_status_puts(o, ",\"keys\":");
    yibao_status_put_u64(o, s->keys);

    /* the keys' states, as the keys API names them */

    for (i = 0; i < YIBAO_STATUS_KEY_STATES; i++) {
        yibao_status_puts(o, i ? ",\"" : "},\"keys\":{\"");
        yibao_status_puts(o, yibao_key_state_name((yibao_key_state_e) i));
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, s->key_states[i]);
    }
}


/* the journal's store: a window while it cannot vouch for its records */

static void
yibao_status_json_journal(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned  i;

    yibao_status_puts(o, "},\"journal\":{\"durable\":");
    yibao_status_puts(o, s->journal_durable < 0 ? "null"
                         : (s->journal_durable ? "true" : "false"));
    yibao_status_puts(o, ",\"forgotten_at\":");
    yibao_status_put_time(o, yibao_status_forgotten(s)
                             ? s->journal_lost / 1000 : 0);
    yibao_status_puts(o, ",\"checked_until\":");
    yibao_status_put_time(o, yibao_status_forgotten(s)
                             ? s->journal_until / 1000 : 0);
    yibao_status_puts(o, ",\"losses\":");
    yibao_status_put_u64(o, s->journal_losses);
    yibao_status_puts(o, ",\"checks\":{");

    for (i = 0; i < YIBAO_STATUS_CHECKS; i++) {
        yibao_status_puts(o, i ? ",\"" : "\"");
        yibao_status_puts(o, yibao_status_checks[i]);
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, s->journal_checks[i]);
    }

    yibao_status_puts(o, "}");
}


/* the members of one transaction's object (the braces are the caller's) */

static void
yibao_status_json_infno(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, int slot)
{
    uint64_t                      n;
    yibao_status_window_t         win;
    const yibao_status_counts_t  *cnt;

    cnt = &s->infno[slot];
    n = yibao_status_sum(cnt->requests, YIBAO_STATUS_NCLASSES);

    yibao_status_puts(o, "\"infno\":\"");
    yibao_status_puts(o, yibao_status_infnos[slot]);
    yibao_status_puts(o, "\",\"requests\":");
    yibao_status_put_u64(o, n);
    yibao_status_json_classes(o, cnt->requests);
    yibao_status_puts(o, ",\"success_ratio\":");
    yibao_status_put_ratio(o, cnt->requests[YIBAO_STATUS_OK], n);

    yibao_status_json_latency(o, "latency_ms", cnt->total, cnt->total_ms);
    yibao_status_json_latency(o, "upstream_ms", cnt->upstream,
                              cnt->upstream_ms);

    yibao_status_window(s, slot, 15, &win);
    n = yibao_status_sum(win.requests, YIBAO_STATUS_NCLASSES);

    yibao_status_puts(o, ",\"last_15m\":{\"requests\":");
    yibao_status_put_u64(o, yibao_status_round60(n));
    yibao_status_puts(o, ",\"ok\":");
    yibao_status_put_u64(o, yibao_status_round60(
                                       win.requests[YIBAO_STATUS_OK]));
    yibao_status_puts(o, ",\"success_ratio\":");
    yibao_status_put_share(o, win.requests[YIBAO_STATUS_OK], n);
    yibao_status_puts(o, ",\"p50\":");
    yibao_status_put_quantile(o, win.latency, 500);
    yibao_status_puts(o, ",\"p95\":");
    yibao_status_put_quantile(o, win.latency, 950);

    yibao_status_puts(o, "},\"series\":");
    yibao_status_json_series(o, s, slot, 0);
    yibao_status_puts(o, "}");
}


/* ,"ok":n,"platform_error":n,... */

static void
yibao_status_json_classes(yibao_status_out_t *o, const uint64_t *counts)
{
    int  c;

    for (c = 0; c < YIBAO_STATUS_NCLASSES; c++) {
        yibao_status_puts(o, ",\"");
        yibao_status_puts(o, yibao_status_classes[c]);
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, counts[c]);
    }
}


static void
yibao_status_json_latency(yibao_status_out_t *o, const char *name,
    const uint64_t *b, uint64_t ms)
{
    uint64_t  n;

    n = yibao_status_sum(b, YIBAO_STATUS_BUCKETS);

    yibao_status_puts(o, ",\"");
    yibao_status_puts(o, name);
    yibao_status_puts(o, "\":{\"count\":");
    yibao_status_put_u64(o, n);
    yibao_status_puts(o, ",\"avg\":");

    if (n) {
        yibao_status_put_u64(o, (ms + n / 2) / n);

    } else {
        yibao_status_puts(o, "null");
    }

    yibao_status_puts(o, ",\"p50\":");
    yibao_status_put_quantile(o, b, 500);
    yibao_status_puts(o, ",\"p95\":");
    yibao_status_put_quantile(o, b, 950);
    yibao_status_puts(o, "}");
}


/*
 * The last YIBAO_STATUS_MINUTES minutes, oldest first, the current
 * (partial) minute last: requests and outcomes per minute, and the p95
 * latency (null for a minute without requests).  all: every class and
 * the start and step of the series; otherwise requests and ok only.
 */

static void
yibao_status_json_series(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, int slot, unsigned all)
{
    int                           c, k, last;
    int64_t                       now_min, m;
    uint64_t                      req[YIBAO_STATUS_MINUTES]
                                     [YIBAO_STATUS_NCLASSES];
    uint64_t                      lat[YIBAO_STATUS_BUCKETS], fwd;
    const yibao_status_minute_t  *entry;

    now_min = s->now / 60;
    fwd = 0;

    yibao_status_puts(o, "{");

    if (all) {
        yibao_status_puts(o, "\"start\":");
        yibao_status_put_i64(o, (now_min - YIBAO_STATUS_MINUTES + 1) * 60);
        yibao_status_puts(o, ",\"step\":60,");
    }

    memset(req, 0, sizeof(req));

    yibao_status_puts(o, "\"p95_ms\":[");

    for (k = 0; k < YIBAO_STATUS_MINUTES; k++) {
        m = now_min - YIBAO_STATUS_MINUTES + 1 + k;

        memset(lat, 0, sizeof(lat));

        if (yibao_status_minute_valid(s, m, &entry)) {
            yibao_status_slice_add(entry, slot, 1, &fwd, req[k], lat);
        }

        if (k) {
            yibao_status_puts(o, ",");
        }

        yibao_status_put_quantile(o, lat, 950);
    }

    yibao_status_puts(o, "],\"requests\":[");

    for (k = 0; k < YIBAO_STATUS_MINUTES; k++) {
        if (k) {
            yibao_status_puts(o, ",");
        }

        yibao_status_put_u64(o, yibao_status_sum(req[k],
                                                 YIBAO_STATUS_NCLASSES));
    }

    last = all ? YIBAO_STATUS_NCLASSES : YIBAO_STATUS_OK + 1;

    for (c = 0; c < last; c++) {
        yibao_status_puts(o, "],\"");
        yibao_status_puts(o, yibao_status_classes[c]);
        yibao_status_puts(o, "\":[");

        for (k = 0; k < YIBAO_STATUS_MINUTES; k++) {
            if (k) {
                yibao_status_puts(o, ",");
            }

            yibao_status_put_u64(o, req[k][c]);
        }
    }

    yibao_status_puts(o, "]}");
}


static void
yibao_status_json_reasons(yibao_status_out_t *o, const uint64_t *counts,
    unsigned upstream)
{
    int        slot, code;
    char       buf[16];
    unsigned   first;

    yibao_status_puts(o, "[");

    first = 1;

    for (slot = 0; slot < YIBAO_STATUS_REASONS; slot++) {

        if (counts[slot] == 0) {
            continue;
        }

        code = yibao_status_reason_code(slot);

        yibao_status_puts(o, first ? "{\"code\":" : ",{\"code\":");
        first = 0;

        yibao_status_put_code(o, code);
        yibao_status_puts(o, ",\"reason\":\"");
        yibao_status_puts(o, yibao_status_reason_name(code, buf));
        yibao_status_puts(o, "\"");

        if (upstream) {
            yibao_status_puts(o, ",\"class\":\"");
            yibao_status_puts(o, yibao_status_reason_class(code));
            yibao_status_puts(o, "\"");
        }

        yibao_status_puts(o, ",\"count\":");
        yibao_status_put_u64(o, counts[slot]);
        yibao_status_puts(o, "}");
    }

    yibao_status_puts(o, "]");
}


/* The failing clinics, the top s->top of them. */

static void
yibao_status_json_clinics(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned  i, j, k, n, top, order[YIBAO_STATUS_CLINICS];

    n = s->clinics.n;

    if (n > YIBAO_STATUS_CLINICS) {
        n = YIBAO_STATUS_CLINICS;
    }

    for (i = 0; i < n; i++) {
        order[i] = i;
    }

    for (i = 1; i < n; i++) {
        for (j = i; j > 0; j--) {
            if (!yibao_status_clinic_before(&s->clinics.clinic[order[j]],
                                            &s->clinics.clinic[order[j - 1]]))
            {
                break;
            }

            k = order[j];
            order[j] = order[j - 1];
            order[j - 1] = k;
        }
    }

    top = (s->top < n) ? s->top : n;

    yibao_status_puts(o, "{\"tracked\":");
    yibao_status_put_u64(o, n);
    yibao_status_puts(o, ",\"capacity\":");
    yibao_status_put_u64(o, YIBAO_STATUS_CLINICS);
    yibao_status_puts(o, ",\"evicted\":");
    yibao_status_put_u64(o, s->clinics.evicted);
    yibao_status_puts(o, ",\"top\":[");

    for (i = 0; i < top; i++) {
        if (i) {
            yibao_status_puts(o, ",");
        }

        yibao_status_json_clinic(o, s, order[i]);
    }

    yibao_status_puts(o, "]}");
}


/*
 * The audit's findings: totals, the rules and the clinics with the
 * most findings (most first; a tie by the table's order).
 */

static void
yibao_status_json_audit(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned                          i, j, k, m, v, n, top;
    uint64_t                          total;
    unsigned                          order[YIBAO_STATUS_AUDIT_RULES];
    const yibao_status_audit_t       *a;
    const yibao_status_audit_rule_t  *r;

    a = &s->audit;
    n = (a->nrules < YIBAO_STATUS_AUDIT_RULES) ? a->nrules
                                               : YIBAO_STATUS_AUDIT_RULES;

    total = 0;

    for (i = 0; i < n; i++) {
        total += a->rule[i].total;
        order[i] = i;
    }

    yibao_status_puts(o, "{\"findings\":");
    yibao_status_put_u64(o, total);
    yibao_status_puts(o, ",\"platform_misses\":{\"timeout\":");
    yibao_status_put_u64(o, a->misses[0]);
    yibao_status_puts(o, ",\"failed\":");
    yibao_status_put_u64(o, a->misses[1]);
    yibao_status_puts(o, "},\"rules_tracked\":");
    yibao_status_put_u64(o, n);
    yibao_status_puts(o, ",\"top_rules\":[");

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && a->rule[order[j]].total
                             > a->rule[order[j - 1]].total; j--)
        {
            k = order[j];
            order[j] = order[j - 1];
            order[j - 1] = k;
        }
    }

    top = (n < YIBAO_STATUS_AUDIT_TOP) ? n : YIBAO_STATUS_AUDIT_TOP;

    for (i = 0; i < top; i++) {
        r = &a->rule[order[i]];

        yibao_status_puts(o, i ? ",{\"rule\":" : "{\"rule\":");
        yibao_status_put_json_str(o, (const unsigned char *) r->id,
                                  r->id_len <= YIBAO_STATUS_AUDIT_ID_LEN
                                  ? r->id_len : 0);
        yibao_status_puts(o, r->platform ? ",\"source\":\"platform\""
                                         : ",\"source\":\"gateway\"");
        yibao_status_puts(o, ",\"findings\":");
        yibao_status_put_u64(o, r->total);

        for (m = 0; m < YIBAO_STATUS_AUDIT_MODES; m++) {
            yibao_status_puts(o, ",\"");
            yibao_status_puts(o, yibao_status_audit_modes[m]);
            yibao_status_puts(o, "\":");
            yibao_status_put_u64(o, yibao_status_sum(r->findings[m],
                                                     YIBAO_STATUS_AUDIT_SEVS));
        }

        yibao_status_puts(o, ",\"severity\":{");

        for (v = 0; v < YIBAO_STATUS_AUDIT_SEVS; v++) {
            total = 0;

            for (m = 0; m < YIBAO_STATUS_AUDIT_MODES; m++) {
                total += r->findings[m][v];
            }

            yibao_status_puts(o, v ? ",\"" : "\"");
            yibao_status_puts(o, yibao_status_audit_sevs[v]);
            yibao_status_puts(o, "\":");
            yibao_status_put_u64(o, total);
        }

        yibao_status_puts(o, "}}");
    }

    yibao_status_puts(o, "],\"clinics\":");
    yibao_status_json_audit_clinics(o, s);
    yibao_status_puts(o, "}");
}


/* the clinics with the most findings, from the registry their names */

static void
yibao_status_json_audit_clinics(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    unsigned                            i, j, k, nc, top;
    unsigned                            order[YIBAO_STATUS_AUDIT_CLINICS];
    const yibao_status_audit_t         *a;
    const yibao_status_audit_clinic_t  *c;

    a = &s->audit;
    nc = (a->nclinics < YIBAO_STATUS_AUDIT_CLINICS)
         ? a->nclinics : YIBAO_STATUS_AUDIT_CLINICS;

    for (i = 0; i < nc; i++) {
        order[i] = i;
    }

    for (i = 1; i < nc; i++) {
        for (j = i; j > 0 && a->clinic[order[j]].findings
                             > a->clinic[order[j - 1]].findings; j--)
        {
            k = order[j];
            order[j] = order[j - 1];
            order[j - 1] = k;
        }
    }

    yibao_status_puts(o, "{\"tracked\":");
    yibao_status_put_u64(o, nc);
    yibao_status_puts(o, ",\"capacity\":");
    yibao_status_put_u64(o, YIBAO_STATUS_AUDIT_CLINICS);
    yibao_status_puts(o, ",\"evicted\":");
    yibao_status_put_u64(o, a->evicted);
    yibao_status_puts(o, ",\"top\":[");

    top = (nc < YIBAO_STATUS_AUDIT_TOP) ? nc : YIBAO_STATUS_AUDIT_TOP;

    for (i = 0; i < top; i++) {
        k = order[i];
        c = &a->clinic[k];

        yibao_status_puts(o, i ? ",{\"clinic\":" : "{\"clinic\":");
        yibao_status_put_json_str(o, c->code,
                                  c->code_len <= YIBAO_STATUS_CLINIC_LEN
                                  ? c->code_len : 0);
        yibao_status_puts(o, ",\"name\":");

        if (s->audit_clinic_name[k].len) {
            yibao_status_put_json_str(o, s->audit_clinic_name[k].data,
                                      s->audit_clinic_name[k].len);

        } else {
            yibao_status_puts(o, "null");
        }

        yibao_status_puts(o, ",\"entity\":");

        if (s->audit_clinic_entity[k].len) {
            yibao_status_put_json_str(o, s->audit_clinic_entity[k].data,
                                      s->audit_clinic_entity[k].len);

        } else {
            yibao_status_puts(o, "null");
        }

        yibao_status_puts(o, ",\"findings\":");
        yibao_status_put_u64(o, c->findings);
        yibao_status_puts(o, ",\"transactions\":");
        yibao_status_put_u64(o, c->transactions);
        yibao_status_puts(o, ",\"last\":");
        yibao_status_put_time(o, c->last);
        yibao_status_puts(o, "}");
    }

    yibao_status_puts(o, "]}");
}


/* Most failures first, then the latest failure, then by code. */

static int
yibao_status_clinic_before(const yibao_status_clinic_t *a,
    const yibao_status_clinic_t *b)
{
    size_t  n;
    int     rc;

    if (a->failures != b->failures) {
        return a->failures > b->failures;
    }

    if (a->last != b->last) {
        return a->last > b->last;
    }

    n = (a->code_len < b->code_len) ? a->code_len : b->code_len;
    rc = memcmp(a->code, b->code, n);

    return (rc != 0) ? (rc < 0) : (a->code_len < b->code_len);
}


static void
yibao_status_json_clinic(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, unsigned i)
{
    int                           c;
    char                          buf[16];
    unsigned                      k, e;
    const yibao_status_error_t   *err;
    const yibao_status_clinic_t  *cl;

    cl = &s->clinics.clinic[i];

    yibao_status_puts(o, "{\"clinic\":");
    yibao_status_put_json_str(o, cl->code, cl->code_len);
    yibao_status_puts(o, ",\"name\":");

    if (s->clinic_name[i].len) {
        yibao_status_put_json_str(o, s->clinic_name[i].data,
                                  s->clinic_name[i].len);

    } else {
        yibao_status_puts(o, "null");
    }

    yibao_status_puts(o, ",\"entity\":");

    if (s->clinic_entity[i].len) {
        yibao_status_put_json_str(o, s->clinic_entity[i].data,
                                  s->clinic_entity[i].len);

    } else {
        yibao_status_puts(o, "null");
    }

    yibao_status_puts(o, ",\"failures\":");
    yibao_status_put_u64(o, cl->failures);

    for (c = YIBAO_STATUS_PLATFORM_ERROR; c < YIBAO_STATUS_NCLASSES; c++) {
        yibao_status_puts(o, ",\"");
        yibao_status_puts(o, yibao_status_classes[c]);
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, cl->classes[c]);
    }

    yibao_status_puts(o, ",\"first\":");
    yibao_status_put_time(o, cl->first);
    yibao_status_puts(o, ",\"last\":");
    yibao_status_put_time(o, cl->last);
    yibao_status_puts(o, ",\"errors\":[");

    /* the newest first */

    for (k = 0; k < cl->nerrors && k < YIBAO_STATUS_ERRORS; k++) {
        e = (cl->next + 2 * YIBAO_STATUS_ERRORS - 1 - k)
            % YIBAO_STATUS_ERRORS;
        err = &cl->errors[e];

        yibao_status_puts(o, k ? ",{\"time\":" : "{\"time\":");
        yibao_status_put_time(o, err->time);
        yibao_status_puts(o, ",\"infno\":");
        yibao_status_put_json_str(o, (const unsigned char *) err->infno,
                                  err->infno_len <= sizeof(err->infno)
                                  ? err->infno_len : 0);
        yibao_status_puts(o, ",\"class\":\"");
        yibao_status_puts(o, yibao_status_class_name(err->cls));
        yibao_status_puts(o, "\",\"code\":");
        yibao_status_put_code(o, err->gwerr);
        yibao_status_puts(o, ",\"reason\":");

        if (err->gwerr) {
            yibao_status_puts(o, "\"");
            yibao_status_puts(o, yibao_status_reason_name(err->gwerr, buf));
            yibao_status_puts(o, "\"");

        } else {
            yibao_status_puts(o, "null");
        }

        yibao_status_puts(o, ",\"infcode\":");

        if (err->infcode_known) {
            yibao_status_put_i64(o, err->infcode);

        } else {
            yibao_status_puts(o, "null");
        }

        yibao_status_puts(o, "}");
    }

    yibao_status_puts(o, "]}");
}


static void
yibao_status_prometheus(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    const yibao_status_family_t  *f;

    for (f = yibao_status_families; f->name != NULL; f++) {
        yibao_status_prom_head(o, f->name, f->type, f->help);
        f->samples(o, s, f);
    }
}


/* "name value": a field of the snapshot, of the kind f->arg */

static void
yibao_status_prom_value(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    int64_t               t;
    const unsigned char  *field;

    field = (const unsigned char *) s + f->field;

    yibao_status_puts(o, f->name);
    yibao_status_puts(o, " ");

    switch (f->arg) {

    case YIBAO_STATUS_VALUE_U32:
        yibao_status_put_u64(o, *(const uint32_t *) field);
        break;

    case YIBAO_STATUS_VALUE_TIME:
        t = *(const int64_t *) field;
        yibao_status_put_i64(o, t > 0 ? t : 0);
        break;

    case YIBAO_STATUS_VALUE_FLAG:
        yibao_status_puts(o, *(const int *) field ? "1" : "0");
        break;

    default: /* YIBAO_STATUS_VALUE_U64 */
        yibao_status_put_u64(o, *(const uint64_t *) field);
        break;
    }

    yibao_status_puts(o, "\n");
}


/* one sample per active transaction and class */

static void
yibao_status_prom_requests(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    int  slot, c;

    for (slot = 0; slot < YIBAO_STATUS_INFNOS; slot++) {

        if (!yibao_status_active(s, slot)) {
            continue;
        }

        for (c = 0; c < YIBAO_STATUS_NCLASSES; c++) {
            yibao_status_puts(o, f->name);
            yibao_status_puts(o, "{infno=");
            yibao_status_put_label(o, (const unsigned char *)
                                   yibao_status_infnos[slot],
                                   strlen(yibao_status_infnos[slot]));
            yibao_status_puts(o, ",class=\"");
            yibao_status_puts(o, yibao_status_classes[c]);
            yibao_status_puts(o, "\"} ");
            yibao_status_put_u64(o, s->infno[slot].requests[c]);
            yibao_status_puts(o, "\n");
        }
    }
}


/*
 * One sample per window: the share of the requests sent to the platform
 * that got no usable answer (f->arg 1), or their number (f->arg 0).
 */

static void
yibao_status_prom_window(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned               i;
    uint64_t               fwd;
    yibao_status_window_t  win;

    for (i = 0; i < 3; i++) {
        yibao_status_window(s, -1, yibao_status_windows[i], &win);

        fwd = win.forwarded;

        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{window=\"");
        yibao_status_put_u64(o, yibao_status_windows[i]);
        yibao_status_puts(o, "m\"} ");

        if (f->arg) {
            yibao_status_put_ratio(o, yibao_status_window_failed(&win), fwd);

        } else {
            yibao_status_put_u64(o, yibao_status_round60(fwd));
        }

        yibao_status_puts(o, "\n");
    }
}


static void
yibao_status_prom_store_up(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    yibao_status_puts(o, f->name);
    yibao_status_puts(o, "{backend=\"");
    yibao_status_puts(o, yibao_status_store_name(s));
    yibao_status_puts(o, s->store_up ? "\"} 1\n" : "\"} 0\n");
}


/*
 * The journal's store: f->arg 0 durable (1, or 0 when not or not known),
 * 1 the window of records it cannot vouch for, 2 its end in seconds.
 */

static void
yibao_status_prom_journal(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    yibao_status_puts(o, f->name);
    yibao_status_puts(o, " ");

    switch (f->arg) {

    case 0:
        yibao_status_puts(o, s->journal_durable == 1 ? "1" : "0");
        break;

    case 1:
        yibao_status_puts(o, yibao_status_forgotten(s) ? "1" : "0");
        break;

    default:
        yibao_status_put_u64(o, yibao_status_forgotten(s)
                                ? (uint64_t) s->journal_until / 1000 : 0);
        break;
    }

    yibao_status_puts(o, "\n");
}


/* the checks of forgotten msgids, by result */

static void
yibao_status_prom_checks(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned  i;

    for (i = 0; i < YIBAO_STATUS_CHECKS; i++) {
        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{result=\"");
        yibao_status_puts(o, yibao_status_checks[i]);
        yibao_status_puts(o, "\"} ");
        yibao_status_put_u64(o, s->journal_checks[i]);
        yibao_status_puts(o, "\n");
    }
}


/*
 * The events of one family, by result: from f->arg to the first event
 * of the next family (the rate limit's end where the cache's begin).
 */

static void
yibao_status_prom_events(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned  i, end;

    end = f->arg < YIBAO_STATUS_EV_CACHE_HIT ? YIBAO_STATUS_EV_CACHE_HIT
                                             : YIBAO_STATUS_EVENTS;

    for (i = f->arg; i < end; i++) {
        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{result=\"");
        yibao_status_puts(o, yibao_status_events[i]);
        yibao_status_puts(o, "\"} ");
        yibao_status_put_u64(o, s->events[i]);
        yibao_status_puts(o, "\n");
    }
}


/* the keys by state, as the keys API names them: a sample per state */

static void
yibao_status_prom_keys(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned  i;

    for (i = 0; i < YIBAO_STATUS_KEY_STATES; i++) {
        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{state=\"");
        yibao_status_puts(o, yibao_key_state_name((yibao_key_state_e) i));
        yibao_status_puts(o, "\"} ");
        yibao_status_put_u64(o, s->key_states[i]);
        yibao_status_puts(o, "\n");
    }
}


/* the audit's findings: a sample per rule, mode and severity seen */

static void
yibao_status_prom_audit(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned                          i, m, v, n;
    const yibao_status_audit_rule_t  *r;

    n = (s->audit.nrules < YIBAO_STATUS_AUDIT_RULES)
        ? s->audit.nrules : YIBAO_STATUS_AUDIT_RULES;

    for (i = 0; i < n; i++) {
        r = &s->audit.rule[i];

        for (m = 0; m < YIBAO_STATUS_AUDIT_MODES; m++) {
            for (v = 0; v < YIBAO_STATUS_AUDIT_SEVS; v++) {

                if (r->findings[m][v] == 0) {
                    continue;
                }

                yibao_status_puts(o, f->name);
                yibao_status_puts(o, "{rule=");
                yibao_status_put_label(o, (const unsigned char *) r->id,
                                       r->id_len <= YIBAO_STATUS_AUDIT_ID_LEN
                                       ? r->id_len : 0);
                yibao_status_puts(o, r->platform ? ",source=\"platform\""
                                                 : ",source=\"gateway\"");
                yibao_status_puts(o, ",mode=\"");
                yibao_status_puts(o, yibao_status_audit_modes[m]);
                yibao_status_puts(o, "\",severity=\"");
                yibao_status_puts(o, yibao_status_audit_sevs[v]);
                yibao_status_puts(o, "\"} ");
                yibao_status_put_u64(o, r->findings[m][v]);
                yibao_status_puts(o, "\n");
            }
        }
    }
}


static void
yibao_status_prom_audit_misses(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    unsigned  i;

    for (i = 0; i < 2; i++) {
        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{reason=\"");
        yibao_status_puts(o, yibao_status_audit_misses[i]);
        yibao_status_puts(o, "\"} ");
        yibao_status_put_u64(o, s->audit.misses[i]);
        yibao_status_puts(o, "\n");
    }
}


/* "# HELP" and "# TYPE" of a family; every sample line ends with "\n" */

static void
yibao_status_prom_head(yibao_status_out_t *o, const char *name,
    const char *type, const char *help)
{
    yibao_status_puts(o, "# HELP ");
    yibao_status_puts(o, name);
    yibao_status_puts(o, " ");
    yibao_status_puts(o, help);
    yibao_status_puts(o, "\n# TYPE ");
    yibao_status_puts(o, name);
    yibao_status_puts(o, " ");
    yibao_status_puts(o, type);
    yibao_status_puts(o, "\n");
}


/* per active transaction: the total (f->arg 0) or upstream latency */

static void
yibao_status_prom_histogram(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    int                           slot, i;
    uint64_t                      cum;
    const uint64_t               *b;
    const yibao_status_counts_t  *cnt;

    for (slot = 0; slot < YIBAO_STATUS_INFNOS; slot++) {

        if (!yibao_status_active(s, slot)) {
            continue;
        }

        cnt = &s->infno[slot];
        b = f->arg ? cnt->upstream : cnt->total;
        cum = 0;

        for (i = 0; i < YIBAO_STATUS_BUCKETS; i++) {
            cum += b[i];

            yibao_status_puts(o, f->name);
            yibao_status_puts(o, "_bucket{infno=\"");
            yibao_status_puts(o, yibao_status_infnos[slot]);
            yibao_status_puts(o, "\",le=\"");
            yibao_status_puts(o, yibao_status_le[i]);
            yibao_status_puts(o, "\"} ");
            yibao_status_put_u64(o, cum);
            yibao_status_puts(o, "\n");
        }

        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "_sum{infno=\"");
        yibao_status_puts(o, yibao_status_infnos[slot]);
        yibao_status_puts(o, "\"} ");
        yibao_status_put_seconds(o, f->arg ? cnt->upstream_ms
                                           : cnt->total_ms);
        yibao_status_puts(o, "\n");

        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "_count{infno=\"");
        yibao_status_puts(o, yibao_status_infnos[slot]);
        yibao_status_puts(o, "\"} ");
        yibao_status_put_u64(o, cum);
        yibao_status_puts(o, "\n");
    }
}


/*
 * By gateway error code: the counts at f->field, with the outcome class
 * of each code when f->arg is 1 (the upstream errors).
 */

static void
yibao_status_prom_reasons(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    int              slot, code;
    char             buf[16];
    const char      *reason;
    const uint64_t  *counts;

    counts = (const uint64_t *) ((const unsigned char *) s + f->field);

    for (slot = 0; slot < YIBAO_STATUS_REASONS; slot++) {

        if (counts[slot] == 0) {
            continue;
        }

        code = yibao_status_reason_code(slot);
        reason = yibao_status_reason_name(code, buf);

        yibao_status_puts(o, f->name);
        yibao_status_puts(o, "{reason=");
        yibao_status_put_label(o, (const unsigned char *) reason,
                               strlen(reason));

        if (f->arg) {
            yibao_status_puts(o, ",class=\"");
            yibao_status_puts(o, yibao_status_reason_class(code));
            yibao_status_puts(o, "\"");
        }

        yibao_status_puts(o, "} ");
        yibao_status_put_u64(o, counts[slot]);
        yibao_status_puts(o, "\n");
    }
}


/*
 * 记账 records: null without yibao_offline; the totals by state, and
 * the entities listed.
 */

static void
yibao_status_json_offline(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s)
{
    uint32_t                              i;
    const yibao_status_offline_t         *t;
    const yibao_status_offline_entity_t  *e;

    t = &s->offline;

    if (!t->configured) {
        yibao_status_puts(o, "null");
        return;
    }

    yibao_status_puts(o, "{");
    yibao_status_json_offline_states(o, t->states, t->unverified,
                                     t->oldest_open);
    yibao_status_puts(o, ",\"entities\":");
    yibao_status_put_u64(o, t->entities);
    yibao_status_puts(o, ",\"by_entity\":[");

    for (i = 0; i < t->n; i++) {
        e = &t->entity[i];

        yibao_status_puts(o, i ? ",{\"entity\":" : "{\"entity\":");
        yibao_status_put_json_str(o, (const unsigned char *) e->entity,
                                  strlen(e->entity));
        yibao_status_puts(o, ",");
        yibao_status_json_offline_states(o, e->states, e->unverified,
                                         e->oldest_open);
        yibao_status_puts(o, "}");
    }

    yibao_status_puts(o, "]}");
}


static void
yibao_status_json_offline_states(yibao_status_out_t *o,
    const uint64_t *states, uint64_t unverified, int64_t oldest)
{
    int  i;

    for (i = 0; i < YIBAO_STATUS_OFFLINE_STATES; i++) {
        yibao_status_puts(o, i ? ",\"" : "\"states\":{\"");
        yibao_status_puts(o, yibao_offline_state_name(i));
        yibao_status_puts(o, "\":");
        yibao_status_put_u64(o, states[i]);
    }

    yibao_status_puts(o, "},\"unverified\":");
    yibao_status_put_u64(o, unverified);
    yibao_status_puts(o, ",\"oldest_open\":");
    yibao_status_put_time(o, oldest);
}


/*
 * 记账 records: f->arg 0 by state, 1 the unverified, 2 the oldest open
 * one's time.  Labels: state only (8 values): the entities, thousands
 * in a province, are in the JSON.
 */

static void
yibao_status_prom_offline(yibao_status_out_t *o,
    const yibao_status_snapshot_t *s, const yibao_status_family_t *f)
{
    int  i;

    if (f->arg == 0) {
        for (i = 0; i < YIBAO_STATUS_OFFLINE_STATES; i++) {
            yibao_status_puts(o, f->name);
            yibao_status_puts(o, "{state=\"");
            yibao_status_puts(o, yibao_offline_state_name(i));
            yibao_status_puts(o, "\"} ");
            yibao_status_put_u64(o, s->offline.states[i]);
            yibao_status_puts(o, "\n");
        }

        return;
    }

    yibao_status_puts(o, f->name);
    yibao_status_puts(o, " ");

    if (f->arg == 1) {
        yibao_status_put_u64(o, s->offline.unverified);

    } else {
        yibao_status_put_i64(o, s->offline.oldest_open > 0
                                ? s->offline.oldest_open : 0);
    }

    yibao_status_puts(o, "\n");
}
