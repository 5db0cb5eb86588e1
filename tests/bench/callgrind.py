#!/usr/bin/python3
"""Instructions per request under callgrind (`make bench`).

The front nginx runs with `master_process off` (one process) under
`valgrind --tool=callgrind` in front of the canned local platform of
tests/bench/throughput.py; one keep-alive connection sends the requests
one after the other.  Each case runs twice, with N1 and N2 requests;
callgrind's total instruction count of the two runs differs by what
N2 - N1 requests cost, start-up, the first requests (lazy set-up, the
upstream connection) and shut-down cancel out:

  BENCH instr <case> per_request=<n> vs_proxy=<x>

Cases:

  proxy          plain nginx proxy_pass (the reference)
  gateway_1101   the gateway (embedded store, no limits) with the
                 579-byte 1101 of the throughput bench
  gateway_2204   the gateway with a 2204 of 50 fee lines (local codes
                 of the demo tables, about 40 KB)
  cache_hit      the gateway answering the 1101 from its cache

Instruction counts do not depend on what else the machine is doing, so
they are the figure to compare between two builds.  BENCH_INSTR_N1,
BENCH_INSTR_N2 (default 20 and 220), BENCH_INSTR_CASES.
"""

import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import throughput as tp  # noqa: E402
import yibao_client  # noqa: E402
import yibao_stack  # noqa: E402

N1 = int(os.environ.get("BENCH_INSTR_N1", "20"))
N2 = int(os.environ.get("BENCH_INSTR_N2", "220"))

# 2204: 北村卫生室 (entity H37010200105, its own staff in the demo
# tables), 50 fee lines of drugs, items and consumables
DRUGS = ["YP%04d" % i for i in range(1, 21)]
ITEMS = ["ZL%04d" % i for i in range(1, 11)]
CONSUMABLES = ["HC%04d" % i for i in range(1, 11)]
STAFF = ["D001", "D002"]
DEPTS = ["NK", "QK"]


# a 2204 is journaled: each request has a msgid of its own, as a
# clinic's would (a repeated msgid is a retry, answered differently)
MSGID_MARK = "2024011508@@@@@@@@"


def fresh_msgid(body, i):
    """body with the MSGID_MARK replaced by a time and a counter."""
    stamp = "%02d%02d0%03d" % (30 + i // 60000 % 30, i // 1000 % 60,
                               i % 1000)
    return body.replace(MSGID_MARK.encode(), ("2024011508" + stamp).encode())


def body_2204():
    code, name = tp.CLINICS["own"]
    codes = DRUGS + ITEMS + CONSUMABLES
    rows = []
    for i in range(50):
        cnt = i % 4 + 1
        pric = 3.25 + (i % 9) * 1.5
        amt = round(cnt * pric, 2)
        rows.append({
            "feedetl_sn": str(i + 1),
            "mdtrt_id": "370000170527620000000000000001",
            "psn_no": "37000000000000000000123456",
            "chrg_bchno": "20240115000001", "dise_codg": "",
            "rxno": "RX%04d" % (i + 1), "rx_circ_flag": "0",
            "fee_ocur_time": "2024-01-15 08:30:00",
            "med_list_codg": "", "medins_list_codg": codes[i % len(codes)],
            "det_item_fee_sumamt": ("%.2f" % amt) if i % 3 == 0 else amt,
            "cnt": cnt, "pric": pric, "sin_dos_dscr": "0.5g",
            "used_frqu_dscr": "tid", "prd_days": 4,
            "medc_way_dscr": "口服",
            "bilg_dept_codg": DEPTS[i // 25], "bilg_dept_name": "",
            "bilg_dr_codg": STAFF[i // 25], "bilg_dr_name": "",
            "acord_dept_codg": DEPTS[1 - i // 25], "acord_dept_name": "",
            "orders_dr_code": STAFF[1 - i // 25], "orders_dr_name": "",
            "hosp_appr_flag": "1", "tcmdrug_used_way": "",
            "etip_flag": "", "etip_hosp_code": "",
            "dscg_tkdrug_flag": "", "matn_fee_flag": ""})
    env = yibao_client.make_envelope(
        "2204", {"feedetail": rows}, code, name, tp.ADMDVS,
        sign_no="370000202401150800000012",
        msgid=code + MSGID_MARK,
        inf_time="2024-01-15 08:30:10")
    return tp.compact(env).encode("utf-8")


def answer_2204():
    result = []
    for i in range(50):
        cnt = i % 4 + 1
        pric = 3.25 + (i % 9) * 1.5
        result.append({
            "feedetl_sn": str(i + 1), "det_item_fee_sumamt": round(
                cnt * pric, 2), "cnt": cnt, "pric": pric,
            "pric_uplmt_amt": 99999, "selfpay_prop": 0,
            "fulamt_ownpay_amt": 0, "overlmt_amt": 0, "preselfpay_amt": 0,
            "inscp_scp_amt": round(cnt * pric, 2), "chrgitm_lv": "01",
            "med_chrgitm_type": "09", "bas_medn_flag": "1",
            "hi_nego_drug_flag": "0", "chld_medc_flag": "0",
            "list_sp_item_flag": "0", "lmt_used_flag": "0",
            "drt_reim_flag": "0", "memo": ""})
    ans = dict(tp.ANSWER_1101, output={"result": result})
    return tp.compact(ans)


def long_answer_conf(answer):
    """The platform's configuration for an answer longer than a
    configuration parameter may be (4 KB): `set` in pieces, then
    `return` their concatenation."""
    pieces = [answer[i:i + 3000] for i in range(0, len(answer), 3000)]
    sets = "".join("            set $a%d '%s';\n" % (i, p)
                   for i, p in enumerate(pieces))
    ret = "".join("$a%d" % i for i in range(len(pieces)))
    conf = tp.UPSTREAM_CONF.replace("return 200 '${answer}';",
                                    sets.lstrip() + "            return 200 "
                                    "\"" + ret + "\";")
    if conf == tp.UPSTREAM_CONF or "'" in answer:
        raise RuntimeError("cannot render the platform's answer")
    return conf


# --------------------------------------------------------------------------
# the front nginx under callgrind
# --------------------------------------------------------------------------

def valgrind_cmd(out):
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
            "--dump-line=no", "--compress-strings=no", "-q"]


def single_process(conf):
    """master_process off, one worker (the same as the wrk cases but
    for the second worker)."""
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(?m)^master_process\s+on;", "master_process off;",
                      text)
    if n != 1:
        raise RuntimeError("no master_process line in %s" % conf)
    text = re.sub(r"(?m)^worker_processes\s+\S+;", "worker_processes 1;",
                  text)
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)


class GrindPlain(tp.PlainNginx):
    def start_grind(self, out):
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.workdir, d), exist_ok=True)
        conf = os.path.join(self.workdir, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(re.sub(r"\$\{(\w+)\}",
                           lambda m: str(self.values[m.group(1)]),
                           self.template))
        single_process(conf)
        self.out = open(os.path.join(self.workdir, "logs", "nginx.out"), "w")
        self.proc = subprocess.Popen(
            valgrind_cmd(out) + ["nginx", "-p", self.workdir, "-c", conf,
                                 "-e", self.error_log],
            stdout=self.out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        yibao_stack.wait_port(self.port, timeout=120, proc=self.proc,
                              what="nginx under callgrind")
        return self.proc


class GrindStack(tp.BenchStack):
    out = None

    def write_files(self):
        conf = tp.BenchStack.write_files(self)
        single_process(conf)
        return conf

    def nginx_cmd(self, *extra):
        cmd = tp.BenchStack.nginx_cmd(self, *extra)
        if self.out and not extra:
            cmd = valgrind_cmd(self.out) + cmd
        return cmd

    def start_nginx(self):
        self.nginx_out = open(self.path("logs", "nginx.out"), "w")
        self.nginx = subprocess.Popen(self.nginx_cmd(),
                                      stdout=self.nginx_out,
                                      stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        yibao_stack.wait_port(self.port, timeout=120, proc=self.nginx,
                              what="nginx under callgrind")


def total_ir(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % path)


def function_ir(path, name):
    """A function's inclusive instructions in a profile (0: not run)."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                          "--threshold=100", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if line.rstrip().endswith(":" + name) or \
                (" " + name + " ") in line or line.rstrip().endswith(name):
            return int(line.split()[0].replace(",", ""))
    return 0


# what the log phase's count of a request in its clinic's coverage
# slot costs (module/ngx_http_yibao_coverage.c), measured in the 1101
COVERAGE_FUNCTION = "ngx_http_yibao_cov_log_handler"


def send(port, body, n):
    """n signed requests on one keep-alive connection; every answer must
    be HTTP 200 with infcode 0."""
    ts = str(int(time.time()))
    rand = os.urandom(8).hex()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for i in range(n):
            nonce = "%s%016d" % (rand, i)
            data = fresh_msgid(body, i)
            body_hash = hashlib.sha256(data).hexdigest()
            sig = hmac.new(tp.SECRET.encode(),
                           ("POST\n%s\n%s\n%s\n%s" % (
                               tp.PATH, ts, nonce, body_hash)).encode(),
                           hashlib.sha256).hexdigest()
            conn.request("POST", tp.PATH, body=data, headers={
                "Content-Type": "application/json",
                "X-Yibao-Caller": tp.CALLER, "X-Yibao-Timestamp": ts,
                "X-Yibao-Nonce": nonce, "X-Yibao-Signature": sig})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200 or not re.search(rb'"infcode"\s*:\s*0\s*[,}]',
                                                data):
                raise RuntimeError("request %d: HTTP %d %s" % (
                    i, r.status, data[:300]))
    finally:
        conn.close()


def stop(proc, port):
    """SIGTERM; under valgrind a process asleep in epoll_wait() may not
    see a signal before its next event, so a connection wakes it."""
    proc.send_signal(signal.SIGTERM)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        pass
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("nginx under callgrind did not stop")


def grind(case, workdir, upstream, body, module, n, warm):
    """Total instructions of one nginx life answering n (+ warm) requests."""
    os.makedirs(workdir)
    out = os.path.join(workdir, "callgrind.out")
    if case == "proxy":
        srv = GrindPlain(workdir, tp.PROXY_CONF, 1,
                         upstream="127.0.0.1:%d" % upstream.port)
        proc = srv.start_grind(out)
        port = srv.port
    else:
        caches = (tp.CACHE_LINE,) if case == "cache_hit" else ()
        srv = GrindStack(workdir, scheme="none",
                         upstream="127.0.0.1:%d" % upstream.port,
                         workers=1, log_level="warn", limits=(),
                         module=module, caches=caches)
        srv.out = out
        srv.write_files()
        srv.start_nginx()
        proc = srv.nginx
        port = srv.port
    try:
        send(port, body, warm + n)
    finally:
        stop(proc, port)
    problems = tp.log_problems(srv.error_log)
    if problems:
        raise RuntimeError("error.log: " + problems[0].strip()[:300])
    return total_ir(out)


CASES = ("proxy", "gateway_1101", "gateway_2204", "cache_hit")


def main():
    if shutil.which("valgrind") is None:
        print("BENCH instr skipped reason=\"valgrind is not installed\"")
        return 1
    if not os.path.exists(yibao_stack.MODULE):
        print("BENCH instr skipped reason=\"no module (make module)\"")
        return 1
    wanted = [c for c in os.environ.get("BENCH_INSTR_CASES", "").split(",")
              if c]
    cases = [c for c in CASES if not wanted or c in wanted or c == "proxy"]
    base = os.path.join(tp.ROOT, "build", "bench", "callgrind")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    module = os.path.join(base, os.path.basename(yibao_stack.MODULE))
    shutil.copyfile(yibao_stack.MODULE, module)

    b1101 = tp.request_body("own")
    b2204 = body_2204()
    up1101 = tp.PlainNginx(os.path.join(base, "upstream-1101"),
                           tp.UPSTREAM_CONF, 1,
                           answer=tp.compact(tp.ANSWER_1101)).start()
    up2204 = tp.PlainNginx(os.path.join(base, "upstream-2204"),
                           long_answer_conf(answer_2204()), 1).start()
    tp.log("instr: callgrind, nginx master_process off, one connection, "
           "%d - %d requests; 1101 %d B, 2204 (50 lines) %d B"
           % (N2, N1, len(b1101), len(b2204)))
    status = 0
    proxy = None
    try:
        for case in cases:
            body = b2204 if case == "gateway_2204" else b1101
            up = up2204 if case == "gateway_2204" else up1101
            try:
                # the cache case's first request fills the cache
                warm = 1 if case == "cache_hit" else 0
                t0 = time.monotonic()
                ir1 = grind(case, os.path.join(base, case + "-n1"), up,
                            body, module, N1, warm)
                ir2 = grind(case, os.path.join(base, case + "-n2"), up,
                            body, module, N2, warm)
            except Exception as e:  # noqa: report, go on
                print("BENCH instr %s failed reason=\"%s\""
                      % (case, str(e).replace('"', "'")[:300]), flush=True)
                status = 1
                continue
            per = (ir2 - ir1) / float(N2 - N1)
            if case == "proxy":
                proxy = per
            line = "BENCH instr %s per_request=%d" % (case, round(per))
            if proxy:
                line += " vs_proxy=%.2f" % (per / proxy)
            print(line, flush=True)
            tp.log("instr: %s: %d and %d instructions in all, %.0f s"
                   % (case, ir1, ir2, time.monotonic() - t0))
            if case == "gateway_1101":
                c1 = function_ir(os.path.join(base, case + "-n1",
                                              "callgrind.out"),
                                 COVERAGE_FUNCTION)
                c2 = function_ir(os.path.join(base, case + "-n2",
                                              "callgrind.out"),
                                 COVERAGE_FUNCTION)
                cov = (c2 - c1) / float(N2 - N1)
                print("BENCH instr coverage_1101 per_request=%d "
                      "share=%.2f%%" % (round(cov), 100.0 * cov / per),
                      flush=True)
    finally:
        up1101.stop()
        up2204.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
