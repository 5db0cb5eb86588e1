#!/usr/bin/python3
"""Lint: the format argument of every nginx-style formatting call in the
C sources is a string literal (or a macro joined to one).

nginx's own formats (%V, %ui, ...) are not printf's, so the compiler
cannot check them: a caller's text passed as the format (as once in
ngx_http_yibao_reject(r, ctx, err.gwerr, err.msg)) reads %s and %n from
the request and crashes the worker.  The pure code's printf-style
functions carry __attribute__((format)), this covers the rest.

Prints one line per offending call; exits 1 if there is any."""

import glob
import os
import re
import sys

# function -> index of its format argument
FORMAT_ARG = {
    "ngx_log_error": 3, "ngx_conf_log_error": 3, "ngx_log_stderr": 1,
    "ngx_snprintf": 2, "ngx_sprintf": 1, "ngx_slprintf": 2,
    "ngx_http_yibao_reject": 3,
    "yibao_err_set": 2, "yibao_err_line": 2, "yibao_translate_problem": 4,
    "snprintf": 2, "fprintf": 1, "printf": 0, "sprintf": 1,
}
for n in range(9):
    FORMAT_ARG["ngx_log_debug%d" % n] = 3

# the one place a format is passed on: the varargs functions themselves
PASS_ON = re.compile(r"^(const\s+char\s+\*)?fmt$|^\.\.\.$")

CALL = re.compile(r"\b(%s)\s*\(" % "|".join(sorted(FORMAT_ARG)))


def arguments(src, i):
    """The top-level arguments of the call whose '(' ends at i."""
    depth, args, cur, in_str = 1, [], "", False
    while i < len(src) and depth:
        c = src[i]
        if in_str:
            cur += c
            if c == "\\":
                cur += src[i + 1]
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur += c
        elif c in "([{":
            depth += 1
            cur += c
        elif c in ")]}":
            depth -= 1
            if depth:
                cur += c
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    args.append(cur.strip())
    return args


def literal(arg):
    """A string literal, possibly after a macro (ngx_open_file_n " ...")."""
    return re.match(r'^([A-Za-z_][A-Za-z0-9_]*\s+)?"', arg) is not None


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    os.chdir(root)
    bad = []
    for path in sorted(glob.glob("module/*.c") + glob.glob("adapters/*.c")
                       + glob.glob("mappings/*.c") + glob.glob("tools/*.c")):
        src = open(path, encoding="utf-8").read()
        for m in CALL.finditer(src):
            args = arguments(src, m.end())
            k = FORMAT_ARG[m.group(1)]
            if len(args) <= k:
                continue
            if literal(args[k]) or PASS_ON.match(args[k]):
                continue
            line = src.count("\n", 0, m.start()) + 1
            bad.append("lint: %s:%d: %s() with a format that is not a "
                       "literal: %s" % (path, line, m.group(1), args[k][:50]))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
