#!/bin/sh
# Mechanical checks of the nginx code style and of the pure/glue split.
# Prints every offence as file:line and exits 1 if there is any.

cd "$(dirname "$0")/../.." || exit 1

status=0
files=$(ls module/*.[ch] adapters/*.[ch] adapters/*.cpp mappings/*.[ch] \
        base/*.[ch] 2>/dev/null)

fail() {
    echo "lint: $*"
    status=1
}

for f in $files; do
    awk -v f="$f" '
        length($0) > 80   { printf "lint: %s:%d: over 80 columns\n", f, NR; bad = 1 }
        /\t/              { printf "lint: %s:%d: tab\n", f, NR; bad = 1 }
        /[ ]+$/           { printf "lint: %s:%d: trailing space\n", f, NR; bad = 1 }
        /\r$/             { printf "lint: %s:%d: CRLF\n", f, NR; bad = 1 }
        /^[^"]*\/\//      { printf "lint: %s:%d: // comment\n", f, NR; bad = 1 }
        END               { exit bad }
    ' "$f" || status=1
done

for f in $(ls adapters/*.[ch] adapters/*.cpp mappings/*.[ch] base/*.[ch] \
         2>/dev/null); do
    if grep -nE '#include[[:space:]]*[<"](ngx_|nginx|hiredis/async)' "$f"; then
        fail "$f: nginx or async hiredis header in pure code"
    fi
done

for f in $(ls module/*.c 2>/dev/null); do
    case "$f" in
    module/ngx_http_yibao_*) ;;
    *) fail "$f: glue files are named ngx_http_yibao_<part>.c" ;;
    esac
done

for f in $(ls adapters/*.[ch] mappings/*.[ch] base/*.[ch] 2>/dev/null); do
    case "$(basename "$f")" in
    yibao_*) ;;
    *) fail "$f: pure files are named yibao_<unit>.[ch]" ;;
    esac
done

# formats: never a caller's text (tests/lint/formats.py)
/usr/bin/python3 tests/lint/formats.py || status=1

# the floors: no include reaches up (tests/lint/layers.py)
/usr/bin/python3 tests/lint/layers.py || status=1

# the functions of the pure code and of module/: at most 100 lines, or a
# reason written beside (tests/lint/lengths.py)
/usr/bin/python3 tests/lint/lengths.py || status=1

if [ $status -eq 0 ]; then
    echo "lint: ok ($(echo $files | wc -w) files)"
fi

exit $status
