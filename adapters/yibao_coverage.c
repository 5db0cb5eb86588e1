/*
 * Copyright (C) yibao-gateway authors
 */


#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_codes.h"
#include "yibao_coverage.h"
#include "yibao_status.h"


#define YIBAO_COV_DAY_SECONDS   86400

/* error keys: the kind in the top byte, a number below */
#define YIBAO_COV_ERR_GATEWAY   1u       /* YBnnnn */
#define YIBAO_COV_ERR_PLATFORM  2u       /* the platform refused infno */
#define YIBAO_COV_ERR_OTHER     3u       /* failed without an error code */


typedef struct {
    unsigned char        *buf;
    size_t                len;
    size_t                size;
} yibao_cov_out_t;


/* a county or a township hospital and its clinics' classes */

typedef struct {
    const yibao_cov_info_t  *first;    /* names the group */
    size_t                   clinics;
    size_t                   seen_today;
    size_t                   seen_week;
    size_t                   not_seen;
    size_t                   silent;
    size_t                   failing;
    size_t                   never;
    size_t                   failed_today;  /* clinics */
    size_t                   own;       /* own designation */
    uint64_t                 requests;  /* today */
    uint64_t                 failed;
    uint64_t                 settled;
    size_t                   keys[YIBAO_COV_KEY_STATES];  /* clinics by
                                                     their key's state */
} yibao_cov_group_t;


typedef struct {
    const yibao_str_t       *key;
    size_t                   i;
} yibao_cov_sort_t;


typedef struct {
    const yibao_cov_report_t  *r;
    uint32_t                   today;
    unsigned                  *classes;
    yibao_cov_group_t         *counties;
    size_t                     ncounties;
    yibao_cov_group_t         *townships;
    size_t                     ntownships;
    yibao_cov_group_t          total;
} yibao_cov_ctx_t;


static void yibao_cov_count(yibao_cov_day_t *d, const yibao_cov_event_t *ev);
static void yibao_cov_count_error(yibao_cov_clinic_t *c, uint32_t key,
    uint32_t today);
static int yibao_cov_prepare(yibao_cov_ctx_t *x, yibao_alloc_t *a);
static yibao_cov_group_t *yibao_cov_groups(yibao_cov_ctx_t *x, int county,
    size_t *n, yibao_alloc_t *a);
static int yibao_cov_sort_cmp(const void *a, const void *b);
static const yibao_str_t *yibao_cov_township(const yibao_cov_info_t *info);
static void yibao_cov_group_add(yibao_cov_group_t *g, yibao_cov_ctx_t *x,
    size_t i);
static int yibao_cov_key_state(const yibao_cov_ctx_t *x, size_t i);
static int yibao_cov_selected(const yibao_cov_ctx_t *x, size_t i);
static void yibao_cov_write(yibao_cov_out_t *o, yibao_cov_ctx_t *x);
static void yibao_cov_write_groups(yibao_cov_out_t *o, yibao_cov_ctx_t *x);
static void yibao_cov_write_weekly(yibao_cov_out_t *o, yibao_cov_ctx_t *x);
static void yibao_cov_write_clinics(yibao_cov_out_t *o, yibao_cov_ctx_t *x);
static void yibao_cov_clinic(yibao_cov_out_t *o, yibao_cov_ctx_t *x,
    size_t i);
static void yibao_cov_errors(yibao_cov_out_t *o, yibao_cov_ctx_t *x,
    size_t i);
static void yibao_cov_json_group(yibao_cov_out_t *o,
    const yibao_cov_group_t *g, int township);
static void yibao_cov_csv_group(yibao_cov_out_t *o, const char *level,
    const yibao_cov_group_t *g, int township);
static void yibao_cov_group_counts(yibao_cov_out_t *o, int csv,
    const yibao_cov_group_t *g);
static void yibao_cov_group_keys(yibao_cov_out_t *o, int csv,
    const yibao_cov_group_t *g);
static void yibao_cov_json_summary(yibao_cov_out_t *o, yibao_cov_ctx_t *x);
static void yibao_cov_weekly(yibao_cov_out_t *o, yibao_cov_ctx_t *x,
    size_t i);
static inline void yibao_cov_key(yibao_cov_out_t *o, int csv,
    const char *key);
static inline void yibao_cov_f_str(yibao_cov_out_t *o, int csv,
    const char *key, const yibao_str_t *s);
static inline void yibao_cov_f_name(yibao_cov_out_t *o, int csv,
    const char *key, const char *name);
static inline void yibao_cov_f_u64(yibao_cov_out_t *o, int csv,
    const char *key, uint64_t v);
static inline void yibao_cov_f_time(yibao_cov_out_t *o,
    const yibao_cov_report_t *r, const char *key, int64_t t);
static inline void yibao_cov_f_bool(yibao_cov_out_t *o, int csv,
    const char *key, unsigned b);
static inline void yibao_cov_put(yibao_cov_out_t *o, const void *p, size_t n);
static inline void yibao_cov_puts(yibao_cov_out_t *o, const char *s);
static void yibao_cov_put_u64(yibao_cov_out_t *o, uint64_t v);
static void yibao_cov_put_time(yibao_cov_out_t *o, int64_t t, int csv,
    int64_t gmtoff);
static void yibao_cov_put_json(yibao_cov_out_t *o, const yibao_str_t *s);
static void yibao_cov_put_jsonz(yibao_cov_out_t *o, const char *s);
static void yibao_cov_put_csv(yibao_cov_out_t *o, const yibao_str_t *s);
static void yibao_cov_put_csvz(yibao_cov_out_t *o, const char *s);
static void yibao_cov_put_ratio(yibao_cov_out_t *o, uint64_t num,
    uint64_t den, int csv);


static const char  *yibao_cov_reports[] = {
    "clinics", "silent", "failing", "never_activated", "townships",
    "weekly", "summary"
};


static const char  *yibao_cov_key_states[YIBAO_COV_KEY_STATES] = {
    "none", "never_used", "activated", "expiring", "expired", "pending"
};


uint32_t
yibao_cov_day(int64_t now, int64_t gmtoff)
{
    int64_t  t;

    t = now + gmtoff;

    if (t < YIBAO_COV_DAY_SECONDS) {
        return 0;
    }

    return (uint32_t) (t / YIBAO_COV_DAY_SECONDS);
}


void
yibao_cov_init(yibao_cov_clinic_t *c, const unsigned char *code,
    size_t len)
{
    memset(c, 0, sizeof(yibao_cov_clinic_t));

    if (len > YIBAO_COV_CODE) {
        len = YIBAO_COV_CODE;
    }

    memcpy(c->code, code, len);
}


int
yibao_cov_is(const yibao_cov_clinic_t *c, const unsigned char *code,
    size_t len)
{
    if (len > YIBAO_COV_CODE) {
        return 0;
    }

    if (memcmp(c->code, code, len) != 0) {
        return 0;
    }

    return len == YIBAO_COV_CODE || c->code[len] == '\0';
}


void
yibao_cov_event(yibao_cov_event_t *ev, const unsigned char *infno,
    size_t len, int ok, int gwerr)
{
    unsigned  n, i;

    memset(ev, 0, sizeof(yibao_cov_event_t));

    n = 0;

    for (i = 0; i < 4 && i < len; i++) {
        if (infno[i] < '0' || infno[i] > '9') {
            break;
        }

        n = n * 10 + (unsigned) (infno[i] - '0');
    }

    if (i < 4) {
        n = 0;
    }

    if (ok) {
        ev->settled = (n == 2207 || n == 2304 || n == 2102);
        ev->activated = ev->settled || n == 9001;
        return;
    }

    ev->failed = 1;

    if (gwerr > 0) {
        ev->error = (YIBAO_COV_ERR_GATEWAY << 24) | (uint32_t) gwerr;

    } else if (n != 0) {
        ev->error = (YIBAO_COV_ERR_PLATFORM << 24) | n;

    } else {
        ev->error = YIBAO_COV_ERR_OTHER << 24;
    }
}


void
yibao_cov_record(yibao_cov_clinic_t *c, int64_t now, int64_t gmtoff,
    const yibao_cov_event_t *ev)
{
    uint32_t          today;
    yibao_cov_day_t  *d;

    today = yibao_cov_day(now, gmtoff);

    if (now > c->last_seen) {
        c->last_seen = now;
    }

    if (ev->settled && now > c->last_settled) {
        c->last_settled = now;
    }

    if (ev->activated && (c->activated == 0 || now < c->activated)) {
        c->activated = now;
    }

    if (ev->failed && now > c->last_failed) {
        c->last_failed = now;
    }

    d = &c->days[today % YIBAO_COV_DAYS];

    if (d->day < today) {
        memset(d, 0, sizeof(yibao_cov_day_t));
        d->day = today;
    }

    if (d->day == today) {
        yibao_cov_count(d, ev);
    }

    if (ev->failed && ev->error) {
        yibao_cov_count_error(c, ev->error, today);
    }
}


static void
yibao_cov_count(yibao_cov_day_t *d, const yibao_cov_event_t *ev)
{
    d->requests++;
    d->failed += ev->failed;
    d->settled += ev->settled;
}


static void
yibao_cov_count_error(yibao_cov_clinic_t *c, uint32_t key, uint32_t today)
{
    unsigned          i;
    yibao_cov_err_t  *e, *pick;

    pick = NULL;

    for (i = 0; i < YIBAO_COV_ERRORS; i++) {
        e = &c->errors[i];

        if (e->key == key) {
            e->count++;
            e->day = today;
            return;
        }

        if (e->key == 0 || e->day + YIBAO_COV_WEEK <= today) {
            if (pick == NULL || pick->key != 0) {
                pick = e;
            }

            continue;
        }
    }

    if (pick != NULL) {
        pick->key = key;
        pick->count = 1;
        pick->day = today;
        pick->first_day = today;
        return;
    }

    /* all taken and current: the lowest count's successor */

    pick = &c->errors[0];

    for (i = 1; i < YIBAO_COV_ERRORS; i++) {
        if (c->errors[i].count < pick->count) {
            pick = &c->errors[i];
        }
    }

    pick->key = key;
    pick->count++;
    pick->day = today;
    pick->first_day = today;
}


void
yibao_cov_merge(yibao_cov_clinic_t *dst, const yibao_cov_clinic_t *src)
{
    unsigned                i, k;
    uint32_t                key;
    const yibao_cov_day_t  *s;
    yibao_cov_day_t        *d;
    yibao_cov_err_t        *e;

    if (src->last_seen > dst->last_seen) {
        dst->last_seen = src->last_seen;
    }

    if (src->last_settled > dst->last_settled) {
        dst->last_settled = src->last_settled;
    }

    if (src->last_failed > dst->last_failed) {
        dst->last_failed = src->last_failed;
    }

    if (src->activated
        && (dst->activated == 0 || src->activated < dst->activated))
    {
        dst->activated = src->activated;
    }

    for (i = 0; i < YIBAO_COV_DAYS; i++) {
        s = &src->days[i];
        d = &dst->days[i];

        if (s->day == 0 || s->day < d->day) {
            continue;
        }

        if (s->day > d->day) {
            *d = *s;
            continue;
        }

        d->requests += s->requests;
        d->failed += s->failed;
        d->settled += s->settled;
    }

    for (i = 0; i < YIBAO_COV_ERRORS; i++) {
        key = src->errors[i].key;

        if (key == 0) {
            continue;
        }

        for (k = 0; k < YIBAO_COV_ERRORS; k++) {
            e = &dst->errors[k];

            if (e->key == key) {
                e->count += src->errors[i].count;
                if (src->errors[i].day > e->day) {
                    e->day = src->errors[i].day;
                }
                break;
            }
        }

        if (k < YIBAO_COV_ERRORS) {
            continue;
        }

        /* a free or older entry, else the smaller count is dropped */

        e = &dst->errors[0];

        for (k = 1; k < YIBAO_COV_ERRORS; k++) {
            if (dst->errors[k].key == 0
                || (e->key != 0 && dst->errors[k].count < e->count))
            {
                e = &dst->errors[k];
            }
        }

        if (e->key == 0 || e->count < src->errors[i].count) {
            *e = src->errors[i];
        }
    }
}


void
yibao_cov_value_encode(const yibao_cov_clinic_t *c, unsigned char *v)
{
    memcpy(v, YIBAO_COV_MAGIC, 4);
    memcpy(v + 4, c, sizeof(yibao_cov_clinic_t));
}


int
yibao_cov_value_decode(const unsigned char *field, size_t flen,
    const unsigned char *v, size_t len, yibao_cov_clinic_t *out)
{
    if (len != YIBAO_COV_VALUE || memcmp(v, YIBAO_COV_MAGIC, 4) != 0) {
        return YIBAO_ERR_INVALID;
    }

    memcpy(out, v + 4, sizeof(yibao_cov_clinic_t));

    if (!yibao_cov_is(out, field, flen)) {
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


void
yibao_cov_sum(const yibao_cov_clinic_t *c, uint32_t today, unsigned w,
    yibao_cov_sum_t *out)
{
    unsigned                i;
    const yibao_cov_day_t  *d;

    memset(out, 0, sizeof(yibao_cov_sum_t));

    if (w > YIBAO_COV_DAYS) {
        w = YIBAO_COV_DAYS;
    }

    for (i = 0; i < YIBAO_COV_DAYS; i++) {
        d = &c->days[i];

        if (d->day == 0 || d->day > today || d->day + w <= today) {
            continue;
        }

        out->requests += d->requests;
        out->failed += d->failed;
        out->settled += d->settled;
    }
}


uint32_t
yibao_cov_top_error(const yibao_cov_clinic_t *c, uint32_t today,
    uint32_t *count)
{
    unsigned                i;
    const yibao_cov_err_t  *e, *top;

    top = NULL;

    for (i = 0; i < YIBAO_COV_ERRORS; i++) {
        e = &c->errors[i];

        if (e->key == 0 || e->day + YIBAO_COV_WEEK <= today) {
            continue;
        }

        if (top == NULL || e->count > top->count
            || (e->count == top->count && e->key < top->key))
        {
            top = e;
        }
    }

    if (count) {
        *count = top ? top->count : 0;
    }

    return top ? top->key : 0;
}


size_t
yibao_cov_error_name(uint32_t key, char *buf, size_t size)
{
    char      tmp[16];
    size_t    n;
    unsigned  v, kind;

    kind = key >> 24;
    v = key & 0xffffff;

    switch (kind) {

    case YIBAO_COV_ERR_GATEWAY:
        memcpy(tmp, "YB0000", 6);
        n = 6;
        break;

    case YIBAO_COV_ERR_PLATFORM:
        memcpy(tmp, "platform:0000", 13);
        n = 13;
        break;

    default:
        memcpy(tmp, "failed", 6);
        n = 6;
        v = 0;
        break;
    }

    if (kind == YIBAO_COV_ERR_GATEWAY || kind == YIBAO_COV_ERR_PLATFORM) {
        tmp[n - 1] = (char) ('0' + v % 10);
        tmp[n - 2] = (char) ('0' + v / 10 % 10);
        tmp[n - 3] = (char) ('0' + v / 100 % 10);
        tmp[n - 4] = (char) ('0' + v / 1000 % 10);
    }

    if (size == 0) {
        return 0;
    }

    if (n >= size) {
        n = size - 1;
    }

    memcpy(buf, tmp, n);
    buf[n] = '\0';

    return n;
}


void
yibao_cov_params_default(yibao_cov_params_t *p)
{
    p->silent_days = 7;
    p->window = 1;
    p->threshold = 2000;
    p->min_requests = 3;
}


unsigned
yibao_cov_classify(const yibao_cov_clinic_t *c, int64_t now,
    int64_t gmtoff, const yibao_cov_params_t *p)
{
    uint32_t         today, day;
    unsigned         cls;
    yibao_cov_sum_t  sum;

    today = yibao_cov_day(now, gmtoff);
    cls = 0;

    if (c->last_seen == 0) {
        cls |= YIBAO_COV_NOT_SEEN;

    } else {
        day = yibao_cov_day(c->last_seen, gmtoff);

        if (day == today) {
            cls |= YIBAO_COV_SEEN_TODAY;
        }

        if (day + YIBAO_COV_WEEK > today) {
            cls |= YIBAO_COV_SEEN_WEEK;
        }
    }

    day = c->last_settled ? yibao_cov_day(c->last_settled, gmtoff) : 0;

    if (c->last_settled == 0 || day + p->silent_days <= today) {
        cls |= YIBAO_COV_SILENT;
    }

    if (c->activated == 0) {
        cls |= YIBAO_COV_NEVER_ACTIVATED;
    }

    yibao_cov_sum(c, today, p->window, &sum);

    if (sum.requests > 0 && sum.requests >= p->min_requests
        && sum.failed * 10000 > (uint64_t) p->threshold * sum.requests)
    {
        cls |= YIBAO_COV_FAILING;
    }

    return cls;
}


int
yibao_cov_report_find(const unsigned char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(yibao_cov_reports) / sizeof(char *); i++) {
        if (strlen(yibao_cov_reports[i]) == len
            && memcmp(yibao_cov_reports[i], name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


const char *
yibao_cov_key_state_name(int state)
{
    if (state < 0 || state >= YIBAO_COV_KEY_STATES) {
        return "none";
    }

    return yibao_cov_key_states[state];
}


int
yibao_cov_render(const yibao_cov_report_t *r, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int              rc;
    yibao_cov_ctx_t  x;
    yibao_cov_out_t  o;

    memset(&x, 0, sizeof(yibao_cov_ctx_t));
    x.r = r;

    rc = yibao_cov_prepare(&x, a);
    if (rc != YIBAO_OK) {
        return rc;
    }

    memset(&o, 0, sizeof(yibao_cov_out_t));

    yibao_cov_write(&o, &x);

    o.size = o.len;
    o.len = 0;

    o.buf = yibao_alloc(a, o.size ? o.size : 1);
    if (o.buf == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    yibao_cov_write(&o, &x);

    if (o.len != o.size) {
        return YIBAO_ERR_INVALID;
    }

    out->data = o.buf;
    out->len = o.len;

    return YIBAO_OK;
}


/* every clinic's classes, the key states, and the groups the report
 * needs */

static int
yibao_cov_prepare(yibao_cov_ctx_t *x, yibao_alloc_t *a)
{
    size_t                     i;
    const yibao_cov_report_t  *r;

    r = x->r;
    x->today = yibao_cov_day(r->now, r->gmtoff);

    x->classes = yibao_alloc(a, (r->n ? r->n : 1) * sizeof(unsigned));
    if (x->classes == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < r->n; i++) {
        x->classes[i] = yibao_cov_classify(&r->cov[i], r->now, r->gmtoff,
                                           &r->params);
        yibao_cov_group_add(&x->total, x, i);
    }

    if (r->report == YIBAO_COV_REPORT_SUMMARY) {
        x->counties = yibao_cov_groups(x, 1, &x->ncounties, a);
        if (x->counties == NULL) {
            return YIBAO_ERR_NOMEM;
        }
    }

    if (r->report == YIBAO_COV_REPORT_SUMMARY
        || r->report == YIBAO_COV_REPORT_TOWNSHIPS)
    {
        x->townships = yibao_cov_groups(x, 0, &x->ntownships, a);
        if (x->townships == NULL) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/*
 * Counties (by admdvs, every clinic) or township hospitals (by entity
 * code, the clinics that settle through one), in the order of their
 * codes.
 */

static yibao_cov_group_t *
yibao_cov_groups(yibao_cov_ctx_t *x, int county, size_t *n,
    yibao_alloc_t *a)
{
    size_t                     i, k, m;
    yibao_cov_sort_t          *s;
    yibao_cov_group_t         *g;
    const yibao_cov_info_t    *info;
    const yibao_cov_report_t  *r;

    r = x->r;

    s = yibao_alloc(a, (r->n ? r->n : 1) * sizeof(yibao_cov_sort_t));
    g = yibao_alloc(a, (r->n ? r->n : 1) * sizeof(yibao_cov_group_t));

    if (s == NULL || g == NULL) {
        return NULL;
    }

    m = 0;

    for (i = 0; i < r->n; i++) {
        info = &r->info[i];

        if (!county && yibao_cov_township(info)->len == 0) {
            continue;
        }

        s[m].key = county ? &info->admdvs : yibao_cov_township(info);
        s[m].i = i;
        m++;
    }

    qsort(s, m, sizeof(yibao_cov_sort_t), yibao_cov_sort_cmp);

    k = 0;

    for (i = 0; i < m; i++) {
        if (i == 0 || s[i].key->len != s[i - 1].key->len
            || memcmp(s[i].key->data, s[i - 1].key->data, s[i].key->len)
               != 0)
        {
            memset(&g[k], 0, sizeof(yibao_cov_group_t));
            k++;
        }

        yibao_cov_group_add(&g[k - 1], x, s[i].i);
    }

    *n = k;

    return g;
}


/* the township hospital a clinic rolls up to; empty: none */

static const yibao_str_t *
yibao_cov_township(const yibao_cov_info_t *info)
{
    if (info->township_code.len) {
        return &info->township_code;
    }

    if (info->township) {
        return &info->entity_code;
    }

    return &info->township_code;
}


static int
yibao_cov_sort_cmp(const void *a, const void *b)
{
    int                      rc;
    size_t                   n;
    const yibao_cov_sort_t  *x = a, *y = b;

    n = x->key->len < y->key->len ? x->key->len : y->key->len;

    rc = n ? memcmp(x->key->data, y->key->data, n) : 0;

    if (rc == 0) {
        if (x->key->len != y->key->len) {
            return x->key->len < y->key->len ? -1 : 1;
        }

        /* stable: the registry's order within a group */
        return x->i < y->i ? -1 : (x->i > y->i);
    }

    return rc;
}


static void
yibao_cov_group_add(yibao_cov_group_t *g, yibao_cov_ctx_t *x, size_t i)
{
    unsigned                   cls;
    yibao_cov_sum_t            sum;
    const yibao_cov_report_t  *r;

    r = x->r;
    cls = x->classes[i];

    if (g->first == NULL || (!g->first->township && r->info[i].township)) {
        g->first = &r->info[i];     /* a village through it names it */
    }

    g->own += !r->info[i].township;

    g->clinics++;
    g->seen_today += (cls & YIBAO_COV_SEEN_TODAY) != 0;
    g->seen_week += (cls & YIBAO_COV_SEEN_WEEK) != 0;
    g->not_seen += (cls & YIBAO_COV_NOT_SEEN) != 0;
    g->silent += (cls & YIBAO_COV_SILENT) != 0;
    g->failing += (cls & YIBAO_COV_FAILING) != 0;
    g->never += (cls & YIBAO_COV_NEVER_ACTIVATED) != 0;
    g->keys[yibao_cov_key_state(x, i)]++;

    yibao_cov_sum(&r->cov[i], x->today, 1, &sum);

    g->failed_today += sum.failed > 0;
    g->requests += sum.requests;
    g->failed += sum.failed;
    g->settled += sum.settled;
}


/* the key state given, or from the coverage: used once activated */

static int
yibao_cov_key_state(const yibao_cov_ctx_t *x, size_t i)
{
    int  st;

    st = x->r->info[i].key_state;

    if (st >= 0 && st < YIBAO_COV_KEY_STATES) {
        return st;
    }

    return (x->classes[i] & YIBAO_COV_NEVER_ACTIVATED)
           ? YIBAO_COV_KEY_NEVER_USED : YIBAO_COV_KEY_ACTIVATED;
}


static int
yibao_cov_selected(const yibao_cov_ctx_t *x, size_t i)
{
    switch (x->r->report) {

    case YIBAO_COV_REPORT_SILENT:
        return (x->classes[i] & YIBAO_COV_SILENT) != 0;

    case YIBAO_COV_REPORT_FAILING:
        return (x->classes[i] & YIBAO_COV_FAILING) != 0;

    case YIBAO_COV_REPORT_NEVER:
        return (x->classes[i] & YIBAO_COV_NEVER_ACTIVATED) != 0;

    default:
        return 1;
    }
}


static const char  yibao_cov_clinic_csv_head[] =
    "clinic,name,admdvs,entity,entity_name,mode,key_state,last_seen,"
    "last_settled,activated,requests_today,failed_today,settled_today,"
    "requests_7d,failed_7d,settled_7d,window_requests,window_failed,"
    "error_ratio,top_error,top_error_count,errors,silent,failing,"
    "never_activated\r\n";

static const char  yibao_cov_group_csv_head[] =
    "level,code,name,admdvs,clinics,seen_today,seen_week,not_seen,"
    "silent,failing,never_activated,requests_today,failed_today,"
    "settled_today,clinics_failed_today,key_none,key_never_used,"
    "key_activated,key_expiring,key_expired,key_pending\r\n";

/*
 * 机构ID, 县/乡镇, 名称, 卫生机构（组织）代码,
 * 是否纳入医保结算, 是否单独定点,
 * 是否通过一体化管理实现医保结算,
 * 一体化主体, 签协议主体, 未纳入原因
 */
static const char  *yibao_cov_weekly_head[] = {
    "\xe6\x9c\xba\xe6\x9e\x84" "ID",
    "\xe5\x8e\xbf/\xe4\xb9\xa1\xe9\x95\x87",
    "\xe5\x90\x8d\xe7\xa7\xb0",
    "\xe5\x8d\xab\xe7\x94\x9f\xe6\x9c\xba\xe6\x9e\x84\xef\xbc\x88\xe7\xbb"
    "\x84\xe7\xbb\x87\xef\xbc\x89\xe4\xbb\xa3\xe7\xa0\x81",
    "\xe6\x98\xaf\xe5\x90\xa6\xe7\xba\xb3\xe5\x85\xa5\xe5\x8c\xbb\xe4\xbf"
    "\x9d\xe7\xbb\x93\xe7\xae\x97",
    "\xe6\x98\xaf\xe5\x90\xa6\xe5\x8d\x95\xe7\x8b\xac\xe5\xae\x9a\xe7\x82"
    "\xb9",
    "\xe6\x98\xaf\xe5\x90\xa6\xe9\x80\x9a\xe8\xbf\x87\xe4\xb8\x80\xe4\xbd"
    "\x93\xe5\x8c\x96\xe7\xae\xa1\xe7\x90\x86\xe5\xae\x9e\xe7\x8e\xb0\xe5"
    "\x8c\xbb\xe4\xbf\x9d\xe7\xbb\x93\xe7\xae\x97",
    "\xe4\xb8\x80\xe4\xbd\x93\xe5\x8c\x96\xe4\xb8\xbb\xe4\xbd\x93",
    "\xe7\xad\xbe\xe5\x8d\x8f\xe8\xae\xae\xe4\xb8\xbb\xe4\xbd\x93",
    "\xe6\x9c\xaa\xe7\xba\xb3\xe5\x85\xa5\xe5\x8e\x9f\xe5\x9b\xa0"
};

#define YIBAO_COV_YES  "\xe6\x98\xaf"                       /* 是 */
#define YIBAO_COV_NO   "\xe5\x90\xa6"                       /* 否 */

/* 无医保接口密钥 */
#define YIBAO_COV_WHY_NO_KEY                                                \
    "\xe6\x97\xa0\xe5\x8c\xbb\xe4\xbf\x9d\xe6\x8e\xa5\xe5\x8f\xa3\xe5\xaf"  \
    "\x86\xe9\x92\xa5"
/* 密钥已过期 */
#define YIBAO_COV_WHY_EXPIRED                                               \
    "\xe5\xaf\x86\xe9\x92\xa5\xe5\xb7\xb2\xe8\xbf\x87\xe6\x9c\x9f"
/* 账号未激活 */
#define YIBAO_COV_WHY_NEVER                                                 \
    "\xe8\xb4\xa6\xe5\x8f\xb7\xe6\x9c\xaa\xe6\xbf\x80\xe6\xb4\xbb"
/* 近7日无医保结算 */
#define YIBAO_COV_WHY_SILENT                                                \
    "\xe8\xbf\x91" "7" "\xe6\x97\xa5\xe6\x97\xa0\xe5\x8c\xbb\xe4\xbf\x9d"   \
    "\xe7\xbb\x93\xe7\xae\x97"


static void
yibao_cov_write(yibao_cov_out_t *o, yibao_cov_ctx_t *x)
{
    switch (x->r->report) {

    case YIBAO_COV_REPORT_SUMMARY:
        if (!x->r->csv) {
            yibao_cov_json_summary(o, x);
            return;
        }

        /* fall through */

    case YIBAO_COV_REPORT_TOWNSHIPS:
        yibao_cov_write_groups(o, x);
        return;

    case YIBAO_COV_REPORT_WEEKLY:
        yibao_cov_write_weekly(o, x);
        return;

    default:
        yibao_cov_write_clinics(o, x);
        return;
    }
}


static void
yibao_cov_write_groups(yibao_cov_out_t *o, yibao_cov_ctx_t *x)
{
    size_t                     i;
    const yibao_cov_report_t  *r;

    r = x->r;

    if (r->csv) {
        yibao_cov_puts(o, yibao_cov_group_csv_head);

        if (r->report == YIBAO_COV_REPORT_SUMMARY) {
            yibao_cov_csv_group(o, "total", &x->total, 0);

            for (i = 0; i < x->ncounties; i++) {
                yibao_cov_csv_group(o, "county", &x->counties[i], 0);
            }
        }

        for (i = 0; i < x->ntownships; i++) {
            yibao_cov_csv_group(o, "township", &x->townships[i], 1);
        }

        return;
    }

    yibao_cov_puts(o, "{\"report\":\"townships\",\"now\":");
    yibao_cov_put_u64(o, (uint64_t) r->now);
    yibao_cov_puts(o, ",\"count\":");
    yibao_cov_put_u64(o, x->ntownships);
    yibao_cov_puts(o, ",\"townships\":[");

    for (i = 0; i < x->ntownships; i++) {
        yibao_cov_puts(o, i ? "," : "");
        yibao_cov_json_group(o, &x->townships[i], 1);
    }

    yibao_cov_puts(o, "]}\n");
}


static void
yibao_cov_write_weekly(yibao_cov_out_t *o, yibao_cov_ctx_t *x)
{
    size_t                     i;
    const yibao_cov_report_t  *r;

    r = x->r;

    if (r->csv) {
        for (i = 0; i < 10; i++) {
            yibao_cov_puts(o, i ? "," : "");
            yibao_cov_put_csvz(o, yibao_cov_weekly_head[i]);
        }

        yibao_cov_puts(o, "\r\n");

    } else {
        yibao_cov_puts(o, "{\"report\":\"weekly\",\"now\":");
        yibao_cov_put_u64(o, (uint64_t) r->now);
        yibao_cov_puts(o, ",\"count\":");
        yibao_cov_put_u64(o, r->n);
        yibao_cov_puts(o, ",\"rows\":[");
    }

    for (i = 0; i < r->n; i++) {
        if (i && !r->csv) {
            yibao_cov_put(o, ",", 1);
        }

        yibao_cov_weekly(o, x, i);
    }

    yibao_cov_puts(o, r->csv ? "" : "]}\n");
}


static void
yibao_cov_write_clinics(yibao_cov_out_t *o, yibao_cov_ctx_t *x)
{
    size_t                     i, n;
    const yibao_cov_report_t  *r;

    r = x->r;

    if (r->csv) {
        yibao_cov_puts(o, yibao_cov_clinic_csv_head);

        for (i = 0; i < r->n; i++) {
            if (yibao_cov_selected(x, i)) {
                yibao_cov_clinic(o, x, i);
            }
        }

        return;
    }

    n = 0;

    for (i = 0; i < r->n; i++) {
        n += yibao_cov_selected(x, i);
    }

    yibao_cov_puts(o, "{\"report\":\"");
    yibao_cov_puts(o, yibao_cov_reports[r->report]);
    yibao_cov_puts(o, "\",\"now\":");
    yibao_cov_put_u64(o, (uint64_t) r->now);
    yibao_cov_puts(o, ",\"params\":{\"silent_days\":");
    yibao_cov_put_u64(o, r->params.silent_days);
    yibao_cov_puts(o, ",\"window\":");
    yibao_cov_put_u64(o, r->params.window);
    yibao_cov_puts(o, ",\"threshold\":");
    yibao_cov_put_ratio(o, r->params.threshold, 10000, 0);
    yibao_cov_puts(o, ",\"min_requests\":");
    yibao_cov_put_u64(o, r->params.min_requests);
    yibao_cov_puts(o, "},\"registry\":");
    yibao_cov_put_u64(o, r->n);
    yibao_cov_puts(o, ",\"count\":");
    yibao_cov_put_u64(o, n);
    yibao_cov_puts(o, ",\"clinics\":[");

    n = 0;

    for (i = 0; i < r->n; i++) {
        if (!yibao_cov_selected(x, i)) {
            continue;
        }

        yibao_cov_puts(o, n++ ? "," : "");
        yibao_cov_clinic(o, x, i);
    }

    yibao_cov_puts(o, "]}\n");
}


/*
 * A clinic's row, JSON object or CSV line, the same fields in the same
 * order: each field's JSON key (the first one opens the object) is a
 * comma in CSV (none before the first).
 */

static void
yibao_cov_clinic(yibao_cov_out_t *o, yibao_cov_ctx_t *x, size_t i)
{
    int                        csv;
    char                       name[16];
    unsigned                   cls;
    uint32_t                   top, count;
    yibao_cov_sum_t            day, week, win;
    const yibao_cov_info_t    *info;
    const yibao_cov_clinic_t  *c;
    const yibao_cov_report_t  *r;

    r = x->r;
    csv = r->csv;
    info = &r->info[i];
    c = &r->cov[i];
    cls = x->classes[i];

    yibao_cov_sum(c, x->today, 1, &day);
    yibao_cov_sum(c, x->today, YIBAO_COV_WEEK, &week);
    yibao_cov_sum(c, x->today, r->params.window, &win);

    yibao_cov_f_str(o, csv, "{\"clinic\":", &info->code);
    yibao_cov_f_str(o, csv, ",\"name\":", &info->name);
    yibao_cov_f_str(o, csv, ",\"admdvs\":", &info->admdvs);
    yibao_cov_f_str(o, csv, ",\"entity\":", &info->entity_code);
    yibao_cov_f_str(o, csv, ",\"entity_name\":", &info->entity_name);
    yibao_cov_f_name(o, csv, ",\"mode\":",
                     info->township ? "township" : "own");
    yibao_cov_f_name(o, csv, ",\"key_state\":",
                     yibao_cov_key_states[yibao_cov_key_state(x, i)]);
    yibao_cov_f_time(o, r, ",\"last_seen\":", c->last_seen);
    yibao_cov_f_time(o, r, ",\"last_settled\":", c->last_settled);
    yibao_cov_f_time(o, r, ",\"activated\":", c->activated);
    yibao_cov_f_u64(o, csv, ",\"today\":{\"requests\":", day.requests);
    yibao_cov_f_u64(o, csv, ",\"failed\":", day.failed);
    yibao_cov_f_u64(o, csv, ",\"settled\":", day.settled);
    yibao_cov_f_u64(o, csv, "},\"week\":{\"requests\":", week.requests);
    yibao_cov_f_u64(o, csv, ",\"failed\":", week.failed);
    yibao_cov_f_u64(o, csv, ",\"settled\":", week.settled);
    yibao_cov_f_u64(o, csv, "},\"window\":{\"requests\":", win.requests);
    yibao_cov_f_u64(o, csv, ",\"failed\":", win.failed);
    yibao_cov_key(o, csv, ",\"error_ratio\":");
    yibao_cov_put_ratio(o, win.failed, win.requests, csv);

    /* JSON: the top error's name or null; CSV: name and count */

    top = yibao_cov_top_error(c, x->today, &count);

    yibao_cov_key(o, csv, "},\"top_error\":");

    if (top) {
        yibao_cov_error_name(top, name, sizeof(name));

        if (csv) {
            yibao_cov_puts(o, name);
            yibao_cov_put(o, ",", 1);
            yibao_cov_put_u64(o, count);

        } else {
            yibao_cov_put_jsonz(o, name);
        }

    } else {
        yibao_cov_puts(o, csv ? "," : "null");
    }

    yibao_cov_key(o, csv, ",\"errors\":");
    yibao_cov_errors(o, x, i);

    yibao_cov_f_name(o, csv, ",\"silent\":",
                     (cls & YIBAO_COV_NOT_SEEN) ? "not_seen"
                     : (cls & YIBAO_COV_SILENT) ? "no_settlement" : NULL);
    yibao_cov_f_bool(o, csv, ",\"failing\":", cls & YIBAO_COV_FAILING);
    yibao_cov_f_bool(o, csv, ",\"never_activated\":",
                     cls & YIBAO_COV_NEVER_ACTIVATED);

    yibao_cov_puts(o, csv ? "\r\n" : "}");
}


/*
 * The errors of the last 7 days: JSON [{"error":, "count":, "last":}],
 * CSV "name:count" separated by spaces.
 */

static void
yibao_cov_errors(yibao_cov_out_t *o, yibao_cov_ctx_t *x, size_t i)
{
    int                        csv;
    char                       name[16];
    unsigned                   k, first;
    const yibao_cov_clinic_t  *c;

    c = &x->r->cov[i];
    csv = x->r->csv;

    yibao_cov_puts(o, csv ? "" : "[");

    first = 1;

    for (k = 0; k < YIBAO_COV_ERRORS; k++) {
        if (c->errors[k].key == 0
            || c->errors[k].day + YIBAO_COV_WEEK <= x->today)
        {
            continue;
        }

        yibao_cov_error_name(c->errors[k].key, name, sizeof(name));

        if (csv) {
            yibao_cov_puts(o, first ? "" : " ");
            yibao_cov_puts(o, name);
            yibao_cov_put(o, ":", 1);
            yibao_cov_put_u64(o, c->errors[k].count);
            first = 0;
            continue;
        }

        yibao_cov_puts(o, first ? "{\"error\":" : ",{\"error\":");
        first = 0;

        yibao_cov_put_jsonz(o, name);
        yibao_cov_puts(o, ",\"count\":");
        yibao_cov_put_u64(o, c->errors[k].count);
        yibao_cov_puts(o, ",\"last\":");
        yibao_cov_put_time(o, (int64_t) c->errors[k].day
                              * YIBAO_COV_DAY_SECONDS - x->r->gmtoff, 0, 0);
        yibao_cov_puts(o, "}");
    }

    yibao_cov_puts(o, csv ? "" : "]");
}


static void
yibao_cov_json_group(yibao_cov_out_t *o, const yibao_cov_group_t *g,
    int township)
{
    if (township) {
        yibao_cov_puts(o, "{\"entity\":");
        yibao_cov_put_json(o, yibao_cov_township(g->first));
        yibao_cov_puts(o, ",\"name\":");
        yibao_cov_put_json(o, g->first->township ? &g->first->entity_name
                                                 : &g->first->township_code);
        yibao_cov_puts(o, ",\"admdvs\":");
        yibao_cov_put_json(o, &g->first->admdvs);
        yibao_cov_puts(o, ",\"own_villages\":");
        yibao_cov_put_u64(o, g->own);
        yibao_cov_puts(o, ",\"villages\":");

    } else {
        yibao_cov_puts(o, "{\"admdvs\":");
        yibao_cov_put_json(o, &g->first->admdvs);
        yibao_cov_puts(o, ",\"clinics\":");
    }

    yibao_cov_put_u64(o, g->clinics);
    yibao_cov_group_counts(o, 0, g);
    yibao_cov_puts(o, ",\"failed_today\":");
    yibao_cov_put_u64(o, g->failed_today);
    yibao_cov_puts(o, ",\"today\":{\"requests\":");
    yibao_cov_put_u64(o, g->requests);
    yibao_cov_puts(o, ",\"failed\":");
    yibao_cov_put_u64(o, g->failed);
    yibao_cov_puts(o, ",\"settled\":");
    yibao_cov_put_u64(o, g->settled);
    yibao_cov_puts(o, "},\"keys\":");
    yibao_cov_group_keys(o, 0, g);
    yibao_cov_puts(o, "}");
}


static void
yibao_cov_csv_group(yibao_cov_out_t *o, const char *level,
    const yibao_cov_group_t *g, int township)
{
    static const yibao_str_t  empty = yibao_null_string;

    yibao_cov_puts(o, level);
    yibao_cov_put(o, ",", 1);

    if (g->first == NULL) {
        yibao_cov_puts(o, ",,");

    } else if (township) {
        yibao_cov_put_csv(o, yibao_cov_township(g->first));
        yibao_cov_put(o, ",", 1);
        yibao_cov_put_csv(o, g->first->township ? &g->first->entity_name
                                                 : &g->first->township_code);
        yibao_cov_put(o, ",", 1);
        yibao_cov_put_csv(o, &g->first->admdvs);

    } else if (level[0] == 'c') {
        yibao_cov_put_csv(o, &g->first->admdvs);
        yibao_cov_put(o, ",", 1);
        yibao_cov_put_csv(o, &empty);
        yibao_cov_put(o, ",", 1);
        yibao_cov_put_csv(o, &g->first->admdvs);

    } else {
        yibao_cov_puts(o, ",,");
    }

    yibao_cov_put(o, ",", 1);
    yibao_cov_put_u64(o, g->clinics);
    yibao_cov_group_counts(o, 1, g);
    yibao_cov_put(o, ",", 1);
    yibao_cov_put_u64(o, g->requests);
    yibao_cov_put(o, ",", 1);
    yibao_cov_put_u64(o, g->failed);
    yibao_cov_put(o, ",", 1);
    yibao_cov_put_u64(o, g->settled);
    yibao_cov_put(o, ",", 1);
    yibao_cov_put_u64(o, g->failed_today);
    yibao_cov_group_keys(o, 1, g);
    yibao_cov_puts(o, "\r\n");
}


/* a group's counts of clinics by class, in JSON and CSV alike */

static void
yibao_cov_group_counts(yibao_cov_out_t *o, int csv,
    const yibao_cov_group_t *g)
{
    size_t  i;

    static const struct {
        const char  *key;
        size_t       off;
    } counts[] = {
        { ",\"seen_today\":", offsetof(yibao_cov_group_t, seen_today) },
        { ",\"seen_week\":", offsetof(yibao_cov_group_t, seen_week) },
        { ",\"not_seen\":", offsetof(yibao_cov_group_t, not_seen) },
        { ",\"silent\":", offsetof(yibao_cov_group_t, silent) },
        { ",\"failing\":", offsetof(yibao_cov_group_t, failing) },
        { ",\"never_activated\":", offsetof(yibao_cov_group_t, never) }
    };

    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        yibao_cov_f_u64(o, csv, counts[i].key,
                        *(const size_t *) ((const char *) g
                                           + counts[i].off));
    }
}


/*
 * A group's clinics by the state of their key: an object in JSON, a
 * column each in CSV (after a comma)
 */

static void
yibao_cov_group_keys(yibao_cov_out_t *o, int csv, const yibao_cov_group_t *g)
{
    size_t  i;

    for (i = 0; i < YIBAO_COV_KEY_STATES; i++) {
        if (csv) {
            yibao_cov_put(o, ",", 1);

        } else {
            yibao_cov_puts(o, i ? ",\"" : "{\"");
            yibao_cov_puts(o, yibao_cov_key_states[i]);
            yibao_cov_puts(o, "\":");
        }

        yibao_cov_put_u64(o, g->keys[i]);
    }

    yibao_cov_puts(o, csv ? "" : "}");
}


static void
yibao_cov_json_summary(yibao_cov_out_t *o, yibao_cov_ctx_t *x)
{
    size_t                     i;
    const yibao_cov_report_t  *r;

    r = x->r;

    yibao_cov_puts(o, "{\"report\":\"summary\",\"now\":");
    yibao_cov_put_u64(o, (uint64_t) r->now);
    yibao_cov_puts(o, ",\"silent_days\":");
    yibao_cov_put_u64(o, r->params.silent_days);
    yibao_cov_puts(o, ",\"total\":");
    yibao_cov_json_group(o, &x->total, 0);
    yibao_cov_puts(o, ",\"keys\":");
    yibao_cov_group_keys(o, 0, &x->total);
    yibao_cov_puts(o, ",\"counties\":[");

    for (i = 0; i < x->ncounties; i++) {
        yibao_cov_puts(o, i ? "," : "");
        yibao_cov_json_group(o, &x->counties[i], 0);
    }

    yibao_cov_puts(o, "],\"townships\":[");

    for (i = 0; i < x->ntownships; i++) {
        yibao_cov_puts(o, i ? "," : "");
        yibao_cov_json_group(o, &x->townships[i], 1);
    }

    yibao_cov_puts(o, "]}\n");
}


/*
 * One row of the weekly registry report: 纳入医保结算 when the clinic
 * has a key that is not expired and a successful settlement within
 * the last 7 days; 未纳入原因 from the registry, else what the gateway
 * sees (no key, key expired, never activated, no settlement).
 */

static void
yibao_cov_weekly(yibao_cov_out_t *o, yibao_cov_ctx_t *x, size_t i)
{
    int                        key, in;
    unsigned                   k;
    const char                *why;
    unsigned char              buf[512];
    yibao_str_t                place, v[10];
    yibao_cov_sum_t            week;
    const yibao_cov_info_t    *info;
    const yibao_cov_report_t  *r;
    static const yibao_str_t   yes = yibao_string(YIBAO_COV_YES);
    static const yibao_str_t   no = yibao_string(YIBAO_COV_NO);
    static const yibao_str_t   empty = yibao_null_string;

    r = x->r;
    info = &r->info[i];
    key = yibao_cov_key_state(x, i);

    yibao_cov_sum(&r->cov[i], x->today, YIBAO_COV_WEEK, &week);

    in = key != YIBAO_COV_KEY_NONE && key != YIBAO_COV_KEY_EXPIRED
         && week.settled > 0;

    why = NULL;

    if (!in && info->reason.len == 0) {
        why = (key == YIBAO_COV_KEY_NONE) ? YIBAO_COV_WHY_NO_KEY
              : (key == YIBAO_COV_KEY_EXPIRED) ? YIBAO_COV_WHY_EXPIRED
              : (x->classes[i] & YIBAO_COV_NEVER_ACTIVATED)
                ? YIBAO_COV_WHY_NEVER : YIBAO_COV_WHY_SILENT;
    }

    /* 县/乡镇: the registry's names, else the admdvs */

    place = info->admdvs;

    if ((info->county.len || info->town.len)
        && info->county.len + info->town.len < sizeof(buf))
    {
        if (info->county.len) {
            memcpy(buf, info->county.data, info->county.len);
        }

        buf[info->county.len] = '/';

        if (info->town.len) {
            memcpy(buf + info->county.len + 1, info->town.data,
                   info->town.len);
        }

        place.data = buf;
        place.len = info->county.len + 1 + info->town.len;
    }

    v[0] = info->org_id;
    v[1] = place;
    v[2] = info->name;
    v[3] = info->code;
    v[4] = in ? yes : no;
    v[5] = info->township ? no : yes;
    v[6] = info->township ? yes : no;
    v[7] = info->township ? info->entity_name : empty;
    v[8] = info->entity_name;
    v[9] = in ? empty : info->reason;

    if (r->csv) {
        for (k = 0; k < 10; k++) {
            yibao_cov_puts(o, k ? "," : "");

            if (k == 9 && why != NULL) {
                yibao_cov_put_csvz(o, why);
                continue;
            }

            yibao_cov_put_csv(o, &v[k]);
        }

        yibao_cov_puts(o, "\r\n");
        return;
    }

    yibao_cov_put(o, "{", 1);

    for (k = 0; k < 10; k++) {
        yibao_cov_puts(o, k ? ",\"" : "\"");
        yibao_cov_puts(o, yibao_cov_weekly_head[k]);
        yibao_cov_puts(o, "\":");

        if (k == 9 && why != NULL) {
            yibao_cov_put_jsonz(o, why);
            continue;
        }

        yibao_cov_put_json(o, &v[k]);
    }

    yibao_cov_put(o, "}", 1);
}


/* a field's JSON key, or in CSV a comma unless the key opens a row */

static inline void
yibao_cov_key(yibao_cov_out_t *o, int csv, const char *key)
{
    if (!csv) {
        yibao_cov_puts(o, key);

    } else if (key[0] != '{') {
        yibao_cov_put(o, ",", 1);
    }
}


static inline void
yibao_cov_f_str(yibao_cov_out_t *o, int csv, const char *key,
    const yibao_str_t *s)
{
    yibao_cov_key(o, csv, key);

    if (csv) {
        yibao_cov_put_csv(o, s);

    } else {
        yibao_cov_put_json(o, s);
    }
}


/* a name of ours (nothing to escape); NULL: JSON null, CSV empty */

static inline void
yibao_cov_f_name(yibao_cov_out_t *o, int csv, const char *key,
    const char *name)
{
    yibao_cov_key(o, csv, key);

    if (csv) {
        yibao_cov_puts(o, name ? name : "");

    } else if (name == NULL) {
        yibao_cov_puts(o, "null");

    } else {
        yibao_cov_put(o, "\"", 1);
        yibao_cov_puts(o, name);
        yibao_cov_put(o, "\"", 1);
    }
}


static inline void
yibao_cov_f_u64(yibao_cov_out_t *o, int csv, const char *key, uint64_t v)
{
    yibao_cov_key(o, csv, key);
    yibao_cov_put_u64(o, v);
}


static inline void
yibao_cov_f_time(yibao_cov_out_t *o, const yibao_cov_report_t *r,
    const char *key, int64_t t)
{
    yibao_cov_key(o, r->csv, key);
    yibao_cov_put_time(o, t, r->csv, r->csv ? r->gmtoff : 0);
}


/* JSON true or false, CSV yes or no */

static inline void
yibao_cov_f_bool(yibao_cov_out_t *o, int csv, const char *key, unsigned b)
{
    yibao_cov_key(o, csv, key);
    yibao_cov_puts(o, csv ? (b ? "yes" : "no") : (b ? "true" : "false"));
}


static inline void
yibao_cov_put(yibao_cov_out_t *o, const void *p, size_t n)
{
    if (o->buf != NULL && n && n <= o->size && o->len <= o->size - n) {
        memcpy(o->buf + o->len, p, n);
    }

    o->len += n;
}


static inline void
yibao_cov_puts(yibao_cov_out_t *o, const char *s)
{
    yibao_cov_put(o, s, strlen(s));
}


static void
yibao_cov_put_u64(yibao_cov_out_t *o, uint64_t v)
{
    char   buf[24], *p;

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    yibao_cov_put(o, p, buf + sizeof(buf) - p);
}


/*
 * JSON: seconds since the epoch, null for never; CSV: local time
 * "YYYY-MM-DD HH:MM:SS", empty for never.
 */

static void
yibao_cov_put_time(yibao_cov_out_t *o, int64_t t, int csv, int64_t gmtoff)
{
    int      m, d;
    char     buf[20];
    int64_t  y, s;

    if (t <= 0) {
        yibao_cov_puts(o, csv ? "" : "null");
        return;
    }

    if (!csv) {
        yibao_cov_put_u64(o, (uint64_t) t);
        return;
    }

    t += gmtoff;
    s = t % YIBAO_COV_DAY_SECONDS;

    yibao_code_civil_from_days(t / YIBAO_COV_DAY_SECONDS, &y, &m, &d);

    buf[0] = (char) ('0' + y / 1000 % 10);
    buf[1] = (char) ('0' + y / 100 % 10);
    buf[2] = (char) ('0' + y / 10 % 10);
    buf[3] = (char) ('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char) ('0' + m / 10);
    buf[6] = (char) ('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char) ('0' + d / 10);
    buf[9] = (char) ('0' + d % 10);
    buf[10] = ' ';
    buf[11] = (char) ('0' + s / 36000);
    buf[12] = (char) ('0' + s / 3600 % 10);
    buf[13] = ':';
    buf[14] = (char) ('0' + s % 3600 / 600);
    buf[15] = (char) ('0' + s % 600 / 60);
    buf[16] = ':';
    buf[17] = (char) ('0' + s % 60 / 10);
    buf[18] = (char) ('0' + s % 10);

    yibao_cov_put(o, buf, 19);
}


static void
yibao_cov_put_json(yibao_cov_out_t *o, const yibao_str_t *s)
{
    size_t  n;

    if (s->len == 0) {
        yibao_cov_put(o, "\"\"", 2);
        return;
    }

    n = yibao_status_json_string(s->data, s->len, NULL);

    if (o->buf != NULL && n <= o->size && o->len <= o->size - n) {
        (void) yibao_status_json_string(s->data, s->len, o->buf + o->len);
    }

    o->len += n;
}


static void
yibao_cov_put_jsonz(yibao_cov_out_t *o, const char *s)
{
    yibao_str_t  v;

    v.data = (const unsigned char *) s;
    v.len = strlen(s);

    yibao_cov_put_json(o, &v);
}


/* RFC 4180: quoted when it holds a comma, a quote or a line break */

static void
yibao_cov_put_csv(yibao_cov_out_t *o, const yibao_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == ',' || s->data[i] == '"' || s->data[i] == '\n'
            || s->data[i] == '\r')
        {
            break;
        }
    }

    if (i == s->len) {
        yibao_cov_put(o, s->data, s->len);
        return;
    }

    yibao_cov_put(o, "\"", 1);

    for (i = 0; i < s->len; i++) {
        yibao_cov_put(o, &s->data[i], 1);

        if (s->data[i] == '"') {
            yibao_cov_put(o, "\"", 1);
        }
    }

    yibao_cov_put(o, "\"", 1);
}


static void
yibao_cov_put_csvz(yibao_cov_out_t *o, const char *s)
{
    yibao_str_t  v;

    v.data = (const unsigned char *) s;
    v.len = strlen(s);

    yibao_cov_put_csv(o, &v);
}


/* num / den with 4 decimals; JSON null, CSV empty when den is 0 */

static void
yibao_cov_put_ratio(yibao_cov_out_t *o, uint64_t num, uint64_t den, int csv)
{
    char      frac[4];
    int       i;
    uint64_t  v;

    if (den == 0) {
        yibao_cov_puts(o, csv ? "" : "null");
        return;
    }

    v = (num * 10000 + den / 2) / den;

    yibao_cov_put_u64(o, v / 10000);
    yibao_cov_put(o, ".", 1);

    v %= 10000;

    for (i = 3; i >= 0; i--) {
        frac[i] = (char) ('0' + v % 10);
        v /= 10;
    }

    yibao_cov_put(o, frac, 4);
}
