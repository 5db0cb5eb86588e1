/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>

#include "yibao_limit.h"


/*
 * KEYS[1..n] the limits, KEYS[n + 1] the nonce (when ARGV[2n + 2] > 0).
 * ARGV[1] n, ARGV[2i], ARGV[2i + 1] interval_ms and burst of limit i,
 * ARGV[2n + 2] the nonce's lifetime in ms or "0".  Answer: now_ms,
 * nonce_fresh, then per limit allowed,
 * remaining, retry_after_ms, reset_ms.  A replayed nonce consumes no
 * quota; a refusal by any limit consumes none of the others.
 */

const char  yibao_limit_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local n = tonumber(ARGV[1])\n"
    "local nttl = tonumber(ARGV[2 * n + 2])\n"
    "if nttl > 0 then\n"
    "  if not redis.call('SET', KEYS[n + 1], '1', 'NX', 'PX', nttl) then\n"
    "    return {now, 0}\n"
    "  end\n"
    "end\n"
    "local out = {now, 1}\n"
    "local ok = true\n"
    "local tats = {}\n"
    "for i = 1, n do\n"
    "  local T = tonumber(ARGV[2 * i])\n"
    "  local tau = T * tonumber(ARGV[2 * i + 1])\n"
    "  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
    "  if tat < now then tat = now end\n"
    "  local new = tat + T\n"
    "  if new - now <= tau + T then\n"
    "    out[#out + 1] = 1\n"
    "    out[#out + 1] = math.floor((tau + T - (new - now)) / T)\n"
    "    out[#out + 1] = 0\n"
    "    out[#out + 1] = new - now\n"
    "  else\n"
    "    ok = false\n"
    "    out[#out + 1] = 0\n"
    "    out[#out + 1] = 0\n"
    "    out[#out + 1] = new - (tau + T) - now\n"
    "    out[#out + 1] = tat - now\n"
    "  end\n"
    "  tats[i] = new\n"
    "end\n"
    "if ok then\n"
    "  for i = 1, n do\n"
    "    redis.call('SET', KEYS[i], tats[i], 'PX', tats[i] - now)\n"
    "  end\n"
    "end\n"
    "return out\n";


int
yibao_limit_parse_rate(const unsigned char *p, size_t len, uint64_t *rate,
    uint64_t *period_s)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        n = n * 10 + (p[i] - '0');

        if (n > 1000000000) {
            return YIBAO_ERR_INVALID;
        }
    }

    if (i == 0 || n == 0 || len - i != 3 || p[i] != 'r' || p[i + 1] != '/') {
        return YIBAO_ERR_INVALID;
    }

    switch (p[i + 2]) {
    case 's':
        *period_s = 1;
        break;
    case 'm':
        *period_s = 60;
        break;
    case 'h':
        *period_s = 3600;
        break;
    case 'd':
        *period_s = 86400;
        break;
    default:
        return YIBAO_ERR_INVALID;
    }

    *rate = n;

    return YIBAO_OK;
}


void
yibao_limit_policy_init(yibao_limit_policy_t *policy, int local)
{
    uint64_t  rate;

    rate = policy->rate;

    if (local && policy->nodes > 1) {
        rate = rate / policy->nodes;

        if (rate == 0) {
            rate = 1;
        }
    }

    policy->interval_ms = policy->period_s * 1000 / rate;

    if (policy->interval_ms == 0) {
        policy->interval_ms = 1;
    }
}


void
yibao_limit_decide(const yibao_limit_policy_t *policy, uint64_t tat_ms,
    uint64_t now_ms, yibao_limit_decision_t *d)
{
    uint64_t  t, tau, tat, next;

    t = policy->interval_ms;
    tau = t * policy->burst;

    tat = (tat_ms > now_ms) ? tat_ms : now_ms;
    next = tat + t;

    memset(d, 0, sizeof(yibao_limit_decision_t));

    if (next - now_ms <= tau + t) {
        d->allowed = 1;
        d->remaining = (tau + t - (next - now_ms)) / t;
        d->reset_ms = next - now_ms;
        d->tat_ms = next;
        return;
    }

    d->allowed = 0;
    d->remaining = 0;
    d->retry_after_ms = next - (tau + t) - now_ms;
    d->reset_ms = tat - now_ms;
    d->tat_ms = tat_ms;
}


yibao_str_t *
yibao_limit_key(const yibao_limit_policy_t *policy, const yibao_str_t *caller,
    const yibao_str_t *clinic, const yibao_str_t *entity, yibao_alloc_t *a)
{
    size_t                len;
    unsigned char        *p;
    yibao_str_t          *key;
    const yibao_str_t    *tag, *id;

    switch (policy->by) {
    case YIBAO_LIMIT_BY_CALLER:
        tag = caller;
        id = caller;
        break;
    case YIBAO_LIMIT_BY_CLINIC:
        tag = entity;
        id = clinic;
        break;
    case YIBAO_LIMIT_BY_ENTITY:
        tag = entity;
        id = entity;
        break;
    default:
        tag = entity;
        id = NULL;
        break;
    }

    len = sizeof("yibao:{}:rl::") - 1 + tag->len + policy->name.len
          + (id != NULL ? id->len : 1);

    key = yibao_alloc(a, sizeof(yibao_str_t));
    p = yibao_alloc(a, len);

    if (key == NULL || p == NULL) {
        return NULL;
    }

    key->data = p;
    key->len = len;

    memcpy(p, "yibao:{", 7);
    p += 7;
    memcpy(p, tag->data, tag->len);
    p += tag->len;
    memcpy(p, "}:rl:", 5);
    p += 5;
    memcpy(p, policy->name.data, policy->name.len);
    p += policy->name.len;
    *p++ = ':';

    if (id != NULL) {
        memcpy(p, id->data, id->len);

    } else {
        *p = '*';
    }

    return key;
}


int
yibao_limit_headers(const yibao_limit_policy_t *policy,
    const yibao_limit_decision_t *d, char *policy_out, size_t policy_size,
    char *limit_out, size_t limit_size)
{
    int  n;

    n = snprintf(policy_out, policy_size, "\"%.*s\";q=%llu;w=%llu",
                 (int) policy->name.len, (const char *) policy->name.data,
                 (unsigned long long) (policy->rate + policy->burst),
                 (unsigned long long) policy->period_s);

    if (n < 0 || (size_t) n >= policy_size) {
        return YIBAO_ERR_TOO_LARGE;
    }

    n = snprintf(limit_out, limit_size, "\"%.*s\";r=%llu;t=%llu",
                 (int) policy->name.len, (const char *) policy->name.data,
                 (unsigned long long) d->remaining,
                 (unsigned long long) ((d->allowed ? d->reset_ms
                                                   : d->retry_after_ms)
                                       + 999) / 1000);

    if (n < 0 || (size_t) n >= limit_size) {
        return YIBAO_ERR_TOO_LARGE;
    }

    return YIBAO_OK;
}
