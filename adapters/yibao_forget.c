/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>

#include "yibao_forget.h"


static int yibao_forget_is(const unsigned char *p, size_t len,
    const char *s);
static void yibao_forget_copy(char *dst, size_t size,
    const unsigned char *p, size_t len);


const char  yibao_forget_marker_script[] =
    "local m = redis.call('GET', KEYS[1])\n"
    "local id, lost\n"
    "if m then id, lost = string.match(m, '^(%x+) (%d+)$') end\n"
    "if id and (ARGV[1] == '' or id == ARGV[1]) then\n"
    "  if ARGV[4] ~= '1' or (lost ~= '0'\n"
    "      and tonumber(ARGV[3]) - tonumber(lost) < 60000) then\n"
    "    return {0, m}\n"
    "  end\n"
    "  m = id .. ' ' .. ARGV[3]\n"
    "elseif id and lost ~= '0' then\n"
    "  return {0, m}\n"
    "elseif id then\n"
    "  m = id .. ' ' .. ARGV[3]\n"
    "elseif ARGV[1] == '' then\n"
    "  m = ARGV[2] .. ' 0'\n"
    "else\n"
    "  m = ARGV[2] .. ' ' .. ARGV[3]\n"
    "end\n"
    "redis.call('SET', KEYS[1], m)\n"
    "return {1, m}\n";


int
yibao_forget_marker_parse(const unsigned char *p, size_t len,
    yibao_forget_marker_t *m)
{
    size_t    i, n;
    uint64_t  v;

    memset(m, 0, sizeof(yibao_forget_marker_t));

    for (n = 0; n < len && p[n] != ' '; n++) {
        if (!((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')
              || (p[n] >= 'A' && p[n] <= 'F')))
        {
            return YIBAO_ERR_SYNTAX;
        }
    }

    if (n == 0 || n > YIBAO_FORGET_ID_MAX || n + 1 >= len || n + 21 < len) {
        return YIBAO_ERR_SYNTAX;
    }

    v = 0;

    for (i = n + 1; i < len; i++) {
        if (p[i] < '0' || p[i] > '9'
            || v > (UINT64_MAX - (uint64_t) (p[i] - '0')) / 10)
        {
            return YIBAO_ERR_SYNTAX;
        }

        v = v * 10 + (uint64_t) (p[i] - '0');
    }

    memcpy(m->id, p, n);
    m->id[n] = '\0';
    m->lost_ms = v;

    return YIBAO_OK;
}


void
yibao_forget_marker_id(uint64_t r, char *out)
{
    int  i;

    static const char  hex[] = "0123456789abcdef";

    for (i = YIBAO_FORGET_ID_LEN - 1; i >= 0; i--) {
        out[i] = hex[r & 0x0f];
        r >>= 4;
    }

    out[YIBAO_FORGET_ID_LEN] = '\0';
}


uint64_t
yibao_forget_until(const yibao_forget_marker_t *m, uint64_t ttl_ms,
    uint64_t now_ms)
{
    if (m->lost_ms == 0 || m->lost_ms > UINT64_MAX - ttl_ms
        || now_ms >= m->lost_ms + ttl_ms)
    {
        return 0;
    }

    return m->lost_ms + ttl_ms;
}


void
yibao_forget_store_init(yibao_forget_store_t *s)
{
    memset(s, 0, sizeof(yibao_forget_store_t));
    s->aof = -1;
    s->rdb = -1;
}


void
yibao_forget_info(yibao_forget_store_t *s, const unsigned char *p,
    size_t len)
{
    size_t                i, n, k;
    const unsigned char  *line, *end;

    end = p + len;

    while (p < end) {
        line = p;

        for (n = 0; p + n < end && p[n] != '\n'; n++) {
            /* void */
        }

        p += n + (p + n < end);

        if (n > 0 && line[n - 1] == '\r') {
            n--;
        }

        for (k = 0; k < n && line[k] != ':'; k++) {
            /* void */
        }

        if (k == n) {
            continue;
        }

        if (yibao_forget_is(line, k, "run_id")) {
            for (i = k + 1; i < n; i++) {
                if (!((line[i] >= '0' && line[i] <= '9')
                      || (line[i] >= 'a' && line[i] <= 'f')))
                {
                    break;
                }
            }

            if (i == n && n - k - 1 > 0 && n - k - 1 < sizeof(s->run_id)) {
                yibao_forget_copy(s->run_id, sizeof(s->run_id),
                                  line + k + 1, n - k - 1);
            }

        } else if (yibao_forget_is(line, k, "aof_enabled")
                   && n == k + 2 && (line[k + 1] == '0' || line[k + 1] == '1'))
        {
            s->aof = line[k + 1] - '0';
        }
    }
}


void
yibao_forget_config(yibao_forget_store_t *s, const unsigned char *name,
    size_t nlen, const unsigned char *value, size_t vlen)
{
    if (yibao_forget_is(name, nlen, "save")) {
        s->rdb = (vlen > 0);

    } else if (yibao_forget_is(name, nlen, "appendonly")) {
        if (yibao_forget_is(value, vlen, "yes")) {
            s->aof = 1;

        } else if (yibao_forget_is(value, vlen, "no")) {
            s->aof = 0;
        }

    } else if (yibao_forget_is(name, nlen, "appendfsync")) {
        yibao_forget_copy(s->fsync, sizeof(s->fsync), value, vlen);

    } else if (yibao_forget_is(name, nlen, "maxmemory-policy")) {
        yibao_forget_copy(s->policy, sizeof(s->policy), value, vlen);
    }
}


int
yibao_forget_durable(const yibao_forget_store_t *s)
{
    if (s->aof == 1 || s->rdb == 1) {
        return 1;
    }

    if (s->aof == 0 && s->rdb == 0) {
        return 0;
    }

    return -1;
}


int
yibao_forget_restart_loses(const yibao_forget_store_t *s)
{
    return !(s->aof == 1 && strcmp(s->fsync, "always") == 0);
}


int
yibao_forget_evicts(const yibao_forget_store_t *s)
{
    return strncmp(s->policy, "allkeys-", 8) == 0
           || strncmp(s->policy, "volatile-", 9) == 0;
}


void
yibao_forget_describe(const yibao_forget_store_t *s, char *buf, size_t size)
{
    char  aof[48];

    if (size == 0) {
        return;
    }

    if (s->aof == 1) {
        snprintf(aof, sizeof(aof), "appendonly yes (appendfsync %s)",
                 s->fsync[0] ? s->fsync : "unknown");

    } else {
        snprintf(aof, sizeof(aof), "appendonly %s",
                 s->aof == 0 ? "no" : "unknown");
    }

    snprintf(buf, size, "%s, RDB snapshots %s, maxmemory-policy %s", aof,
             s->rdb == 1 ? "on" : (s->rdb == 0 ? "off" : "unknown"),
             s->policy[0] ? s->policy : "unknown");
}


static int
yibao_forget_is(const unsigned char *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}


/* p[0..len) as a NUL-terminated string in dst, cut to size */

static void
yibao_forget_copy(char *dst, size_t size, const unsigned char *p, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }

    memcpy(dst, p, len);
    dst[len] = '\0';
}
