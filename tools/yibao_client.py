#!/usr/bin/python3
"""yibao-client: the clinic side of yibao-gateway, for tests and by hand.

A calling system (village-doctor subsystem, clinic HIS) signs each
request to the gateway (adapters/yibao_auth.h):

  X-Yibao-Caller     caller id
  X-Yibao-Timestamp  Unix seconds
  X-Yibao-Nonce      32 random chars of [A-Za-z0-9]
  X-Yibao-Signature  lower-case hex HMAC-SHA256(secret,
                       METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n"
                       hex(SHA-256(body)))

and posts a national envelope (the national interface's envelope).

Importable:
  caller_signature(), signed_headers(), make_envelope(), post(),
  outpatient_flow(), default_fee_lines()
Command line:
  yibao-client --gateway URL --caller ID --secret S send FILE.json
  yibao-client --gateway URL --caller ID --secret S flow --clinic CODE \\
      --name NAME --admdvs 370102 [--cancel]

Only the Python standard library is used.
"""

import argparse
import collections
import datetime
import hashlib
import hmac
import itertools
import json
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.request

DEFAULT_PATH = "/fsi/api/rsfComIfsService/callService"
NONCE_ALPHABET = string.ascii_letters + string.digits

DEFAULT_ID_NUMBER = "370102195603152017"
DEFAULT_DOCTOR = "D370102000001"
DEFAULT_DOCTOR_NAME = "张医生"
DEFAULT_DIAGNOSIS = ("I10.x00", "高血压")


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


# --------------------------------------------------------------------------
# caller signing
# --------------------------------------------------------------------------

def caller_signature(secret, method, path, timestamp, nonce, body_bytes):
    """Lower-case hex HMAC-SHA256 over the gateway's string to sign."""
    body_hash = hashlib.sha256(_bytes(body_bytes)).hexdigest()
    msg = "%s\n%s\n%s\n%s\n%s" % (method.upper(), path, timestamp, nonce,
                                  body_hash)
    return hmac.new(_bytes(secret), msg.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def new_nonce(n=32):
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(n))


def signed_headers(caller_id, secret, method, path, body_bytes, now=None,
                   nonce=None):
    """The four X-Yibao-* headers plus Content-Type application/json.
    path is signed without its query string."""
    ts = str(int(time.time() if now is None else now))
    nonce = new_nonce() if nonce is None else nonce
    path = path.split("?", 1)[0]
    return {
        "X-Yibao-Caller": caller_id,
        "X-Yibao-Timestamp": ts,
        "X-Yibao-Nonce": nonce,
        "X-Yibao-Signature": caller_signature(secret, method, path, ts,
                                              nonce, body_bytes),
        "Content-Type": "application/json",
    }


# --------------------------------------------------------------------------
# envelopes
# --------------------------------------------------------------------------

_seq = itertools.count(secrets.randbelow(10000))
_seq_lock = threading.Lock()


def new_msgid(code, now=None):
    """code + yyyyMMddHHmmss + 4-digit sequence (30 chars for a 12-char
    national code; the gateway rewrites it for a 22-char org code)."""
    now = now or datetime.datetime.now()
    with _seq_lock:
        n = next(_seq) % 10000
    return "%s%s%04d" % (code, now.strftime("%Y%m%d%H%M%S"), n)


def make_envelope(infno, input, fixmedins_code, fixmedins_name,
                  mdtrtarea_admvs, opter="001", sign_no="", msgid=None,
                  inf_time=None, insuplc_admdvs="", opter_name="张医生",
                  opter_type="1", recer_sys_code="FSI_LOCAL",
                  infver="V1.0"):
    now = datetime.datetime.now()
    return {
        "infno": infno,
        "msgid": msgid or new_msgid(fixmedins_code, now),
        "mdtrtarea_admvs": mdtrtarea_admvs,
        "insuplc_admdvs": insuplc_admdvs,
        "recer_sys_code": recer_sys_code,
        "dev_no": "",
        "dev_safe_info": "",
        "cainfo": "",
        "signtype": "",
        "infver": infver,
        "opter_type": opter_type,
        "opter": opter,
        "opter_name": opter_name,
        "inf_time": inf_time or now.strftime("%Y-%m-%d %H:%M:%S"),
        "fixmedins_code": fixmedins_code,
        "fixmedins_name": fixmedins_name,
        "sign_no": sign_no,
        "input": input,
    }


def encode(envelope):
    return json.dumps(envelope, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

Response = collections.namedtuple("Response", "status headers body")


def _parse(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return raw


def post(gateway_url, caller, secret, envelope_or_bytes, path=DEFAULT_PATH,
         timeout=30, extra_headers=None, sign=True):
    """POSTs an envelope (dict) or exact bytes to gateway_url + path.

    Returns Response(status, headers, body): body is the parsed JSON, or
    the raw bytes when the answer is not JSON.  Non-2xx answers are
    returned, not raised.  A connection closed without an answer, a reset
    or a timeout raises (http.client.RemoteDisconnected,
    ConnectionError, TimeoutError or urllib.error.URLError).
    With caller None (or sign False) no X-Yibao-* headers are sent."""
    body = envelope_or_bytes if isinstance(envelope_or_bytes,
                                           (bytes, bytearray)) \
        else encode(envelope_or_bytes)
    if caller is not None and sign:
        headers = signed_headers(caller, secret, "POST", path, body)
    else:
        headers = {"Content-Type": "application/json"}
    headers.update(extra_headers or {})
    url = gateway_url.rstrip("/") + path
    req = urllib.request.Request(url, data=bytes(body), headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return Response(r.status, dict(r.headers.items()), _parse(raw))
    except urllib.error.HTTPError as e:
        raw = e.read()
        return Response(e.code, dict(e.headers.items()), _parse(raw))


# --------------------------------------------------------------------------
# the outpatient flow
# --------------------------------------------------------------------------

def default_fee_lines():
    """Two national-coded lines: 诊查费 10.00 and a drug 2 x 12.60."""
    return [
        {"med_list_codg": "001102000010000", "medins_list_codg": "ZL0001",
         "cnt": 1, "pric": 10.00},
        {"med_list_codg": "XJ01CAA040A001010102699",
         "medins_list_codg": "YP0001", "cnt": 2, "pric": 12.60,
         "sin_dos_dscr": "0.5g", "used_frqu_dscr": "tid", "prd_days": 4,
         "medc_way_dscr": "口服"},
    ]


def _amount(cnt, pric):
    from decimal import Decimal, ROUND_HALF_UP
    v = (Decimal(str(cnt)) * Decimal(str(pric))).quantize(
        Decimal("0.01"), ROUND_HALF_UP)
    return float(v)


def _ok(resp):
    return (resp is not None and resp.status == 200
            and isinstance(resp.body, dict)
            and str(resp.body.get("infcode")) == "0")


class FlowState:
    """What the flow carries from step to step."""

    def __init__(self):
        self.sign_no = ""
        self.insuplc_admdvs = ""
        self.person = None
        self.insu = None
        self.psn_no = ""
        self.mdtrt_id = ""
        self.chrg_bchno = ""
        self.presettle = None
        self.setl_id = ""
        self.msgids = {}


def outpatient_flow(gateway_url, caller, secret, clinic_code, clinic_name,
                    admdvs, person_id_number=DEFAULT_ID_NUMBER,
                    fee_lines=None, cancel=False, opter="001",
                    opter_name="张医生", path=DEFAULT_PATH, send=None,
                    doctor=DEFAULT_DOCTOR, diagnosis=DEFAULT_DIAGNOSIS,
                    person_name="", on_step=None, state=None, timeout=30):
    """Runs 9001 -> 1101 -> 2201 -> 2203 -> 2204 -> 2206 -> 2207 (-> 2208
    when cancel) and stops at the first failure.

    Returns a list of (infno, status, response_body); status is None when
    the request raised (the exception object is then the body).  send, if
    given, is called as send(envelope) -> Response instead of post() (to
    talk to the simulator directly with upstream signing).  state, if a
    FlowState is given, receives the carried values (sign_no, psn_no,
    mdtrt_id, setl_id, msgids per infno)."""
    st = state if state is not None else FlowState()
    steps = []
    fee_lines = default_fee_lines() if fee_lines is None else fee_lines

    def do(infno, inp):
        env = make_envelope(infno, inp, clinic_code, clinic_name, admdvs,
                            opter=opter, opter_name=opter_name,
                            sign_no=st.sign_no,
                            insuplc_admdvs=st.insuplc_admdvs)
        st.msgids[infno] = env["msgid"]
        try:
            if send is not None:
                resp = send(env)
            else:
                resp = post(gateway_url, caller, secret, env, path=path,
                            timeout=timeout)
        except Exception as e:  # noqa: the flow reports, never raises
            steps.append((infno, None, e))
            if on_step:
                on_step(infno, None, e)
            return None
        steps.append((infno, resp.status, resp.body))
        if on_step:
            on_step(infno, resp.status, resp.body)
        if not _ok(resp):
            return None
        return resp.body.get("output") or {}

    now = datetime.datetime.now()
    out = do("9001", {"signIn": {"opter_no": opter,
                                 "mac": "00-1A-2B-3C-4D-5E",
                                 "ip": "10.0.0.8"}})
    if out is None:
        return steps
    st.sign_no = out["signinoutb"]["sign_no"]

    out = do("1101", {"data": {
        "mdtrt_cert_type": "02", "mdtrt_cert_no": person_id_number,
        "card_sn": "", "begntime": "", "psn_cert_type": "01",
        "certno": person_id_number, "psn_name": person_name}})
    if out is None:
        return steps
    st.person = out["baseinfo"]
    st.insu = out["insuinfo"][0]
    st.psn_no = st.person["psn_no"]
    st.insuplc_admdvs = st.insu["insuplc_admdvs"]
    psn = {"psn_no": st.psn_no, "mdtrt_cert_type": "02",
           "mdtrt_cert_no": person_id_number}

    ipt_otp_no = "MZ" + now.strftime("%Y%m%d%H%M%S") + \
        secrets.token_hex(4).upper()
    out = do("2201", {"data": dict(psn, **{
        "insutype": st.insu["insutype"],
        "begntime": now.strftime("%Y-%m-%d %H:%M:%S"), "card_sn": "",
        "psn_cert_type": "01", "certno": person_id_number,
        "psn_type": st.insu["psn_type"], "psn_name": st.person["psn_name"],
        "ipt_otp_no": ipt_otp_no, "atddr_no": doctor, "dr_name": opter_name,
        "dept_code": "A02", "dept_name": "全科医疗科", "caty": "A02"})})
    if out is None:
        return steps
    st.mdtrt_id = out["data"]["mdtrt_id"]

    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    out = do("2203", {
        "mdtrtinfo": {"mdtrt_id": st.mdtrt_id, "psn_no": st.psn_no,
                      "med_type": "11", "begntime": stamp,
                      "main_cond_dscr": "头晕", "dise_codg": "",
                      "dise_name": "", "birctrl_type": "",
                      "birctrl_matn_date": ""},
        "diseinfo": [{"diag_type": "1", "diag_srt_no": "1",
                      "diag_code": diagnosis[0], "diag_name": diagnosis[1],
                      "diag_dept": "全科医疗科", "dise_dor_no": doctor,
                      "dise_dor_name": opter_name, "diag_time": stamp,
                      "vali_flag": "1"}]})
    if out is None:
        return steps

    st.chrg_bchno = now.strftime("%Y%m%d%H%M%S") + \
        "%04d" % secrets.randbelow(10000)
    rows = []
    total = 0.0
    for i, line in enumerate(fee_lines, 1):
        amt = line.get("det_item_fee_sumamt",
                       _amount(line["cnt"], line["pric"]))
        total += amt
        row = {"feedetl_sn": str(i), "mdtrt_id": st.mdtrt_id,
               "psn_no": st.psn_no, "chrg_bchno": st.chrg_bchno,
               "dise_codg": "", "rxno": "RX%04d" % i, "rx_circ_flag": "0",
               "fee_ocur_time": stamp, "det_item_fee_sumamt": amt,
               "sin_dos_dscr": "", "used_frqu_dscr": "", "prd_days": 0,
               "medc_way_dscr": "", "bilg_dept_codg": "A02",
               "bilg_dept_name": "全科医疗科", "bilg_dr_codg": doctor,
               "bilg_dr_name": opter_name, "acord_dept_codg": "",
               "acord_dept_name": "", "orders_dr_code": "",
               "orders_dr_name": "", "hosp_appr_flag": "1",
               "tcmdrug_used_way": "", "etip_flag": "",
               "etip_hosp_code": "", "dscg_tkdrug_flag": "",
               "matn_fee_flag": ""}
        row.update(line)
        rows.append(row)
    out = do("2204", {"feedetail": rows})
    if out is None:
        return steps

    settle = dict(psn, **{
        "card_sn": "", "psn_cert_type": "01", "certno": person_id_number,
        "psn_type": st.insu["psn_type"], "psn_name": st.person["psn_name"],
        "med_type": "11", "medfee_sumamt": round(total, 2),
        "psn_setlway": "01", "mdtrt_id": st.mdtrt_id,
        "chrg_bchno": st.chrg_bchno, "acct_used_flag": "0",
        "insutype": st.insu["insutype"]})
    out = do("2206", {"data": settle})
    if out is None:
        return steps
    st.presettle = out["setlinfo"]
    settle = dict(settle, invono="")
    for k in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay",
              "preselfpay_amt", "inscp_scp_amt"):
        settle[k] = st.presettle[k]
    out = do("2207", {"data": settle})
    if out is None:
        return steps
    st.setl_id = out["setlinfo"]["setl_id"]

    if cancel:
        do("2208", {"data": {"setl_id": st.setl_id, "mdtrt_id": st.mdtrt_id,
                             "psn_no": st.psn_no}})
    return steps


def flow_failed(steps):
    return any(not (status == 200 and isinstance(body, dict)
                    and str(body.get("infcode")) == "0")
               for _, status, body in steps)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

KEY_OUTPUTS = (("signinoutb", "sign_no"), ("baseinfo", "psn_no"),
               ("data", "mdtrt_id"), ("setlinfo", "setl_id"),
               ("setlinfo", "medfee_sumamt"), ("setlinfo", "fund_pay_sumamt"),
               ("setlinfo", "psn_part_amt"), ("setlinfo", "psn_cash_pay"),
               ("stmtinfo", "stmt_rslt"))


def describe(infno, status, body):
    if status is None:
        return "%-5s  no answer: %s: %s" % (infno, type(body).__name__, body)
    if not isinstance(body, dict):
        return "%-5s  HTTP %s, not JSON: %r" % (infno, status, body[:200])
    if "infcode" not in body:
        return "%-5s  HTTP %s, not an envelope: %s" % (
            infno, status, json.dumps(body, ensure_ascii=False))
    parts = ["%-5s  HTTP %s infcode=%s" % (infno, status, body["infcode"])]
    if str(body.get("infcode")) != "0":
        parts.append("err_msg=%s" % body.get("err_msg"))
    out = body.get("output")
    if isinstance(out, dict):
        for node, key in KEY_OUTPUTS:
            n = out.get(node)
            if isinstance(n, dict) and key in n:
                parts.append("%s=%s" % (key, n[key]))
        if isinstance(out.get("result"), list):
            parts.append("rows=%d" % len(out["result"]))
    return "  ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="yibao-client",
                                 description="Clinic-side client of "
                                             "yibao-gateway.")
    ap.add_argument("--gateway", required=True,
                    help="base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--caller", help="caller id (omit to send unsigned)")
    ap.add_argument("--secret", default="")
    ap.add_argument("--path", default=DEFAULT_PATH)
    ap.add_argument("--timeout", type=float, default=30)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send", help="send FILE.json as is ('-' = stdin)")
    s.add_argument("file")
    f = sub.add_parser("flow", help="run 9001..2207 (2208 with --cancel)")
    f.add_argument("--clinic", required=True,
                   help="fixmedins_code (12) or 22-char org code")
    f.add_argument("--name", required=True)
    f.add_argument("--admdvs", required=True)
    f.add_argument("--id-number", default=DEFAULT_ID_NUMBER)
    f.add_argument("--opter", default="001")
    f.add_argument("--cancel", action="store_true",
                   help="also cancel the settlement (2208)")
    args = ap.parse_args(argv)

    if args.cmd == "send":
        data = sys.stdin.buffer.read() if args.file == "-" else \
            open(args.file, "rb").read()
        try:
            r = post(args.gateway, args.caller, args.secret, data,
                     path=args.path, timeout=args.timeout)
        except Exception as e:  # noqa
            print("no answer: %s: %s" % (type(e).__name__, e))
            return 1
        print("HTTP %s" % r.status)
        if isinstance(r.body, (dict, list)):
            print(json.dumps(r.body, ensure_ascii=False, indent=1))
        else:
            sys.stdout.write(r.body.decode("utf-8", "replace") + "\n")
        ok = r.status == 200 and isinstance(r.body, dict) and \
            str(r.body.get("infcode")) == "0"
        return 0 if ok else 1

    steps = outpatient_flow(
        args.gateway, args.caller, args.secret, args.clinic, args.name,
        args.admdvs, person_id_number=args.id_number, cancel=args.cancel,
        opter=args.opter, path=args.path, timeout=args.timeout,
        on_step=lambda i, s, b: print(describe(i, s, b), flush=True))
    expected = 8 if args.cancel else 7
    if flow_failed(steps) or len(steps) < expected:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
