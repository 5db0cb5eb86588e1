#!/usr/bin/python3
"""yibao-journal: the gateway's msgid journal, for operations.

Talks to the journal API of a gateway (yibao_journal_api, by default
http://127.0.0.1:8080/yibao/journal, the port of `make run` and of the
Debian package's site; --url or YIBAO_JOURNAL_URL):

  yibao-journal get MSGID [--caller CALLER]
  yibao-journal find --mdtrt-id ID | --setl-id ID | --clinic CODE [--day D]
  yibao-journal unknown [--today | --day D] [--clinic CODE]
  yibao-journal totals --entity CODE [--day D] [--insutype T]
                [--clr-type T] [--medfee-sumamt X --fund-pay-sumamt X
                 --acct-pay X --count N]
  yibao-journal resolve MSGID --state ok|failed [--setl-id ID]
                [--caller CALLER]

MSGID is the caller's msgid or the platform's (upstream) one.  `unknown`
lists the records whose outcome is unknown (every day); with --today or
--day the money-moving transactions of that day that are unknown,
failed or overdue.  `totals` gives what 3201 needs for an entity and a
day, and with the figures of a statement compares them.

Output is a table; --json prints the gateway's JSON as it is.  psn_no
arrives masked; the stored answers are never served.

Exit status: 0 done; 1 no such record; 2 a usage error or a query the
gateway refused (its reason is printed); 3 the gateway or its store
could not answer; 4 totals compared and not balanced.

Only the Python standard library is used.
"""

import argparse
import datetime
import os
import sys

from yibao_api import (EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, Failure,
                       print_json, table)
import yibao_api

DEFAULT_URL = "http://127.0.0.1:8080/yibao/journal"

EXIT_UNBALANCED = 4


def call(base, path="", method="GET", **params):
    """The decoded JSON answer of the journal API, or Failure."""
    return yibao_api.call(base, path, method,
                          refused="the gateway refused the query",
                          not_found="no such record",
                          allow_hint=" (allow/deny)", **params)


def when(ms):
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).strftime(
        "%Y-%m-%d %H:%M:%S")


def state_of(r):
    return r.get("state", "") + (" (overdue)" if r.get("overdue") else "")


RECORD_COLUMNS = (
    ("sent", lambda r: when(r.get("sent_ms"))),
    ("infno", "infno"),
    ("state", state_of),
    ("clinic", "clinic"),
    ("msgid", "msgid"),
    ("upstream_msgid", "upstream_msgid"),
    ("mdtrt_id", "mdtrt_id"),
    ("setl_id", lambda r: r.get("platform_setl_id") or r.get("setl_id", "")),
    ("medfee", "medfee_sumamt"),
)


def show_records(records, out):
    if not records:
        print("no records", file=out)
        return
    table(records, RECORD_COLUMNS, out)


def show_record(r, out):
    width = max(len(k) for k in r)
    for k, v in r.items():
        if k in ("sent_ms", "done_ms") and v:
            v = "%s (%s)" % (v, when(v))
        print("%s  %s" % (k.ljust(width), "" if v is None else v), file=out)


def show_totals(t, out):
    print("entity %s, day %s" % (t["entity"], t["day"]), file=out)
    cols = (("insutype", "insutype"), ("clr_type", "clr_type"),
            ("medfee_sumamt", "medfee_sumamt"),
            ("fund_pay_sumamt", "fund_pay_sumamt"),
            ("acct_pay", "acct_pay"),
            ("fixmedins_setl_cnt", "fixmedins_setl_cnt"))
    rows = list(t["totals"]) + [dict(t["all"], insutype="all", clr_type="")]
    table(rows, cols, out)
    if t.get("unknown"):
        print("\noutcome not known (the totals may be short of these):",
              file=out)
        show_records(t["unknown"], out)
    if t.get("incomplete"):
        print("\nsettled but without amounts in the journal (resolved by "
              "hand; look them up with 5203):", file=out)
        show_records(t["incomplete"], out)
    if t.get("statements"):
        print("\n3201 statements recorded:", file=out)
        table(t["statements"], (
            ("msgid", "msgid"), ("insutype", "insutype"),
            ("clr_type", "clr_type"),
            ("period", lambda r: "%s..%s" % (r.get("stmt_begndate", ""),
                                             r.get("stmt_enddate", ""))),
            ("stmt_rslt", "stmt_rslt"),
            ("journal", lambda r: "" if "journal" not in r else
             "agrees" if r["journal"].get("balanced") else "differs"),
            ("stmt_rslt_dscr", "stmt_rslt_dscr")), out)
    if "compare" in t:
        c = t["compare"]
        print("\ncompared with the given figures: %s"
              % ("BALANCED" if c.get("balanced") else "NOT BALANCED"),
              file=out)
        rows = [dict(v, figure=k) for k, v in c.items() if k != "balanced"]
        table(rows, (("figure", "figure"), ("given", "given"),
                     ("journal", "journal"), ("diff", "diff")), out)


def main(argv=None, out=sys.stdout, err=sys.stderr):
    ap = argparse.ArgumentParser(
        prog="yibao-journal",
        description="The gateway's msgid journal: records, queries, "
                    "totals for 3201, resolutions.")
    ap.add_argument("--url", default=os.environ.get("YIBAO_JOURNAL_URL",
                                                    DEFAULT_URL),
                    help="the journal API (default %(default)s)")
    ap.add_argument("--json", action="store_true",
                    help="print the gateway's JSON as it is")
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("get", help="a record by msgid")
    g.add_argument("msgid")
    g.add_argument("--caller", help="the caller (HIS) that sent it")

    f = sub.add_parser("find", help="records by mdtrt_id, setl_id or clinic")
    w = f.add_mutually_exclusive_group(required=True)
    w.add_argument("--mdtrt-id")
    w.add_argument("--setl-id")
    w.add_argument("--clinic")
    f.add_argument("--day", help="YYYY-MM-DD (with --clinic; default "
                   "today)")

    u = sub.add_parser("unknown", help="settlements whose outcome is "
                       "unknown, or failed ones of a day")
    d = u.add_mutually_exclusive_group()
    d.add_argument("--today", action="store_true")
    d.add_argument("--day")
    u.add_argument("--clinic")

    t = sub.add_parser("totals", help="what 3201 needs for an entity and "
                       "a day")
    t.add_argument("--entity", required=True,
                   help="the contracting entity (fixmedins_code)")
    t.add_argument("--day", help="YYYY-MM-DD (default today)")
    t.add_argument("--insutype")
    t.add_argument("--clr-type")
    t.add_argument("--medfee-sumamt")
    t.add_argument("--fund-pay-sumamt")
    t.add_argument("--acct-pay")
    t.add_argument("--count", help="fixmedins_setl_cnt to compare")

    r = sub.add_parser("resolve", help="record an unknown outcome's "
                       "resolution")
    r.add_argument("msgid")
    r.add_argument("--state", required=True, choices=("ok", "failed"))
    r.add_argument("--setl-id")
    r.add_argument("--caller")

    a = ap.parse_args(argv)

    try:
        return run(a, out)
    except Failure as e:
        print("yibao-journal: %s" % e, file=err)
        return e.code


def run(a, out):
    base = a.url

    if a.cmd == "get":
        if a.caller:
            got = call(base, caller=a.caller, msgid=a.msgid)
        else:
            got = call(base, msgid=a.msgid)
            if not got:
                raise Failure(EXIT_NOT_FOUND, "no record of msgid %s"
                              % a.msgid)
        if a.json:
            print_json(got, out)
        elif isinstance(got, list):
            for i, rec in enumerate(got):
                if i:
                    print(file=out)
                show_record(rec, out)
        else:
            show_record(got, out)
        return EXIT_OK

    if a.cmd == "find":
        got = call(base, mdtrt_id=a.mdtrt_id, setl_id=a.setl_id,
                   clinic=a.clinic, day=a.day)
    elif a.cmd == "unknown":
        if a.today or a.day:
            got = call(base, problems="1", day=a.day or "today",
                       clinic=a.clinic)
        else:
            got = call(base, state="unknown")
            if a.clinic:
                got = [x for x in got if x.get("clinic") == a.clinic]
    elif a.cmd == "totals":
        got = call(base, "/totals", entity=a.entity, day=a.day,
                   insutype=a.insutype, clr_type=a.clr_type,
                   medfee_sumamt=a.medfee_sumamt,
                   fund_pay_sumamt=a.fund_pay_sumamt, acct_pay=a.acct_pay,
                   fixmedins_setl_cnt=a.count)
        if a.json:
            print_json(got, out)
        else:
            show_totals(got, out)
        if "compare" in got and not got["compare"].get("balanced"):
            return EXIT_UNBALANCED
        return EXIT_OK
    else:
        caller, msgid = a.caller, a.msgid
        if not caller:
            # the record tells its caller (and the caller's msgid)
            found = call(base, msgid=a.msgid)
            if not found:
                raise Failure(EXIT_NOT_FOUND, "no record of msgid %s"
                              % a.msgid)
            if len({(x["caller"], x["msgid"]) for x in found}) > 1:
                raise Failure(EXIT_USAGE, "msgid %s is known for several "
                              "callers: name one with --caller" % a.msgid)
            caller, msgid = found[0]["caller"], found[0]["msgid"]
        got = call(base, method="POST", caller=caller, msgid=msgid,
                   state=a.state, setl_id=a.setl_id)
        if a.json:
            print_json(got, out)
        else:
            print("resolved: caller %s msgid %s is now %s%s"
                  % (caller, msgid, got.get("state"),
                     " (setl_id %s)" % got["setl_id"]
                     if got.get("setl_id") else ""), file=out)
        return EXIT_OK

    if a.json:
        print_json(got, out)
    else:
        show_records(got, out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
