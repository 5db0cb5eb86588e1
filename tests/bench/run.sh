#!/bin/sh
# Benchmarks (`make bench`): each part builds its program into
# build/bench/ with -O2 against the pure sources (no sanitizers) and
# prints "BENCH <name> key=value ..." lines.  Add a part as a function
# and call it at the end.

cd "$(dirname "$0")/../.." || exit 1

CC=${CC:-cc}
CXX=${CXX:-c++}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=build/bench
BENCH_CFLAGS="-std=gnu99 -O2 -Wall -Wextra -Ibase -Imappings -Iadapters"

mkdir -p "$OUT" || exit 1


# mapping tables: load 1,000,000 rows, bytes per row, lookup time

bench_mapping() {
    table="$OUT/mappings-1m.tsv"

    $CC $BENCH_CFLAGS -o "$OUT/bench_mapping" tests/bench/bench_mapping.c \
        mappings/yibao_map.c mappings/yibao_hash.c mappings/yibao_tsv.c \
        mappings/yibao_codes.c base/yibao_types.c || return 1

    if [ ! -s "$table" ]; then
        echo "bench: generating $table (1,000,000 rows)"
        "$PYTHON" tools/gen-mappings.py -n 1000000 --seed 1 \
            -o "$table.tmp" && mv "$table.tmp" "$table" || return 1
    fi

    "$OUT/bench_mapping" "$table"
}


# the registry at province scale: keys and clinics of 50,000 clinics
# (tools/gen-registry.py) loaded as at configuration time (must be under
# 1 s), and a caller allowed all 50,000 by org code matched against the
# last one, beside a caller allowed "*"

bench_registry() {
    reg="$OUT/registry-50k"

    $CC $BENCH_CFLAGS -o "$OUT/bench_registry" tests/bench/bench_registry.c \
        mappings/yibao_registry.c mappings/yibao_hash.c mappings/yibao_tsv.c \
        mappings/yibao_codes.c mappings/yibao_gwerr.c mappings/yibao_infno.c \
        base/yibao_types.c || return 1

    if [ ! -s "$reg/clinics.tsv" ]; then
        "$PYTHON" tools/gen-registry.py --out "$reg" -n 50000 --seed 1 \
            > /dev/null || return 1
    fi

    "$OUT/bench_registry" "$reg"
}


# code translation: a 2204 of 50 fee lines of local codes with the real
# rules and the demo tables; translate alone, and parse + translate +
# serialize, over 20,000 requests

bench_translate() {
    $CXX -std=c++17 -O2 -Wall -Wextra -Iadapters -c \
        -o "$OUT/yibao_json.o" adapters/yibao_json.cpp || return 1

    $CC $BENCH_CFLAGS -o "$OUT/bench_translate" \
        tests/bench/bench_translate.c adapters/yibao_translate.c \
        adapters/yibao_rules.c adapters/yibao_decimal.c \
        adapters/yibao_envelope.c adapters/yibao_fields.c \
        base/yibao_types.c \
        mappings/yibao_map.c mappings/yibao_hash.c mappings/yibao_tsv.c \
        mappings/yibao_codes.c mappings/yibao_gwerr.c "$OUT/yibao_json.o" \
        -ljansson -lsimdjson -lstdc++ || return 1

    "$OUT/bench_translate"
}


# the fee-line audit: a 2204 of 50 lines with every rule of the demo
# rules on (tests/bench/bench_audit.c); "BENCH audit_2204_50 us="

bench_audit() {
    $CC $BENCH_CFLAGS -o "$OUT/bench_audit" tests/bench/bench_audit.c \
        adapters/yibao_audit.c base/yibao_types.c mappings/yibao_hash.c \
        mappings/yibao_tsv.c mappings/yibao_codes.c -ljansson || return 1

    "$OUT/bench_audit"
}


# clinic coverage: a request's count in its clinic's slot, and every
# report over 50,000 clinics, pure (tests/bench/bench_coverage.c), then
# through a gateway with a 50,000-clinic registry over HTTP
# (tests/bench/coverage_reports.py); docs/benchmarks.md

bench_coverage() {
    $CXX -std=c++17 -O2 -Wall -Wextra -Iadapters -c \
        -o "$OUT/yibao_json.o" adapters/yibao_json.cpp || return 1

    $CC $BENCH_CFLAGS -o "$OUT/bench_coverage" tests/bench/bench_coverage.c \
        adapters/*.c mappings/*.c base/*.c "$OUT/yibao_json.o" \
        -ljansson -lsimdjson -lstdc++ -lcrypto || return 1

    "$OUT/bench_coverage" && "$PYTHON" tests/bench/coverage_reports.py
}


# throughput: wrk against plain nginx proxy_pass and the
# gateway (embedded store; Redis + limits; cache hits; shm + limits), all
# in front of one canned local platform; "BENCH <case> rps= p50_ms=
# p99_ms= ratio_vs_proxy= ...", the median of 3 rounds.  About 5 min;
# tests/bench/throughput.py (BENCH_ROUNDS, BENCH_DURATION, BENCH_CASES,
# ...) and docs/benchmarks.md.
# TODO(cache): cache_hit configures `yibao_cache infno=1101 ttl=1h;`
# (CACHE_LINE in throughput.py, or YIBAO_BENCH_CACHE); while nginx -t
# refuses that line it prints "BENCH cache_hit skipped reason=...".

bench_throughput() {
    "$PYTHON" tests/bench/throughput.py
}


# throughput as deployed: the template as shipped (csb, one limit by
# entity, journal, transaction log), 1 worker, the 1101 and the 2204 of
# 50 fee lines, embedded store and Redis, next to plain proxy_pass, at 1
# and 32 connections; CPU per request of the front worker and of
# redis-server, "BENCH deploy <case> conns= cpu_us_per_req=
# added_us_vs_proxy= ...", the median of 3 interleaved rounds.  About
# 4 min; tests/bench/deployment.py and docs/benchmarks.md.

bench_deploy() {
    "$PYTHON" tests/bench/deployment.py
}


# journal queries over 200 outpatient flows of one clinic, with Redis and
# with the embedded store; then over 100,000 settlements in the zone, and
# the latency of settlements sent beside them (tests/bench/
# journal_queries.py, docs/benchmarks.md).  About 6 min.

bench_journal() {
    "$PYTHON" tests/bench/journal_queries.py
}


# instructions per request: nginx with master_process
# off under callgrind, plain proxy_pass against the gateway with the 1101,
# the 2204 of 50 fee lines and a cache hit; "BENCH instr <case>
# per_request= vs_proxy="; tests/bench/callgrind.py.  About 1 min.

bench_instr() {
    "$PYTHON" tests/bench/callgrind.py
}


status=0

bench_mapping || status=1
bench_registry || status=1
bench_translate || status=1
bench_audit || status=1
bench_coverage || status=1
bench_instr || status=1
bench_throughput || status=1
bench_deploy || status=1
bench_journal || status=1

exit $status
