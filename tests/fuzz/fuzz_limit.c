/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Rate limits and the response cache's helpers:
 * yibao_limit_parse_rate(), yibao_limit_policy_init(),
 * yibao_limit_decide() (with the GCRA's invariants), yibao_limit_key(),
 * yibao_limit_headers(), yibao_cache_unframe(), and what the log line
 * takes from an answer: yibao_fields_find_text(), yibao_mask_digits(),
 * yibao_mask_psn_no().
 *
 * Input: 8 bytes of a stored TAT, 8 bytes of now (ms), 4 bytes of
 * burst, 2 bytes of nodes (little-endian), then
 * rate RS cached_value RS text (RS is 0x1e).
 */

#include "yibao_cache.h"
#include "yibao_fields.h"
#include "yibao_limit.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))

/* ms timestamps stay below 2^53: Redis' Lua computes them as doubles */
#define FUZZ_MS_MAX  ((1ULL << 53) - 1)


static void fuzz_limit(const yibao_str_t *rate, uint64_t tat, uint64_t now,
    uint64_t burst, uint64_t nodes, yibao_alloc_t *a);
static void fuzz_decide(const yibao_limit_policy_t *policy, uint64_t tat,
    uint64_t now);
static void fuzz_sequence(const yibao_limit_policy_t *policy, uint64_t now);
static void fuzz_unframe(const yibao_str_t *value, yibao_alloc_t *a);
static void fuzz_fields(const yibao_str_t *text, yibao_alloc_t *a);
static void fuzz_mask(const yibao_str_t *text);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               i;
    uint64_t             tat, now, burst, nodes;
    yibao_str_t          parts[3];
    yibao_alloc_t        alloc;
    unsigned char       *copies[3];
    yibao_fuzz_arena_t   arena;

    tat = yibao_fuzz_take_u64(&data, &size, 8) & FUZZ_MS_MAX;
    now = yibao_fuzz_take_u64(&data, &size, 8) & FUZZ_MS_MAX;
    burst = yibao_fuzz_take_u64(&data, &size, 4) % 1000001;
    nodes = yibao_fuzz_take_u64(&data, &size, 2) % 1000 + 1;

    memset(parts, 0, sizeof(parts));
    (void) yibao_fuzz_split(data, size, parts, 3);

    for (i = 0; i < 3; i++) {
        copies[i] = yibao_fuzz_copy(&parts[i]);
        parts[i].data = copies[i];
    }

    yibao_fuzz_arena_init(&arena, &alloc);

    fuzz_limit(&parts[0], tat, now, burst, nodes, &alloc);
    fuzz_unframe(&parts[1], &alloc);
    fuzz_fields(&parts[2], &alloc);
    fuzz_mask(&parts[2]);

    yibao_fuzz_arena_free(&arena);

    for (i = 0; i < 3; i++) {
        free(copies[i]);
    }

    return 0;
}


static void
fuzz_limit(const yibao_str_t *rate, uint64_t tat, uint64_t now,
    uint64_t burst, uint64_t nodes, yibao_alloc_t *a)
{
    int                      local;
    char                     hp[128], hl[128];
    yibao_str_t              caller, clinic, entity, *key;
    yibao_limit_policy_t     policy;
    yibao_limit_decision_t   d;

    memset(&policy, 0, sizeof(yibao_limit_policy_t));

    if (yibao_limit_parse_rate(rate->data, rate->len, &policy.rate,
                               &policy.period_s)
        != YIBAO_OK)
    {
        return;
    }

    yibao_fuzz_assert(policy.rate >= 1 && policy.rate <= 1000000000);
    yibao_fuzz_assert(policy.period_s == 1 || policy.period_s == 60
                      || policy.period_s == 3600
                      || policy.period_s == 86400);

    policy.name.data = U("q1");
    policy.name.len = 2;
    policy.by = (yibao_limit_by_e) (nodes % 4 + 1);
    policy.burst = burst;
    policy.nodes = nodes;

    for (local = 0; local <= 1; local++) {
        yibao_limit_policy_init(&policy, local);
        yibao_fuzz_assert(policy.interval_ms >= 1);
        yibao_fuzz_assert(policy.interval_ms <= policy.period_s * 1000);

        fuzz_decide(&policy, tat, now);
        fuzz_decide(&policy, 0, now);

        if (burst <= 1000) {
            fuzz_sequence(&policy, now);
        }
    }

    yibao_limit_decide(&policy, tat, now, &d);

    yibao_fuzz_assert(yibao_limit_headers(&policy, &d, hp, sizeof(hp), hl,
                                          sizeof(hl))
                      == YIBAO_OK);
    yibao_fuzz_assert(yibao_limit_headers(&policy, &d, hp, 4, hl, 4)
                      == YIBAO_ERR_TOO_LARGE);

    caller.data = U("his-vendor-a");
    caller.len = 12;
    clinic.data = U("PDY60134132080312D6001");
    clinic.len = 22;
    entity.data = U("H37010200001");
    entity.len = 12;

    key = yibao_limit_key(&policy, &caller, &clinic, &entity, a);
    yibao_fuzz_assert(key != NULL);
    yibao_fuzz_assert(key->len > sizeof("yibao:{}:rl::") - 1);
    yibao_fuzz_assert(memcmp(key->data, "yibao:{", 7) == 0);
}


static void
fuzz_decide(const yibao_limit_policy_t *policy, uint64_t tat, uint64_t now)
{
    uint64_t                 t, tau, base;
    yibao_limit_decision_t   d;

    t = policy->interval_ms;
    tau = t * policy->burst;
    base = tat > now ? tat : now;

    yibao_limit_decide(policy, tat, now, &d);

    if (d.allowed) {
        yibao_fuzz_assert(d.tat_ms == base + t);
        yibao_fuzz_assert(d.remaining <= policy->burst);
        yibao_fuzz_assert(d.reset_ms == d.tat_ms - now);
        yibao_fuzz_assert(d.reset_ms <= tau + t);
        yibao_fuzz_assert(d.retry_after_ms == 0);

    } else {
        yibao_fuzz_assert(tat > now);
        yibao_fuzz_assert(d.tat_ms == tat);
        yibao_fuzz_assert(d.remaining == 0);
        yibao_fuzz_assert(d.retry_after_ms > 0);
        yibao_fuzz_assert(d.retry_after_ms <= tat - now);
        yibao_fuzz_assert(d.reset_ms == tat - now);
    }
}


/* From an empty state, exactly burst + 1 requests at once pass. */

static void
fuzz_sequence(const yibao_limit_policy_t *policy, uint64_t now)
{
    uint64_t                 i, tat;
    yibao_limit_decision_t   d;

    tat = 0;

    for (i = 0; i <= policy->burst; i++) {
        yibao_limit_decide(policy, tat, now, &d);
        yibao_fuzz_assert(d.allowed);
        yibao_fuzz_assert(d.remaining == policy->burst - i);
        tat = d.tat_ms;
    }

    yibao_limit_decide(policy, tat, now, &d);
    yibao_fuzz_assert(!d.allowed);
    yibao_fuzz_assert(d.retry_after_ms == policy->interval_ms);

    /* one interval later, one more */

    yibao_limit_decide(policy, tat, now + policy->interval_ms, &d);
    yibao_fuzz_assert(d.allowed);
    yibao_fuzz_assert(d.remaining == 0);
}


static void
fuzz_unframe(const yibao_str_t *value, yibao_alloc_t *a)
{
    int              has;
    size_t           i, k, ids;
    uint64_t         fresh, n, fresh2;
    yibao_str_t      answer, answer2;
    yibao_fields_t   f, g;
    yibao_str_t     *s[3];

    if (yibao_cache_unframe(value->data, value->len, &fresh, &answer)
        != YIBAO_OK)
    {
        yibao_fuzz_assert(yibao_cache_unframe_fields(value->data, value->len,
                                                     &fresh2, &g, &has,
                                                     &answer2)
                          == YIBAO_ERR_SYNTAX);
        return;
    }

    /* "<digits>\n" or "<digits> <ids>\n", and the answer to the end */

    n = 0;

    for (i = 0; value->data[i] != '\n' && value->data[i] != ' '; i++) {
        yibao_fuzz_assert(value->data[i] >= '0' && value->data[i] <= '9');
        yibao_fuzz_assert(n <= (UINT64_MAX - 9) / 10);
        n = n * 10 + (value->data[i] - '0');
    }

    yibao_fuzz_assert(i > 0 && n == fresh);

    yibao_fuzz_assert(yibao_cache_unframe_fields(value->data, value->len,
                                                 &fresh2, &g, &has, &answer2)
                      == YIBAO_OK);
    yibao_fuzz_assert(fresh2 == fresh && answer2.data == answer.data
                      && answer2.len == answer.len);
    yibao_fuzz_assert(has == (value->data[i] == ' '));

    if (has) {
        /* the ids lie between the space and the newline, in order */

        s[0] = &g.mdtrt_id;
        s[1] = &g.setl_id;
        s[2] = &g.psn_no;
        ids = 0;

        for (k = 0; k < 3; k++) {
            yibao_fuzz_assert(s[k]->len <= YIBAO_CACHE_FIELD_MAX);
            yibao_fuzz_assert(s[k]->len == 0
                              || (s[k]->data > value->data + i
                                  && s[k]->data + s[k]->len
                                     < answer.data));
            ids += s[k]->len;
        }

        yibao_fuzz_assert(ids < (size_t) (answer.data - value->data));

        /* written again, they frame the same way */

        yibao_fuzz_assert(yibao_cache_fields_size(&g) > 0);

    } else {
        yibao_fuzz_assert(g.mdtrt_id.len + g.setl_id.len + g.psn_no.len
                          == 0);
    }

    yibao_fuzz_assert(answer.data[-1] == '\n');
    yibao_fuzz_assert(answer.len == value->len
                                    - (size_t) (answer.data - value->data));

    /* the cached answer is read for the log line as a fresh one */

    memset(&f, 0, sizeof(yibao_fields_t));
    yibao_fuzz_assert(yibao_fields_find_text(answer.data, answer.len, &f, a)
                      == YIBAO_OK);
}


static void
fuzz_fields(const yibao_str_t *text, yibao_alloc_t *a)
{
    yibao_fields_t        f;
    const unsigned char  *kept;

    memset(&f, 0, sizeof(yibao_fields_t));

    yibao_fuzz_assert(yibao_fields_find_text(text->data, text->len, &f, a)
                      == YIBAO_OK);

    /* what was found is a copy: it outlives the text */

    if (f.mdtrt_id.len) {
        yibao_fuzz_assert(f.mdtrt_id.data < text->data
                          || f.mdtrt_id.data >= text->data + text->len);
    }

    /* a field already known is kept */

    kept = U("KNOWN");
    f.setl_id.data = kept;
    f.setl_id.len = 5;
    f.psn_no.len = 0;

    yibao_fuzz_assert(yibao_fields_find_text(text->data, text->len, &f, a)
                      == YIBAO_OK);
    yibao_fuzz_assert(f.setl_id.data == kept && f.setl_id.len == 5);
}


static void
fuzz_mask(const yibao_str_t *text)
{
    size_t          i;
    unsigned char  *out;

    out = malloc(text->len + 1);
    if (out == NULL) {
        abort();
    }

    yibao_mask_digits(text->data, text->len, out);

    for (i = 0; i < text->len; i++) {
        if (out[i] != text->data[i]) {
            yibao_fuzz_assert(out[i] == '*');
            yibao_fuzz_assert((text->data[i] >= '0' && text->data[i] <= '9')
                              || text->data[i] == 'X'
                              || text->data[i] == 'x');
        }
    }

    yibao_mask_psn_no(text->data, text->len, out);

    for (i = 0; i < text->len; i++) {
        if (text->len <= 8 || (i >= 4 && i < text->len - 4)) {
            yibao_fuzz_assert(out[i] == '*');

        } else {
            yibao_fuzz_assert(out[i] == text->data[i]);
        }
    }

    free(out);
}
