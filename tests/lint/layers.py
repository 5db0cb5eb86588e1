"""The floors of the source tree, and that no include reaches up.

From the bottom: base/ (the types every unit shares), mappings/ (the
national codes and the tables), adapters/ (everything that decides),
module/ (the nginx glue).  A file may include headers of its own floor
and of the floors below it, never above; the pure floors never include
nginx.  Inside module/, the door to the stores (ngx_http_yibao_store.c,
ngx_http_yibao_store_journal.c and the features' ngx_http_yibao_store_keys.c,
_audit.c, _offline.c, _coverage.c) is the only place that calls Redis
(ngx_http_yibao_redis_*) or the zone as a store (ngx_http_yibao_shm_*)
and includes their headers; the yibao_zone directive may add the zone
(ngx_http_yibao_shm_add, ngx_http_yibao_module.c).  Prints every offence
as file:line and exits 1 if there is any.
Run by tests/lint/style.sh (make lint)."""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FLOORS = ("base", "mappings", "adapters", "module")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')

# the door to the stores, and the stores behind it
DOOR = ("ngx_http_yibao_store.c", "ngx_http_yibao_store_journal.c",
        "ngx_http_yibao_store_keys.c", "ngx_http_yibao_store_audit.c",
        "ngx_http_yibao_store_offline.c", "ngx_http_yibao_store_coverage.c",
        "ngx_http_yibao_store.h")
STORES = ("ngx_http_yibao_redis.c", "ngx_http_yibao_redis.h",
          "ngx_http_yibao_shm.c", "ngx_http_yibao_shm.h")
STORE_CALL = re.compile(r'\b(ngx_http_yibao_(?:redis|shm)_[a-z_]+)\s*\(')
STORE_HEADERS = ("ngx_http_yibao_redis.h", "ngx_http_yibao_shm.h",
                 "ngx_http_yibao_store.h")
CONFIG_CALLS = {"ngx_http_yibao_module.c": ("ngx_http_yibao_shm_add",)}


def headers():
    """header name -> the floor that holds it"""
    where = {}
    for floor in FLOORS:
        for name in os.listdir(os.path.join(ROOT, floor)):
            if name.endswith(".h"):
                where[name] = floor
    return where


def main():
    where = headers()
    bad = 0
    for level, floor in enumerate(FLOORS):
        for name in sorted(os.listdir(os.path.join(ROOT, floor))):
            if not name.endswith((".c", ".h", ".cpp")):
                continue
            path = os.path.join(floor, name)
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = os.path.basename(m.group(1))
                    if "/" in m.group(1):
                        print("lint: %s:%d: include by a path (%s): the "
                              "include path names the floors"
                              % (path, n, m.group(1)))
                        bad = 1
                    if target not in where:
                        continue
                    up = FLOORS.index(where[target])
                    if up > level:
                        print("lint: %s:%d: %s/ includes %s from %s/, a "
                              "floor above it" % (path, n, floor, target,
                                                  where[target]))
                        bad = 1
    return bad | door()


def door():
    """only the door calls the stores or includes their headers"""
    bad = 0
    for name in sorted(os.listdir(os.path.join(ROOT, "module"))):
        if not name.endswith((".c", ".h")) or name in DOOR + STORES:
            continue
        path = os.path.join("module", name)
        allowed = CONFIG_CALLS.get(name, ())
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if m and m.group(1) in STORE_HEADERS and not (
                        allowed and m.group(1) == "ngx_http_yibao_shm.h"):
                    print("lint: %s:%d: includes %s: only the door to the "
                          "stores (ngx_http_yibao_store*.c) does"
                          % (path, n, m.group(1)))
                    bad = 1
                for call in STORE_CALL.findall(line):
                    if call in allowed:
                        continue
                    print("lint: %s:%d: calls %s: only the door to the "
                          "stores (ngx_http_yibao_store*.c) calls Redis "
                          "and the zone's store functions" % (path, n, call))
                    bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
