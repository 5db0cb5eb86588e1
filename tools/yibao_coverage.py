#!/usr/bin/python3
"""yibao-coverage: what the gateway saw of every clinic in its registry.

Asks the coverage reports of a gateway (yibao_coverage, by default
http://127.0.0.1:8081/yibao/coverage, the status listener of `make run`
and of the Debian package's site; --url or YIBAO_COVERAGE_URL):

  yibao-coverage silent [--days N]        no successful settlement in the
                                          last N days (default 7), or
                                          never seen at all
  yibao-coverage failing [--window D] [--threshold R] [--min-requests N]
                                          more than R of the requests of
                                          the last D days failed
  yibao-coverage never-activated          never a successful sign-in
                                          (9001) or settlement
  yibao-coverage townships                every township hospital with its
                                          villages (乡村一体化)
  yibao-coverage weekly                   the weekly registry report
                                          (机构ID ... 未纳入原因)
  yibao-coverage summary                  by county (admdvs) and township
  yibao-coverage clinics                  every clinic

Output is a table; --csv prints the gateway's CSV (UTF-8, RFC 4180) and
--json its JSON, as they are; -o FILE writes them to a file.  Lists are
complete: every clinic that matches is listed, the table says how many.
Reports hold registry codes and names, counts, times and gateway error
codes: no personal data, no secret.

Exit status: 0 done; 2 a usage error or a query the gateway refused
(its reason is printed); 3 the gateway could not answer.

Only the Python standard library is used.
"""

import argparse
import datetime
import json
import os
import sys

from yibao_api import EXIT_OK, Failure, fetch, table

DEFAULT_URL = "http://127.0.0.1:8081/yibao/coverage"

REPORTS = ("silent", "failing", "never-activated", "townships", "weekly",
           "summary", "clinics")


def when(t):
    if not t:
        return "never"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


CLINIC_COLUMNS = (
    ("clinic", "clinic"),
    ("name", "name"),
    ("admdvs", "admdvs"),
    ("mode", "mode"),
    ("key", "key_state"),
    ("last seen", lambda r: when(r["last_seen"])),
    ("last settled", lambda r: when(r["last_settled"])),
    ("today", lambda r: "%d/%d" % (r["today"]["failed"],
                                   r["today"]["requests"])),
    ("7 days", lambda r: "%d/%d" % (r["week"]["failed"],
                                    r["week"]["requests"])),
    ("top error", lambda r: r["top_error"] or ""),
)

GROUP_COLUMNS = (
    ("clinics", lambda r: r.get("villages", r.get("clinics"))),
    ("seen today", "seen_today"),
    ("seen 7 days", "seen_week"),
    ("never seen", "not_seen"),
    ("silent", "silent"),
    ("failing", "failing"),
    ("never activated", "never_activated"),
    ("failed today", lambda r: "%d/%d" % (r["today"]["failed"],
                                          r["today"]["requests"])),
)


def show(report, doc, out):
    if report in ("silent", "failing", "never-activated", "clinics"):
        if doc["clinics"]:
            table(doc["clinics"], CLINIC_COLUMNS, out)
        print("%d of the registry's %d clinics (failed/requests: today, "
              "7 days)" % (doc["count"], doc["registry"]), file=out)
    elif report == "townships":
        table(doc["townships"], (("township", "entity"), ("name", "name"),
                                 ("admdvs", "admdvs")) + GROUP_COLUMNS, out)
        print("%d township hospitals" % doc["count"], file=out)
    elif report == "summary":
        t = doc["total"]
        print("clinics %d, seen today %d, seen in 7 days %d, never seen %d, "
              "silent %d (%d days), failing %d, never activated %d"
              % (t["clinics"], t["seen_today"], t["seen_week"],
                 t["not_seen"], t["silent"], doc["silent_days"],
                 t["failing"], t["never_activated"]), file=out)
        print("keys: " + ", ".join("%s %d" % kv for kv in
                                   doc["keys"].items()), file=out)
        print("", file=out)
        table(doc["counties"], (("county", "admdvs"),) + GROUP_COLUMNS, out)
        print("", file=out)
        table(doc["townships"], (("township", "entity"), ("name", "name"))
              + GROUP_COLUMNS, out)
    else:  # weekly
        rows = doc["rows"]
        if rows:
            names = list(rows[0])
            table(rows, [(n, n) for n in names], out)
        print("%d clinics" % doc["count"], file=out)


def main(argv=None, out=sys.stdout, err=sys.stderr):
    ap = argparse.ArgumentParser(
        prog="yibao-coverage",
        description="Which clinics of the registry are silent, failing or "
                    "never activated; townships and their villages; the "
                    "weekly registry report.")
    ap.add_argument("report", choices=REPORTS)
    ap.add_argument("--url", default=os.environ.get("YIBAO_COVERAGE_URL",
                                                    DEFAULT_URL),
                    help="the coverage reports (default %(default)s)")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the gateway's JSON as it is")
    fmt.add_argument("--csv", action="store_true",
                     help="print the gateway's CSV as it is")
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="write the JSON or CSV to FILE")
    ap.add_argument("--days", type=int, metavar="N",
                    help="silent: no successful settlement in N days "
                         "(default 7)")
    ap.add_argument("--window", type=int, metavar="D",
                    help="failing: over the last D days, 1..7 (default 1: "
                         "today)")
    ap.add_argument("--threshold", metavar="R",
                    help="failing: more than this share of the requests "
                         "failed, 0..1 (default 0.2)")
    ap.add_argument("--min-requests", type=int, metavar="N",
                    help="failing: at least N requests (default 3)")
    args = ap.parse_args(argv)

    csv = args.csv or (args.output and args.output.endswith(".csv"))
    try:
        body = fetch(args.url, timeout=60, not_found=None,
                     refused="the gateway refused the query",
                     allow_hint=" (allow/deny)",
                     report=args.report.replace("-", "_"),
                     format="csv" if csv else "json",
                     silent_days=args.days, window=args.window,
                     threshold=args.threshold,
                     min_requests=args.min_requests)
    except Failure as e:
        print("yibao-coverage: %s" % e, file=err)
        return e.code

    if args.output:
        with open(args.output, "wb") as f:
            f.write(body)
        return EXIT_OK
    if args.json or csv:
        out.write(body.decode("utf-8"))
        out.flush()
        return EXIT_OK
    show(args.report, json.loads(body), out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
