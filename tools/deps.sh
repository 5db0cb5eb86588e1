#!/bin/sh
# Installs the Debian packages the project needs; quiet when all are there.
# Idempotent: run by `make deps`, `make run`, `make test` and .ci/run.

set -e

packages="nginx nginx-dev libjansson-dev libcmocka-dev libhiredis-dev
libssl-dev redis-server python3-pytest python3-requests python3-redis
wrk valgrind clang libclang-rt-14-dev pkg-config make gcc g++ openssl
libsimdjson-dev
debhelper dpkg-dev dh-python help2man lintian logrotate
ca-certificates chromium fonts-wqy-microhei"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run 'make deps' as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

# The Debian nginx package starts a system nginx on :80 on machines with
# an init system; the gateway runs its own nginx, so that one is not needed.
exit 0
