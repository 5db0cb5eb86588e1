#!/bin/sh
# make deb: the Debian packages (debian/), built by dpkg-buildpackage in
# a copy of the tree, then checked by lintian.
#
#   tools/build-deb.sh OUT
#
# OUT (build/deb) gets the copy (OUT/src: the files git knows, tracked
# or new, or everything but build/ outside a git checkout), the .deb
# files, the .changes and .buildinfo, build.log and lintian.txt.  The
# repository and /usr/share/nginx/src are only read.  Fails when the
# build fails or lintian reports an error (E:); warnings are listed,
# and the ones that stay are explained in debian/*.lintian-overrides.

set -eu

out=${1:?usage: tools/build-deb.sh OUT}
root=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$out"
mkdir -p "$out/src"
out=$(cd "$out" && pwd)

cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
        | tar --null -T - -cf - | tar -C "$out/src" -xf -
else
    tar --exclude=./build --exclude=./.git -cf - . | tar -C "$out/src" -xf -
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
echo "deb: building yibao-gateway $version in $out/src (log: $out/build.log)"

cd "$out/src"
if ! dpkg-buildpackage -b -us -uc > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
fi

cd "$out"
changes=$(ls ./*.changes)
# lintian.txt is written last, when all is well: make's target
lintian --display-info --show-overrides --fail-on error "$changes" > lintian.out 2>&1 \
    || status=$?
for deb in ./*.deb; do
    printf 'deb: %-48s %8s bytes\n' "${deb#./}" "$(stat -c %s "$deb")"
done
if [ "${status:-0}" != 0 ]; then
    cat lintian.out
    echo "deb: lintian failed (exit ${status})" >&2
    exit 1
fi
echo "deb: lintian: $(grep -c '^E:' lintian.out || true) errors," \
     "$(grep -c '^W:' lintian.out || true) warnings," \
     "$(grep -c '^I:' lintian.out || true) notes," \
     "$(grep -c '^O:' lintian.out || true) overridden (lintian.txt)"
grep -E '^(E|W):' lintian.out || true
mv lintian.out lintian.txt
