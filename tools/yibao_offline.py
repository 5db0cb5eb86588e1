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
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/yibao/outage"
DEFAULT_RECORDS_URL = "http://127.0.0.1:8080/yibao/offline"

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def call(url, method="GET", timeout=15, **params):
    """The decoded JSON answer of the gateway's API, or Failure."""
    query = urllib.parse.urlencode({k: v for k, v in params.items()
                                    if v not in (None, "")})
    full = url + ("?" + query if query else "")
    req = urllib.request.Request(full, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            reason = json.loads(body).get("error") or ""
        except (ValueError, AttributeError):
            reason = ""
        if e.code == 404:
            raise Failure(EXIT_NOT_FOUND, reason or "not found")
        if e.code == 400:
            raise Failure(EXIT_USAGE, "the gateway refused: %s"
                          % (reason or "bad request"))
        if e.code == 403:
            raise Failure(EXIT_UNAVAILABLE, "the gateway does not allow "
                          "this host to use %s" % url)
        raise Failure(EXIT_UNAVAILABLE, "the gateway answered HTTP %d%s"
                      % (e.code, ": " + reason if reason else ""))
    except urllib.error.URLError as e:
        raise Failure(EXIT_UNAVAILABLE, "cannot reach the gateway at %s: %s"
                      % (url, e.reason))
    except (OSError, ValueError) as e:
        raise Failure(EXIT_UNAVAILABLE, "no answer from %s: %s" % (url, e))


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


def show_records(recs, out):
    if not recs:
        print("no records", file=out)
        return
    cells = [[("yes" if r.get(c) else "NO") if c == "verified"
              else str(r.get(c, "")) for c in RECORD_COLUMNS] for r in recs]
    widths = [max([len(x[i]) for x in cells] + [len(RECORD_COLUMNS[i])])
              for i in range(len(RECORD_COLUMNS))]
    print("  ".join(n.ljust(w) for n, w in zip(RECORD_COLUMNS, widths))
          .rstrip(), file=out)
    for x in cells:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)).rstrip(),
              file=out)


def records_command(args, out):
    url = args.records_url
    if args.command == "records":
        got = call(url, clinic=args.clinic)
        if args.json:
            print(json.dumps(got, ensure_ascii=False, indent=1), file=out)
        else:
            show_records(got["records"], out)
        return EXIT_OK
    if args.command == "export":
        import csv
        got = call(url, clinic=args.clinic)
        w = csv.writer(out)
        w.writerow(RECORD_COLUMNS)
        for r in got["records"]:
            w.writerow([r.get(c, "") for c in RECORD_COLUMNS])
        return EXIT_OK
    if args.command == "summary":
        got = call(url, summary="1")
        if args.json:
            print(json.dumps(got, ensure_ascii=False, indent=1), file=out)
            return EXIT_OK
        cols = ["entity", "recorded", "waiting", "replaying", "pending",
                "settling", "settled", "rejected", "voided", "unverified",
                "open_amount"]
        rows = [[str(e.get(c, "")) for c in cols] for e in got["entities"]]
        widths = [max([len(x[i]) for x in rows] + [len(cols[i])])
                  for i in range(len(cols))]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(),
              file=out)
        for x in rows:
            print("  ".join(v.ljust(w) for v, w in zip(x, widths)).rstrip(),
                  file=out)
        return EXIT_OK
    if args.command == "show":
        got = call(url, id=args.id)
    else:
        got = call(url, "POST", id=args.id, state="voided")
    if args.json:
        print(json.dumps(got, ensure_ascii=False, indent=1), file=out)
    else:
        show_records([got], out)
    return EXIT_OK if got.get("verified") else 4


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
    for name in ("show", "void"):
        p = sub.add_parser(name, help="one record" if name == "show"
                           else "void a record")
        p.add_argument("id")
    args = ap.parse_args(argv)

    try:
        if args.command == "platform":
            if args.switch:
                got = call(args.url, "POST", switch=args.switch)
            else:
                got = call(args.url)
            if args.json:
                print(json.dumps(got, ensure_ascii=False, indent=1),
                      file=out)
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
