#!/bin/sh
# Debian's own smoke test for a dynamic module: the stock nginx binary
# loads the .so with nothing else configured.

so=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat > "$dir/nginx.conf" <<CONF
load_module $so;
error_log stderr;
pid $dir/nginx.pid;
events {}
CONF

if nginx -p "$dir" -c "$dir/nginx.conf" -t -q; then
    echo "smoke: nginx -t loads $(basename "$so")"
else
    echo "smoke: nginx could not load $so" >&2
    exit 1
fi
