#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/,
from the project's own examples: the outpatient flow of
tools/yibao_client.py run against the simulator (tools/yibao_sim.py)
in-process, the demo data files in conf/demo and the rules file.

    python3 tests/fuzz/make-corpus.py

Run it by hand when the formats change: it replaces the directory.  The
seeds are kept small on purpose (libFuzzer grows its own corpus in
build/fuzz/corpus); the flow's dates and ids follow the clock, so a
rerun writes slightly different files."""

import json
import os
import shutil
import struct
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import yibao_client  # noqa: E402
import yibao_sim  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
RS = b"\x1e"
CODE = "H37010200001"
NAME = "某镇卫生院"
ORG = "PDY60134132080312D6001"
MSGID = CODE + "202401150830100001"
INF_TIME = "2024-01-15 08:30:10"
NOW_S = int(time.mktime(time.strptime(INF_TIME, "%Y-%m-%d %H:%M:%S")))
PATH = "/fsi/api/rsfComIfsService/callService"


def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def compact(obj):
    return json.dumps(obj, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


class Corpus:
    def __init__(self):
        self.files = {}

    def add(self, target, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.files.setdefault(target, {})[name] = data

    def write(self):
        if os.path.isdir(OUT):
            shutil.rmtree(OUT)
        total = 0
        for target, files in sorted(self.files.items()):
            d = os.path.join(OUT, target)
            os.makedirs(d)
            for name, data in sorted(files.items()):
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
                total += len(data)
            print("%-10s %3d files" % (target, len(files)))
        print("total %d bytes" % total)


def flow():
    """The outpatient flow against the simulator: [(envelope, answer)]."""
    inst = yibao_sim.Institution(CODE, NAME, "370102", "AK", "SK")
    platform = yibao_sim.Platform([inst], scheme="none",
                                  clock=lambda: NOW_S + len(pairs))
    pairs = []

    def send(env):
        env["msgid"] = MSGID[:-4] + "%04d" % (len(pairs) + 1)
        env["inf_time"] = INF_TIME
        body = compact(env)
        r = platform.process("POST", PATH,
                             {"Content-Type": "application/json"}, body, {})
        pairs.append((env, r.body))
        return yibao_client.Response(r.status, {}, r.body)

    yibao_client.outpatient_flow(None, None, None, CODE, NAME, "370102",
                                 send=send, cancel=True)
    return pairs


def local_coded(env):
    """The same request with the clinic's local codes (what the
    translation replaces), as a HIS would send it."""
    env = json.loads(json.dumps(env))
    inp = env["input"]
    for row in inp.get("feedetail", []):
        row["med_list_codg"] = ""
        row["bilg_dept_codg"] = "QK"
        row["bilg_dr_codg"] = "D001"
    for d in inp.get("diseinfo", []):
        d["diag_code"] = "ZD0001"
        d["diag_name"] = ""
    data = inp.get("data")
    if isinstance(data, dict):
        if "mdtrt_cert_type" in data:
            data["mdtrt_cert_type"] = "SFZ"
        if "psn_cert_type" in data:
            data["psn_cert_type"] = "1"
        if "caty" in data:
            data["caty"] = "QK"
    return env


def main():
    c = Corpus()
    pairs = flow()

    # envelope: every request of the flow as sent, and some refusals
    for env, _ in pairs:
        c.add("envelope", "flow-%s.json" % env["infno"], compact(env))
    env = dict(pairs[5][0], fixmedins_code=ORG)
    c.add("envelope", "org-code-2206.json", compact(env))
    env = dict(pairs[4][0], input={"feedetail": [
        {"cnt": 1.0, "pric": 25.20, "det_item_fee_sumamt": 2.52e1,
         "x": [1e300, -1.5e-7, 0.1, True, False, None, "\u00e9\n\t\""]}]})
    c.add("envelope", "numbers-2204.json", compact(env))
    c.add("envelope", "empty", b"")
    c.add("envelope", "array", b"[]")
    c.add("envelope", "missing", b'{"infno":"1101","input":{}}')
    c.add("envelope", "deep", b'{"input":' + b"[" * 40 + b"]" * 40 + b"}")

    # answer: every answer of the flow, an error, and what is no envelope
    for env, ans in pairs:
        c.add("answer", "flow-%s.json" % env["infno"], yibao_sim.dumps(ans))
    sent = pairs[1][0]["msgid"]
    c.add("answer", "replace-1101",
          sent.encode() + RS + b"CALLER0001" + RS
          + compact(dict(pairs[1][1], inf_refmsgid=sent)))
    c.add("answer", "http-401", b'{"code":401,"message":"bad sig"}')
    c.add("answer", "html", b"<html><body>502 Bad Gateway</body></html>")
    c.add("answer", "infcode-str", b'{"infcode":"-1","err_msg":"FSI-x"}')

    # translate: requests with local codes, and answers of 5204
    for env, _ in pairs:
        if env["infno"] in ("1101", "2201", "2203", "2204", "2206", "2207"):
            c.add("translate", "local-%s.json" % env["infno"],
                  compact(local_coded(env)))
    rows = [{"bilg_dr_codg": "D370102000001", "orders_dr_code": "",
             "bilg_dept_codg": "A02", "acord_dept_codg": "",
             "med_list_codg": "XJ01CAA040A001010102699",
             "medins_list_codg": "", "det_item_fee_sumamt": 25.2},
            {"bilg_dr_codg": "D370102000001", "bilg_dept_codg": "A03",
             "med_list_codg": "001102000010000", "medins_list_codg": "X"}]
    c.add("translate", "answer-5204",
          b"@5204\n" + compact({"infcode": 0, "output": rows}))
    c.add("translate", "answer-2207",
          b"@2207\n" + yibao_sim.dumps(pairs[6][1]))

    # sign: now_ms, ak, sk, infno, body, nonce, api_version, prefix
    body = compact(pairs[4][0])
    for line in read("conf/demo/keys.tsv").splitlines():
        if line.startswith(b"k-H37010200001"):
            _, ak, sk = line.split(b"\t")
    c.add("sign", "demo-2204",
          struct.pack("<q", NOW_S * 1000 + 123) + RS.join(
              [ak, sk, b"2204", body, b"0123456789abcdefABCDEF0123456789",
               b"1.0.0", b"hsa.fsi."]))
    c.add("sign", "short", struct.pack("<q", 0) + RS.join(
        [b"a", b"b", b"1101", b"", b"n"]))

    # auth: now, window, secret, method, path, timestamp, nonce, body,
    # signature (as tools/yibao_client.py computes it)
    secret = b"demo-his-vendor-a-secret-0001"
    nonce = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"
    body = compact(pairs[1][0])
    sig = yibao_client.caller_signature(secret.decode(), "POST", PATH,
                                        str(NOW_S), nonce, body)
    head = struct.pack("<qq", NOW_S + 5, 300)
    parts = [secret, b"POST", PATH.encode(), str(NOW_S).encode(),
             nonce.encode(), body, sig.encode()]
    c.add("auth", "demo-1101", head + RS.join(parts))
    parts[6] = sig.upper().encode()
    c.add("auth", "demo-upper", head + RS.join(parts))
    parts[3] = b"17052786x0"
    c.add("auth", "bad-ts", head + RS.join(parts))

    # map: each demo table, and two tables in one build
    names = sorted(os.listdir(os.path.join(ROOT, "conf/demo/mappings")))
    for n in names:
        c.add("map", n, read("conf/demo/mappings/" + n))
    c.add("map", "two-files",
          b"drug\t*\tYP0001\tXJ01CAA040A001010102699\tx\r\n" + RS
          + b"\xef\xbb\xbfdrug\tclinic:" + ORG.encode()
          + b"\tYP0001\tXJ01CAA040A001010102699\n"
          + b"item\tadmdvs:37\tZL1\t001102000010000-110200001\n"
          + b"dict:psn_cert_type\tentity:" + CODE.encode() + b"\t1\t01\n")

    # audit_map: the shipped mapping of the visit to 3101, and a small one
    c.add("audit_map", "audit-3101.tsv", read("conf/audit-3101.tsv"))
    c.add("audit_map", "small",
          b'data\tsyscode\t"HIS01"\r\ndata\tp\t[patient]\n'
          b"patient\te\t[encounter]\nencounter\td\t[diagnose]\n"
          b"encounter\to\t[order]\norder\tamt\tline.amt\norder\tn\t-2\n")

    # registry: keys, clinics, callers, infnos
    reg = [read("conf/demo/keys.tsv"), read("conf/demo/clinics.tsv"),
           read("conf/demo/callers.tsv"), b"1101,2204,2207A,9001,2201-2208"]
    c.add("registry", "demo", RS.join(reg))
    c.add("registry", "crlf", RS.join(
        [p.replace(b"\n", b"\r\n") for p in reg[:3]] + [b"5203"]))

    # rules: the project's file, and each transaction's rules alone
    rules = read("conf/translate-rules.tsv")
    c.add("rules", "translate-rules.tsv", rules)
    groups = {}
    for line in rules.splitlines(True):
        if line.strip() and not line.startswith(b"#"):
            groups.setdefault(line.split(b"\t")[0], []).append(line)
    for infno, lines in sorted(groups.items()):
        c.add("rules", "rules-%s" % infno.decode(), b"".join(lines))

    # limit: tat, now, burst, nodes, then rate, cached value, text
    now_ms = NOW_S * 1000
    ans = yibao_sim.dumps(pairs[6][1])
    for rate in (b"600r/m", b"10r/s", b"30000r/h", b"100000r/d"):
        c.add("limit", "rate-" + rate.decode().replace("/", "-"),
              struct.pack("<QQIH", now_ms + 5000, now_ms, 20, 2)
              + RS.join([rate, str(now_ms + 60000).encode() + b"\n" + ans,
                         ans]))
    c.add("limit", "masked",
          struct.pack("<QQIH", 0, now_ms, 0, 1) + RS.join(
              [b"1r/d", b"x", b"certno 370102195603152017 and "
               b"37010219560315201X, psn_no 37000000000000000000123456"]))

    c.write()


if __name__ == "__main__":
    main()
