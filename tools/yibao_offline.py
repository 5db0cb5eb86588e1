#!/usr/bin/python3
"""yibao-offline: the platform's state as the gateway sees it, the
operator's switch (yibao_outage_api, by default
http://127.0.0.1:8080/yibao/outage; --url or YIBAO_OUTAGE_URL), and the
记账 records (yibao_offline_api, by default
http://127.0.0.1:8080/yibao/offline; --records-url or
YIBAO_OFFLINE_URL):

  yibao-offline platform                 the state, the switch, failures
  yibao-offline platform --switch down   the operator says: down (every
                                         transaction that creates state
                                         or moves money is refused at
                                         once with YB6020: 记账)
  yibao-offline platform --switch up     send everything, whatever fails
  yibao-offline platform --switch auto   the gateway's own observations

  yibao-offline records [--clinic CODE]  the records, each checked (its
                                         hash, its place in the clinic's
                                         chain)
  yibao-offline show ID                  one record
  yibao-offline void ID                  an operator voids a record: it
                                         is never settled
  yibao-offline replay [--id ID]         replay the records the rules
                                         let go now (补录: 9001 ... 2206,
                                         then pending); with --id that
                                         one, whatever the rules say
  yibao-offline export [--clinic CODE]   the records as CSV
  yibao-offline summary                  per township hospital (entity):
                                         records by state, the unverified,
                                         the amount not yet settled

Output is a table; --json prints the gateway's JSON as it is.

Exit status: 0 done; 1 no such record; 2 a usage error or a request the
gateway refused (its reason is printed); 3 the gateway could not answer
or does not allow this host; 4 the record shown fails its check (it was
changed, or the clinic's chain is broken before it).

Only the Python standard library is used.
"""

import argparse
import csv
import os
import sys

from yibao_api import EXIT_OK, EXIT_USAGE, Failure, call, print_json, \
    table

DEFAULT_URL = "http://127.0.0.1:8080/yibao/outage"
DEFAULT_RECORDS_URL = "http://127.0.0.1:8080/yibao/offline"

EXIT_CHANGED = 4


def show_platform(p, out):
    rows = [("platform", p.get("state")),
            ("switch", p.get("switch")),
            ("observed", p.get("observed")),
            ("since", p.get("since")),
            ("failures in a row", p.get("failures")),
            ("refused", p.get("refused")),
            ("down after", "%s failures" % p.get("failures_to_down")),
            ("probe after", "%s ms" % p.get("retry_ms"))]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%s  %s" % (k.ljust(width), "" if v is None else v), file=out)


RECORD_COLUMNS = ("id", "clinic", "seq", "day", "state", "total", "paid",
                  "verified", "problem")

SUMMARY_COLUMNS = ("entity", "recorded", "waiting", "replaying", "pending",
                   "settling", "settled", "rejected", "voided", "unverified",
                   "open_amount")


def show_records(recs, out):
    if not recs:
        print("no records", file=out)
        return
    table(recs, [(c, (lambda r: "yes" if r.get("verified") else "NO")
                  if c == "verified" else c) for c in RECORD_COLUMNS], out)


def records_command(args, out):
    url = args.records_url
    if args.command == "records":
        got = call(url, clinic=args.clinic)
        if args.json:
            print_json(got, out)
        else:
            show_records(got["records"], out)
        return EXIT_OK
    if args.command == "export":
        got = call(url, clinic=args.clinic)
        w = csv.writer(out)
        w.writerow(RECORD_COLUMNS)
        for r in got["records"]:
            w.writerow([r.get(c, "") for c in RECORD_COLUMNS])
        return EXIT_OK
    if args.command == "summary":
        got = call(url, summary="1")
        if args.json:
            print_json(got, out)
            return EXIT_OK
        table(got["entities"], [(c, c) for c in SUMMARY_COLUMNS], out)
        return EXIT_OK
    if args.command == "replay":
        if args.id:
            got = call(url, method="POST", replay="1", id=args.id)
        else:
            got = call(url, method="POST", replay="1")
        print_json(got, out)
        return EXIT_OK
    if not args.id:
        # an empty id would be left out of the query: every record
        raise Failure(EXIT_USAGE, "%s needs a record's id" % args.command)
    if args.command == "show":
        got = call(url, id=args.id)
    else:
        got = call(url, method="POST", id=args.id, state="voided")
    if args.json:
        print_json(got, out)
    else:
        show_records([got], out)
    return EXIT_OK if got.get("verified") else EXIT_CHANGED


def main(argv=None, out=sys.stdout):
    ap = argparse.ArgumentParser(
        prog="yibao-offline", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("YIBAO_OUTAGE_URL",
                                                    DEFAULT_URL),
                    help="the gateway's yibao_outage_api location")
    ap.add_argument("--json", action="store_true",
                    help="print the gateway's JSON")
    sub = ap.add_subparsers(dest="command", required=True)
    ap.add_argument("--records-url",
                    default=os.environ.get("YIBAO_OFFLINE_URL",
                                           DEFAULT_RECORDS_URL),
                    help="the gateway's yibao_offline_api location")
    p = sub.add_parser("platform", help="the platform's state; the switch")
    p.add_argument("--switch", choices=("down", "up", "auto"))
    for name in ("records", "export"):
        p = sub.add_parser(name, help="the 记账 records" if name ==
                           "records" else "the records as CSV")
        p.add_argument("--clinic")
    sub.add_parser("summary", help="records by state per entity")
    p = sub.add_parser("replay", help="replay the records (补录) now")
    p.add_argument("--id", help="this record, whatever the rules say")
    for name in ("show", "void"):
        p = sub.add_parser(name, help="one record" if name == "show"
                           else "void a record")
        p.add_argument("id")
    args = ap.parse_args(argv)

    try:
        if args.command == "platform":
            if args.switch:
                got = call(args.url, method="POST", switch=args.switch)
            else:
                got = call(args.url)
            if args.json:
                print_json(got, out)
            else:
                show_platform(got, out)
        else:
            return records_command(args, out)
    except Failure as e:
        print("yibao-offline: %s" % e, file=sys.stderr)
        return e.code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
