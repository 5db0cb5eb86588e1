"""Lint: no function of the pure code (base/, mappings/, adapters/) or
of the nginx glue (module/) is over 100 lines without a reason written
beside it.

A function's length is counted from its opening "{" to its closing "}",
both at column 0 as the nginx style puts them, both counted.  A longer
function needs "Long:" and the reason in the comment just above it.
Prints every offence as file:line and exits 1 if there is any.  With -v
it prints every function of more than 60 lines, longest first.  Run by
tests/lint/style.sh (make lint)."""

import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FOLDERS = ("base", "mappings", "adapters", "module")
LIMIT = 100
NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_:]*)\(")


def functions(path):
    """(name, line of the name, length, comment above) of every
    function of a C or C++ file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    found = []
    name, at, start = None, 0, None
    for n, line in enumerate(lines, 1):
        m = NAME.match(line)
        if m:
            name, at = m.group(1), n
        elif line.startswith("{") and name is not None:
            start = n
        elif line.startswith("}") and start is not None:
            found.append((name, at, n - start + 1, comment(lines, at)))
            name, start = None, None
    return found


def comment(lines, at):
    """The comment that ends just above a function (its type line, then
    blank lines, then the comment), or ""."""
    i = at - 3
    while i >= 0 and lines[i].strip() == "":
        i -= 1
    if i < 0 or not lines[i].rstrip().endswith("*/"):
        return ""
    end = i
    while i >= 0 and "/*" not in lines[i]:
        i -= 1
    return "\n".join(lines[max(i, 0):end + 1])


def main():
    os.chdir(ROOT)
    every = []
    bad = 0
    for folder in FOLDERS:
        for path in sorted(glob.glob(folder + "/*.c")
                           + glob.glob(folder + "/*.cpp")):
            for name, at, length, above in functions(path):
                every.append((length, path, at, name))
                if length > LIMIT and "Long:" not in above:
                    print("lint: %s:%d: %s is %d lines, over %d without "
                          "a \"Long:\" reason in the comment above it"
                          % (path, at, name, length, LIMIT))
                    bad = 1
    if "-v" in sys.argv[1:]:
        for length, path, at, name in sorted(every, reverse=True):
            if length > 60:
                print("%4d %s:%d %s" % (length, path, at, name))
    return bad


if __name__ == "__main__":
    sys.exit(main())
