"""The mappings tool: tables validated exactly as the
gateway does, codes looked up both ways in the gateway's scope order, and
the codes the gateway refused as unmapped listed from its access logs."""

import collections
import glob
import gzip
import json
import os
import re
import subprocess
import time

from harness import ROOT
from test_gateway_core import township_clinic
from test_translate import LOCAL_FEES, local_flow, requests_seen

PYTHON = "/usr/bin/python3"
TOOL = os.path.join(ROOT, "tools", "yibao-mappings")
DEMO = os.path.join(ROOT, "conf", "demo", "mappings")
CLINICS = os.path.join(ROOT, "conf", "demo", "clinics.tsv")

CLINIC_1 = "PDY60134132080312D6001"     # 某村卫生室, entity H37010200001
CLINIC_2 = "PDY60134132080312D6002"     # 东村卫生室, the same entity
DRUG_A = "XJ01CAA040A001010102699"
DRUG_B = "XJ01DDT106A001010202354"


def tool(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([PYTHON, TOOL] + [str(a) for a in args],
                       capture_output=True, text=True, env=e,
                       stdin=subprocess.DEVNULL, timeout=120)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    with open(str(path), "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def rows_of(path):
    """(line number, columns) of a table's rows, read independently of
    the tool."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip() and not line.startswith("#"):
                out.append((n, line.split("\t")))
    return out


def fields(out):
    """"key   value" lines of lookup/reverse output as a dict of lists."""
    d = collections.defaultdict(list)
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        d[k].append(v.strip())
    return d


# --------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------

def test_validate_demo_tables_counts():
    rc, out, err = tool("validate", DEMO)
    assert rc == 0, err
    files = sorted(glob.glob(os.path.join(DEMO, "*.tsv")))
    kinds, scopes, total = collections.Counter(), collections.Counter(), 0
    for f in files:
        rows = rows_of(f)
        total += len(rows)
        assert "%s: %d rows\n" % (f, len(rows)) in out, f
        for _, cols in rows:
            kinds[cols[0]] += 1
            s = cols[1]
            scopes["admdvs:%d" % (len(s) - 7) if s.startswith("admdvs:")
                   else s.split(":")[0]] += 1
    assert total > 200
    assert "ok: %d files, %d rows," % (len(files), total) in out
    table = dict(re.findall(r"^  (\S+)\s+(\d+)$", out, re.M))
    for kind, n in kinds.items():
        assert int(table[kind]) == n, kind
    for scope in ("clinic", "entity", "admdvs:6", "admdvs:4", "admdvs:2",
                  "*"):
        assert int(table[scope]) == scopes[scope], scope
    # the demo has a clinic-scoped, an entity-scoped and a regional row
    assert scopes["clinic"] and scopes["entity"] and scopes["admdvs:6"]


def test_validate_broken_table_names_file_line_like_nginx(make_stack):
    stack = make_stack(start=False)
    maps = stack.path("data", "mappings")
    drugs = os.path.join(maps, "drugs.tsv")
    with open(drugs, "a", encoding="utf-8") as f:
        f.write("drug\t*\tYP7777\tNOTNATIONAL\t某药\n")
    bad_line = sum(1 for _ in open(drugs, encoding="utf-8"))

    rc, out, err = tool("validate", maps)
    assert rc == 1
    want = ('%s line %d: column 4 "national_code": "NOTNATIONAL" is not a '
            'national drug code' % (drugs, bad_line))
    assert want in err.splitlines()
    assert "ok:" not in out

    # nginx -t refuses the same table with the same words
    rc, text = stack.test_config()
    assert rc != 0
    assert want.split(": ", 1)[1] in text, text
    assert "line %d" % bad_line in text


def test_validate_reports_every_broken_file(tmp_path):
    good = write(tmp_path / "good.tsv",
                 "drug\t*\tYP1\t%s\t某药\n" % DRUG_A)
    scope = write(tmp_path / "scope.tsv",
                  "# a comment\n\nitem\tclinic:SHORT\tZL1\t001102000010000\n")
    cols = write(tmp_path / "cols.tsv", "item\t*\tZL2\n")
    rc, out, err = tool("validate", good, scope, cols,
                        tmp_path / "missing.tsv")
    assert rc == 1
    lines = err.splitlines()
    assert ('%s line 3: column 2 "scope": "clinic:SHORT" is not clinic: and '
            'a 22-char organisation code (digits and upper-case letters)'
            % scope) in lines
    assert any(x.startswith("%s line 1: expected 4 or 5 TAB-separated "
                            "fields" % cols) and x.endswith("got 3")
               for x in lines), err
    assert "%s: No such file or directory" % (tmp_path / "missing.tsv") \
        in lines
    assert "4 problems" not in err and "3 problems" in err
    assert "%s: 1 row\n" % good in out


def test_validate_cross_file_and_in_file_duplicates(tmp_path):
    a = write(tmp_path / "a.tsv", "item\t*\tZL0001\t001102000010000\t诊查费\n")
    b = write(tmp_path / "b.tsv",
              "# items of another vendor\n"
              "item\tadmdvs:37\tZL0001\t001101000010000\n"
              "item\t*\tZL0001\t001101000010000\t一般诊疗费\n")
    rc, out, err = tool("validate", a, b)
    assert rc == 1
    assert ('%s line 3: column 3 "local_code": "ZL0001" (kind item, scope *) '
            'is a duplicate of %s line 1' % (b, a)) in err.splitlines()

    # the same code in another scope or of another kind is no duplicate
    c = write(tmp_path / "c.tsv",
              "item\tadmdvs:37\tZL0001\t001101000010000\n"
              "drug\t*\tZL0001\t%s\n" % DRUG_A)
    rc, out, err = tool("validate", a, c)
    assert rc == 0, err
    assert "ok: 2 files, 3 rows" in out

    d = write(tmp_path / "d.tsv",
              "drug\t*\tYP1\t%s\ndrug\t*\tYP2\t%s\ndrug\t*\tYP1\t%s\n"
              % (DRUG_A, DRUG_A, DRUG_B))
    rc, out, err = tool("validate", d)
    assert rc == 1
    assert ('%s line 3: column 3 "local_code": "YP1" (kind drug, scope *) is '
            'a duplicate of line 1' % d) in err.splitlines()


# --------------------------------------------------------------------------
# lookup and reverse
# --------------------------------------------------------------------------

def test_lookup_clinic_row_wins_over_global_for_that_clinic():
    rc, out, err = tool("lookup", "--kind", "drug", "--clinic", CLINIC_1,
                        "--clinics", CLINICS, "YP0004", DEMO)
    assert rc == 0, err
    f = fields(out)
    assert f["national"] == [DRUG_B]
    assert f["scope"] == ["clinic:" + CLINIC_1]
    drugs = os.path.join(DEMO, "drugs.tsv")
    assert f["row"][0].startswith(drugs + " line ")
    n = int(f["row"][0].rsplit(" ", 1)[1])
    assert dict(rows_of(drugs))[n][:4] == ["drug", "clinic:" + CLINIC_1,
                                          "YP0004", DRUG_B]
    assert len(f["overrides"]) == 1
    assert f["overrides"][0].startswith("* YP0004 -> XJ01DDT106A001945930894")

    # another clinic of the same entity gets the global row
    rc, out, err = tool("lookup", "--kind", "drug", "--clinic", CLINIC_2,
                        "--clinics", CLINICS, "YP0004", DEMO)
    assert rc == 0, err
    f = fields(out)
    assert f["national"] == ["XJ01DDT106A001945930894"]
    assert f["scope"] == ["*"]
    assert "overrides" not in f


def test_lookup_every_scope_level_in_order(tmp_path):
    t = write(tmp_path / "levels.tsv", "".join(
        "drug\t%s\tL1\t%s\t%s\n" % (scope, nat, name) for scope, nat, name in (
            ("*", "XA000000000000000000001", "global"),
            ("admdvs:37", "XA000000000000000000002", "province"),
            ("admdvs:3701", "XA000000000000000000003", "city"),
            ("admdvs:370102", "XA000000000000000000004", "county"),
            ("entity:H37010200001", "XA000000000000000000005", "entity"),
            ("clinic:" + CLINIC_1, "XA000000000000000000006", "clinic"))))
    cases = [
        ([], "global", "*"),
        (["--admdvs", "370000"], "province", "admdvs:37"),
        (["--admdvs", "370199"], "city", "admdvs:3701"),
        (["--admdvs", "370102"], "county", "admdvs:370102"),
        (["--admdvs", "370102", "--entity", "H37010200001"], "entity",
         "entity:H37010200001"),
        (["--admdvs", "370102", "--entity", "H37010200001", "--clinic",
          CLINIC_1], "clinic", "clinic:" + CLINIC_1),
        (["--admdvs", "370102", "--entity", "H37010200002", "--clinic",
          CLINIC_2], "county", "admdvs:370102"),
    ]
    for opts, name, scope in cases:
        rc, out, err = tool("lookup", "--kind", "drug", *opts, "L1", t)
        assert rc == 0, (opts, err)
        f = fields(out)
        assert f["name"] == [name], opts
        assert f["scope"] == [scope], opts
        # every less specific row is listed as overridden, in order
        order = ["clinic:" + CLINIC_1, "entity:H37010200001",
                 "admdvs:370102", "admdvs:3701", "admdvs:37", "*"]
        over = [x.split(" ")[0] for x in f.get("overrides", [])]
        assert over == order[order.index(scope) + 1:], (opts, over)

    # reverse: the national code of the clinic row, back in that scope only
    rc, out, err = tool("reverse", "--kind", "drug", "--clinic", CLINIC_1,
                        "XA000000000000000000006", t)
    assert rc == 0, err
    assert fields(out)["local"] == ["L1"]
    rc, out, err = tool("reverse", "--kind", "drug", "--clinic", CLINIC_2,
                        "XA000000000000000000006", t)
    assert rc == 1
    assert "no drug mapping" in out


def test_reverse_and_dictionaries_and_misses():
    # national -> local: the clinic's own local code, else the global one
    rc, out, err = tool("reverse", "--kind", "item", "--clinic", CLINIC_1,
                        "--clinics", CLINICS, "001204000010000", DEMO)
    assert rc == 0, err
    f = fields(out)
    assert f["local"] == ["ZS02"] and f["scope"] == ["clinic:" + CLINIC_1]
    assert f["overrides"][0].startswith("* 001204000010000 -> ZL0009")
    rc, out, err = tool("reverse", "--kind", "item", "--clinic", CLINIC_2,
                        "--clinics", CLINICS, "001204000010000", DEMO)
    assert rc == 0, err
    assert fields(out)["local"] == ["ZL0009"]

    # staff rows are entity-scoped: --clinics supplies the entity
    rc, out, err = tool("lookup", "--kind", "staff", "--clinic", CLINIC_1,
                        "D001", DEMO)
    assert rc == 1 and "no staff mapping" in out
    rc, out, err = tool("lookup", "--kind", "staff", "--clinic", CLINIC_1,
                        "--clinics", CLINICS, "D001", DEMO)
    assert rc == 0, err
    assert fields(out)["scope"] == ["entity:H37010200001"]
    assert re.fullmatch(r"D\d{12}", fields(out)["national"][0])

    for kind in (["--kind", "dict:psn_cert_type"],
                 ["--kind", "dict", "--dict", "psn_cert_type"]):
        rc, out, err = tool("lookup", *kind, "1", DEMO)
        assert rc == 0, err
        assert fields(out)["national"] == ["01"]

    rc, out, err = tool("lookup", "--kind", "drug", "YP9999", DEMO)
    assert rc == 1 and out.startswith("YP9999: no drug mapping")
    rc, out, err = tool("lookup", "--kind", "medicine", "YP0001", DEMO)
    assert rc == 2 and "--kind" in err
    rc, out, err = tool("lookup", "--kind", "drug", "--admdvs", "37",
                        "YP0001", DEMO)
    assert rc == 2 and "6-digit" in err


def test_missing_maptool_is_a_clear_message(tmp_path):
    rc, out, err = tool("validate", DEMO,
                        env={"YIBAO_MAPTOOL": str(tmp_path / "nothing")})
    assert rc == 2
    assert "YIBAO_MAPTOOL" in err and "not an executable" in err


# --------------------------------------------------------------------------
# unmapped
# --------------------------------------------------------------------------

def log_line(when, clinic, name, infno, unmapped, error="YB4001",
             entity="H37010200001"):
    return json.dumps({
        "time": when, "msec": 0, "status": 422 if error else 200,
        "caller": "village-subsystem", "clinic": clinic,
        "clinic_name": name, "entity": entity, "infno": infno,
        "error": error, "error_detail": "", "unmapped": unmapped,
        "request_time": 0.001}, ensure_ascii=False) + "\n"


def hand_written_logs(d):
    os.makedirs(str(d), exist_ok=True)
    old = (
        log_line("2026-11-25T16:00:00+08:00", CLINIC_2, "东村卫生室", "2204",
                 "feedetail[0].medins_list_codg=YP9990 (drug,item,"
                 "consumable)"))
    with gzip.open(str(d / "access.log.2.gz"), "wt", encoding="utf-8") as f:
        f.write(old)
    write(d / "access.log.1", log_line(
        "2026-11-26T08:00:00+08:00", CLINIC_1, "某村卫生室", "2204",
        "feedetail[0].medins_list_codg=YP9990 (drug,item,consumable); "
        "feedetail[2].medins_list_codg=ZL9991 (drug,item,consumable); "
        "feedetail[3].medins_list_codg=YP9990 (drug,item,consumable)"))
    write(d / "access.log", "".join([
        log_line("2026-11-26T09:30:00+08:00", CLINIC_1, "某村卫生室", "2204",
                 "feedetail[0].medins_list_codg=YP9990 (drug,item,"
                 "consumable); feedetail[0].bilg_dr_codg=D999 (staff); "
                 "feedetail[1].cnt=abc (not a number)"),
        log_line("2026-11-26T10:00:00+08:00", CLINIC_1, "某村卫生室", "2203",
                 "mdtrtinfo.dise_codg=ZD777 (chronic,diagnosis); "
                 "diseinfo[0].diag_code=ZD777 (diagnosis)"),
        log_line("2026-11-26T10:05:00+08:00", CLINIC_1, "某村卫生室", "2204",
                 "feedetail[0].det_item_fee_sumamt=25.22 (not cnt 2 x pric "
                 "12.6 within 0.01)", error="YB4004"),
        log_line("2026-11-26T10:06:00+08:00", CLINIC_1, "某村卫生室", "1101",
                 "", error=""),
        "this line is not JSON\n"]))
    return str(d)


def test_unmapped_from_hand_written_logs(tmp_path):
    logs = hand_written_logs(tmp_path / "logs")
    rc, out, err = tool("unmapped", "--log", logs, "--json")
    assert rc == 0, err
    assert "1 malformed line" in err
    rep = json.loads(out)
    codes = {c["code"]: c for c in rep["codes"]}
    # checks that failed are not unmapped codes
    assert set(codes) == {"YP9990", "ZL9991", "D999", "ZD777"}
    assert rep["refused_transactions"] == 4
    # sorted by the count of refused transactions
    assert [c["code"] for c in rep["codes"]][0] == "YP9990"
    counts = [c["count"] for c in rep["codes"]]
    assert counts == sorted(counts, reverse=True)

    yp = codes["YP9990"]
    # twice in one transaction counts once; the rotated, gzipped file too
    assert yp["count"] == 3 and yp["occurrences"] == 4
    assert yp["kinds"] == ["drug", "item", "consumable"]
    assert yp["fields"] == [{"infno": "2204",
                             "path": "feedetail[].medins_list_codg",
                             "count": 4}]
    assert [(c["clinic"], c["clinic_name"], c["count"])
            for c in yp["clinics"]] == [(CLINIC_1, "某村卫生室", 2),
                                        (CLINIC_2, "东村卫生室", 1)]
    assert yp["first"] == "2026-11-25 16:00:00.000"
    assert yp["last"] == "2026-11-26 09:30:00.000"

    zd = codes["ZD777"]
    assert zd["kinds"] == ["chronic", "diagnosis"]
    assert {f["path"] for f in zd["fields"]} == {"mdtrtinfo.dise_codg",
                                                 "diseinfo[].diag_code"}
    assert codes["D999"]["kinds"] == ["staff"]

    # --since leaves out the older lines
    rc, out, err = tool("unmapped", "--log", logs, "--json",
                        "--since", "2026-11-26T09:00")
    rep = json.loads(out)
    codes = {c["code"]: c for c in rep["codes"]}
    assert set(codes) == {"YP9990", "D999", "ZD777"}
    assert codes["YP9990"]["count"] == 1
    rc, out, err = tool("unmapped", "--log", logs, "--json",
                        "--until", "2026-11-25")
    assert [c["code"] for c in json.loads(out)["codes"]] == ["YP9990"]

    # the text report: a block per code, the most frequent first
    rc, out, err = tool("unmapped", "--log", logs)
    assert rc == 0
    assert out.startswith("4 unmapped codes in 4 refused transactions")
    assert re.search(r"^\s+3\s+YP9990\s+\(drug,item,consumable\)$", out,
                     re.M)
    assert out.index("YP9990") < out.index("ZL9991")
    assert "%s 某村卫生室 (2), %s 东村卫生室 (1)" % (CLINIC_1, CLINIC_2) in out
    assert "2026-11-25 16:00:00.000 .. 2026-11-26 09:30:00.000" in out
    assert "abc" not in out and "25.22" not in out


def test_unmapped_tsv_skeleton_completes_into_a_valid_table(tmp_path):
    logs = hand_written_logs(tmp_path / "logs")
    rc, out, err = tool("unmapped", "--log", logs, "--tsv")
    assert rc == 0, err
    rows = [line.split("\t") for line in out.splitlines()
            if line and not line.startswith("#")]
    assert ["drug|item|consumable", "*", "YP9990", "", ""] in rows
    assert ["diagnosis", "*", "ZD777", "", ""] in rows
    # staff ids are each entity's own
    assert ["staff", "entity:H37010200001", "D999", "", ""] in rows
    assert len(rows) == 4

    # as it comes, the skeleton is refused: there is a choice to make
    skel = write(tmp_path / "new.tsv", out)
    rc, vout, verr = tool("validate", skel)
    assert rc == 1
    assert re.search(r'new\.tsv line \d+: column 1 "kind": '
                     r'"drug\|item\|consumable"', verr), verr

    # filled in, it is a table the gateway takes, beside the demo's
    national = {"YP9990": ("drug", "XJ01CAA040A001010109999", "新药"),
                "ZL9991": ("item", "001102000010000", "诊查费"),
                "ZD777": ("diagnosis", "I10.x00", "高血压"),
                "D999": ("staff", "D370102009999", "新医师")}
    filled = []
    for line in out.splitlines():
        cols = line.split("\t")
        if line.startswith("#") or len(cols) != 5:
            filled.append(line)
            continue
        kind, nat, name = national[cols[2]]
        filled.append("\t".join([kind, cols[1], cols[2], nat, name]))
    write(skel, "\n".join(filled) + "\n")
    rc, vout, verr = tool("validate", DEMO, skel)
    assert rc == 0, verr
    assert "%s: 4 rows" % skel in vout

    # --scope clinic: one row for every clinic that sent the code
    rc, out, err = tool("unmapped", "--log", logs, "--tsv", "--scope",
                        "clinic")
    rows = [line.split("\t") for line in out.splitlines()
            if line and not line.startswith("#")]
    assert sorted(r[1] for r in rows if r[2] == "YP9990") == [
        "clinic:" + CLINIC_1, "clinic:" + CLINIC_2]


def test_unmapped_end_to_end_from_a_refused_2204(make_stack):
    stack = make_stack(scheme="csb")
    clinic = township_clinic(stack)
    fees = [dict(LOCAL_FEES[1], medins_list_codg="YP9990"),
            LOCAL_FEES[0],
            dict(LOCAL_FEES[0], medins_list_codg="ZL9991")]
    steps = local_flow(stack, clinic, fee_lines=fees)
    infno, status, body = steps[-1]
    assert infno == "2204" and status == 422, body
    assert "YB4001" in body["err_msg"]
    assert requests_seen(stack, "2204") == []
    time.sleep(0.3)

    rc, out, err = tool("unmapped", "--log", stack.path("logs"), "--json")
    assert rc == 0, err
    codes = {c["code"]: c for c in json.loads(out)["codes"]}
    assert set(codes) == {"YP9990", "ZL9991"}
    for c in codes.values():
        assert c["count"] == 1
        assert c["clinics"][0]["clinic"] == clinic["org"]
        assert c["clinics"][0]["clinic_name"] == clinic["name"]
        assert c["fields"][0]["path"] == "feedetail[].medins_list_codg"
        assert c["fields"][0]["infno"] == "2204"

    # complete the skeleton, validate, reload: the same fees now go out
    rc, out, err = tool("unmapped", "--log", stack.path("logs"), "--tsv")
    assert rc == 0, err
    national = {"YP9990": ("drug", DRUG_A), "ZL9991": ("item",
                                                       "001102000010000")}
    lines = []
    for line in out.splitlines():
        cols = line.split("\t")
        if not line.startswith("#") and len(cols) == 5:
            kind, nat = national[cols[2]]
            line = "\t".join([kind, cols[1], cols[2], nat, "补录"])
        lines.append(line)
    maps = stack.path("data", "mappings")
    write(os.path.join(maps, "completed.tsv"), "\n".join(lines) + "\n")
    rc, vout, verr = tool("validate", maps)
    assert rc == 0, verr

    # into a table nginx.conf names, and reload
    with open(os.path.join(maps, "drugs.tsv"), "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.unlink(os.path.join(maps, "completed.tsv"))
    rc, vout, verr = tool("validate", maps)
    assert rc == 0, verr
    stack.reload()
    time.sleep(1.5)

    local_flow(stack, clinic, fee_lines=fees)
    sent = requests_seen(stack, "2204")
    assert sent, "2204 still refused after the tables were completed"
    got = [r["med_list_codg"] for r in sent[-1]["input"]["feedetail"]]
    assert got == [DRUG_A, "001102000010000", "001102000010000"]
