"""tools/yibao-journal, the operators' CLI of the journal API: records,
queries, 3201 totals, resolutions; clear errors and exit codes."""

import json
import os
import subprocess

from harness import ROOT, free_port, sim_get, sim_post

import yibao_client as client
from test_gateway_core import CALLER, SECRET, township_clinic
from test_journal_queries import money, platform_totals

TOOL = os.path.join(ROOT, "tools", "yibao-journal")


def cli(stack_or_url, *args):
    url = stack_or_url if isinstance(stack_or_url, str) \
        else stack_or_url.url + "/yibao/journal"
    p = subprocess.run([TOOL, "--url", url] + list(args),
                       capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def flow(stack, clinic, fault=None):
    if fault:
        sim_post(stack, "fault", dict(fault, infno="2207", count=1))
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   state=st)
    return st, steps


def test_cli_unknown_get_resolve(make_stack):
    stack = make_stack(scheme="csb")
    clinic = township_clinic(stack)
    st, steps = flow(stack, clinic, {"mode": "drop_after_act"})
    assert steps[-1][1] == 502
    msgid = st.msgids["2207"]

    rc, out, err = cli(stack, "unknown")
    assert rc == 0, err
    assert msgid in out and "unknown" in out and "upstream_msgid" in out

    rc, out, _ = cli(stack, "--json", "unknown", "--today",
                     "--clinic", clinic["org"])
    assert rc == 0 and [x["msgid"] for x in json.loads(out)] == [msgid]

    # get by the platform's msgid: the record, personal data masked
    upstream = json.loads(cli(stack, "--json", "get", msgid)[1])[0][
        "upstream_msgid"]
    rc, out, _ = cli(stack, "get", upstream)
    assert rc == 0 and msgid in out and "state" in out
    assert st.psn_no not in out

    # resolved by what 5203 shows, without naming the caller
    setl_id = sim_get(stack, "settlements")["settlements"][0]["setl_id"]
    rc, out, err = cli(stack, "resolve", upstream, "--state", "ok",
                       "--setl-id", setl_id)
    assert rc == 0, err
    assert "is now ok" in out and setl_id in out
    rc, out, _ = cli(stack, "unknown", "--today")
    assert rc == 0 and out.strip() == "no records"
    rc, out, _ = cli(stack, "find", "--setl-id", setl_id)
    assert rc == 0 and msgid in out


def test_cli_find_and_totals(make_stack):
    stack = make_stack(scheme="csb")
    clinic = township_clinic(stack)
    st, steps = flow(stack, clinic)
    assert steps[-1][0] == "2207" and steps[-1][1] == 200

    rc, out, _ = cli(stack, "find", "--mdtrt-id", st.mdtrt_id)
    assert rc == 0
    assert st.msgids["2201"] in out and st.msgids["2207"] in out
    rc, out, _ = cli(stack, "--json", "find", "--clinic", clinic["org"])
    assert rc == 0 and st.msgids["2207"] in [x["msgid"]
                                             for x in json.loads(out)]
    rc, out, _ = cli(stack, "find", "--clinic", clinic["org"],
                     "--day", "2001-01-01")
    assert rc == 0 and out.strip() == "no records"

    n, med, fund, acct = platform_totals(stack, clinic["entity"])
    rc, out, _ = cli(stack, "totals", "--entity", clinic["entity"])
    assert rc == 0
    assert money(med) in out and "fixmedins_setl_cnt" in out

    figures = ["--medfee-sumamt", money(med), "--fund-pay-sumamt",
               money(fund), "--acct-pay", money(acct), "--count", str(n)]
    rc, out, _ = cli(stack, "totals", "--entity", clinic["entity"],
                     *figures)
    assert rc == 0 and "BALANCED" in out and "NOT" not in out
    figures[1] = money(med + 100)
    rc, out, _ = cli(stack, "totals", "--entity", clinic["entity"],
                     *figures)
    assert rc == 4 and "NOT BALANCED" in out and "1.00" in out


def test_cli_errors(make_stack):
    stack = make_stack(scheme="none", server_extra="""
        location = /denied/yibao/journal {
            deny all;
            yibao_journal_api;
        }
""")
    rc, out, err = cli(stack, "get", "NOSUCHMSGID", "--caller", CALLER)
    assert rc == 1 and "no such record" in err
    rc, out, err = cli(stack, "get", "NOSUCHMSGID")
    assert rc == 1 and "NOSUCHMSGID" in err
    rc, out, err = cli(stack, "find", "--clinic", "a b")
    assert rc == 2 and "refused" in err and "clinic" in err
    rc, out, err = cli(stack, "totals", "--entity", "E1", "--day", "26/11")
    assert rc == 2 and "YYYY-MM-DD" in err
    rc, out, err = cli(stack, "resolve", "NOSUCHMSGID", "--state", "ok")
    assert rc == 1
    rc, out, err = cli(stack, "resolve", "M1", "--state", "maybe")
    assert rc == 2 and "invalid choice" in err
    rc, out, err = cli(stack.url + "/denied/yibao/journal", "unknown")
    assert rc == 3 and "does not allow" in err
    rc, out, err = cli("http://127.0.0.1:%d/yibao/journal" % free_port(),
                       "unknown")
    assert rc == 3 and "cannot reach" in err
    p = subprocess.run([TOOL], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr
