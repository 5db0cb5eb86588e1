#!/usr/bin/python3
"""yibao-sim: a strict stand-in for a provincial medical-insurance platform.

The real platform is unreachable from development machines, so this
simulator checks everything the national interface specification and the
provinces' gateway documents say the platform checks (docs/simulator.md),
and a little more, and answers the way the platform and its transport
gateways answer:

* transport signing (csb, tif, zj-sm3, none) is verified first; failures
  answer like the transport gateways do (CSB: HTTP 401 {"code":401,
  "message":...}; TIF: HTTP 500 {"code":400001,"msg":...}; Zhejiang:
  HTTP 401 {"code":401,"message":...}); the response header
  X-Yibao-Sim-Reason says in English what exactly failed;
* every other violation is answered with HTTP 200 and the national error
  envelope (infcode -1, err_msg "FSI-<field> <what is wrong>");
* a stateful outpatient flow per institution: 9001, 9002, 1101, 2201,
  2202, 2203(A), 2204, 2205, 2206(A), 2207(A), 2208, 2601, 5201, 5203,
  3201, plus read-only infnos answered with empty outputs;
* a control API under /__sim/ (unsigned JSON) for fault injection and
  for inspecting what arrived and what was settled;
* optionally TLS (--tls-cert, --tls-key) on the same port, for the
  business and the control requests alike; every logged request then
  says which TLS version and cipher it came over (and the SNI name).

Times are local wall-clock times (the platform runs on Beijing time; the
gateway and the simulator are expected to share a clock and zone).

Only the Python standard library is used.
"""

import argparse
import base64
import collections
import copy
import datetime
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
from decimal import Decimal, ROUND_HALF_UP


# --------------------------------------------------------------------------
# SM3 (GB/T 32905-2016) and HMAC-SM3
# --------------------------------------------------------------------------

_SM3_IV = (0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600,
           0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E)
_M32 = 0xFFFFFFFF


def _rotl(x, n):
    n %= 32
    return ((x << n) | (x >> (32 - n))) & _M32


_SM3_TJ = [_rotl(0x79CC4519 if j < 16 else 0x7A879D8A, j) for j in range(64)]


def _sm3_compress(v, block):
    w = list(struct.unpack(">16I", block))
    for j in range(16, 68):
        x = w[j - 16] ^ w[j - 9] ^ _rotl(w[j - 3], 15)
        p1 = x ^ _rotl(x, 15) ^ _rotl(x, 23)
        w.append(p1 ^ _rotl(w[j - 13], 7) ^ w[j - 6])
    w1 = [w[j] ^ w[j + 4] for j in range(64)]
    a, b, c, d, e, f, g, h = v
    for j in range(64):
        a12 = _rotl(a, 12)
        ss1 = _rotl((a12 + e + _SM3_TJ[j]) & _M32, 7)
        ss2 = ss1 ^ a12
        if j < 16:
            ff = a ^ b ^ c
            gg = e ^ f ^ g
        else:
            ff = (a & b) | (a & c) | (b & c)
            gg = (e & f) | (~e & g)
        tt1 = (ff + d + ss2 + w1[j]) & _M32
        tt2 = (gg + h + ss1 + w[j]) & _M32
        d = c
        c = _rotl(b, 9)
        b = a
        a = tt1
        h = g
        g = _rotl(f, 19)
        f = e
        e = tt2 ^ _rotl(tt2, 9) ^ _rotl(tt2, 17)
    return tuple(x ^ y for x, y in zip(v, (a, b, c, d, e, f, g, h)))


def sm3_pure(data):
    """SM3 digest (32 bytes) in pure Python."""
    data = bytes(data)
    bitlen = len(data) * 8
    data += b"\x80" + b"\x00" * ((55 - len(data)) % 64)
    data += struct.pack(">Q", bitlen)
    v = _SM3_IV
    for i in range(0, len(data), 64):
        v = _sm3_compress(v, data[i:i + 64])
    return struct.pack(">8I", *v)


def _sm3_hashlib_available():
    try:
        return hashlib.new("sm3", b"abc").hexdigest() == (
            "66c7f0f462eeedd9d1f2d46bdc10e4e2"
            "4167c4875cf2f7a2297da02b8f4ba8e0")
    except (ValueError, TypeError):
        return False


SM3_FROM_HASHLIB = _sm3_hashlib_available()


def sm3(data):
    """SM3 digest: OpenSSL's through hashlib when offered, else pure."""
    if SM3_FROM_HASHLIB:
        return hashlib.new("sm3", bytes(data)).digest()
    return sm3_pure(data)


def hmac_sm3(key, msg, digest=None):
    """HMAC (RFC 2104) with SM3, block size 64."""
    digest = digest or sm3
    key = key.encode() if isinstance(key, str) else bytes(key)
    msg = msg.encode() if isinstance(msg, str) else bytes(msg)
    if len(key) > 64:
        key = digest(key)
    key = key.ljust(64, b"\x00")
    ipad = bytes(k ^ 0x36 for k in key)
    opad = bytes(k ^ 0x5C for k in key)
    return digest(opad + digest(ipad + msg))


# --------------------------------------------------------------------------
# Upstream signing schemes (research section 2.4).  The simulator verifies
# with these; tests and tools sign with them.
# --------------------------------------------------------------------------

SCHEMES = ("csb", "tif", "zj-sm3", "none")


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def csb_string(ak, api_name, ts_ms, api_version):
    pairs = {"_api_access_key": ak, "_api_name": api_name,
             "_api_timestamp": str(ts_ms), "_api_version": api_version}
    return "&".join("%s=%s" % (k, pairs[k]) for k in sorted(pairs))


def csb_signature(sk, ak, api_name, ts_ms, api_version):
    mac = hmac.new(_b(sk), _b(csb_string(ak, api_name, ts_ms, api_version)),
                   hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def tif_signature(sk, ts, nonce):
    s = "%s%s%s%s" % (ts, sk, nonce, ts)
    return hashlib.sha256(_b(s)).hexdigest()


def zj_signature(sk, ts, body):
    mac = hmac_sm3(_b(sk), _b(str(ts)) + b"\n" + _b(body))
    return "%s:%s" % (ts, mac.hex().upper())


def upstream_headers(scheme, ak, sk, body, infno, now=None, nonce=None,
                     api_version="1.0.0", api_name_prefix=""):
    """The headers a correct client of the platform sends for scheme."""
    now = time.time() if now is None else now
    if scheme == "csb":
        ts = str(int(now * 1000))
        name = api_name_prefix + infno
        return {"_api_name": name, "_api_version": api_version,
                "_api_timestamp": ts, "_api_access_key": ak,
                "_api_signature": csb_signature(sk, ak, name, ts,
                                                api_version)}
    if scheme == "tif":
        ts = str(int(now))
        if nonce is None:
            nonce = base64.b32encode(os.urandom(20)).decode()[:32]
        return {"x-tif-paasid": ak, "x-tif-timestamp": ts,
                "x-tif-nonce": nonce,
                "x-tif-signature": tif_signature(sk, ts, nonce)}
    if scheme == "zj-sm3":
        ts = str(int(now))
        return {"x-ca-key": ak, "x-ca-signature": zj_signature(sk, ts, body)}
    return {}


SIGN_HEADERS = ("_api_name", "_api_version", "_api_timestamp",
                "_api_access_key", "_api_signature", "x-tif-paasid",
                "x-tif-timestamp", "x-tif-nonce", "x-tif-signature",
                "x-ca-key", "x-ca-signature")


# --------------------------------------------------------------------------
# Shapes of codes and values (research sections 1, 5 and 6)
# --------------------------------------------------------------------------

RE_INFNO = re.compile(r"^[0-9]{4}[A-Z]?$")
RE_FIXMEDINS = re.compile(r"^[HP][0-9]{11}$")
RE_ADMDVS = re.compile(r"^[0-9]{6}$")
RE_DIGITS = re.compile(r"^[0-9]+$")
RE_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
RE_DRUG = re.compile(r"^[XZ][A-Z0-9]{22}$")
RE_HERB = re.compile(r"^T[0-9]{6,19}$")
RE_SERVICE = re.compile(r"^[0-9]{15}(?:-[0-9A-Za-z.]{1,30})?$")
RE_CONSUMABLE = re.compile(r"^C[0-9]{19}$")
RE_STAFF = re.compile(r"^(?:[DNY][0-9]{12}|H[YJ][0-9]{12})$")
RE_ICD10 = re.compile(r"^[A-Z][0-9]{2}\.[0-9xX][0-9A-Za-z]{2}"
                      r"(?:[xX][0-9]{3})?$")
RE_OPSP = re.compile(r"^M[0-9]{5}$")
RE_TCM = re.compile(r"^[A-Z][A-Z0-9.]{2,19}$")
RE_CATY = re.compile(r"^[A-Z][0-9]{2}(?:\.[0-9]{2}){0,2}$")
RE_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}[-:]){5}[0-9A-Fa-f]{2}$"
                    r"|^[0-9A-Fa-f]{12}$")
RE_NUMSTR = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")

MED_TYPES = {"11", "12", "13", "14", "18", "21", "22", "23", "24", "26",
             "28", "41", "51", "52", "93", "99", "2101", "2102", "2106",
             "2107", "2111", "210303", "9901", "990101", "9903", "9904"}

# 3101/3102 trig_scen: 事前 1 门诊挂号 .. 5 住院执行医嘱, 事中 6 门诊结算 .. 10 购药划卡
TRIG_SCENS = {str(i) for i in range(1, 11)}

INSUTYPES = {"310", "320", "330", "340", "350", "360", "370", "380",
             "390", "391", "392", "399", "410", "510"}

ENVELOPE_KEYS = ("infno", "msgid", "mdtrtarea_admvs", "insuplc_admdvs",
                 "recer_sys_code", "dev_no", "dev_safe_info", "cainfo",
                 "signtype", "infver", "opter_type", "opter", "opter_name",
                 "inf_time", "fixmedins_code", "fixmedins_name", "sign_no",
                 "input")
# seen in the wild (research 1.1), tolerated when empty
ENVELOPE_EXTRA_KEYS = ("enc_type", "recer_admdvs")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17):
    s = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS))
    return "10X98765432"[s % 11]


def id_problem(idno):
    """None if idno is a valid 18-char GB 11643 number, else why not."""
    if len(idno) != 18:
        return "长度须为18位（实际%d位）" % len(idno)
    if not RE_DIGITS.match(idno[:17]) or idno[17] not in "0123456789Xx":
        return "须为17位数字加1位校验码"
    try:
        datetime.datetime.strptime(idno[6:14], "%Y%m%d")
    except ValueError:
        return "出生日期%s无效" % idno[6:14]
    if id_check_char(idno[:17]) != idno[17].upper():
        return "校验位错误（应为%s）" % id_check_char(idno[:17])
    return None


def parse_datetime(s):
    if not isinstance(s, str) or len(s) != 19:
        return None
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def parse_date(s):
    if not isinstance(s, str) or len(s) != 10:
        return None
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%d").date()
    except ValueError:
        return None


def parse_compact(s):
    if not isinstance(s, str) or len(s) != 14 or not RE_DIGITS.match(s):
        return None
    try:
        return datetime.datetime.strptime(s, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def national_code_kind(code):
    """'drug', 'herb', 'service', 'consumable' or None."""
    if RE_DRUG.match(code):
        return "drug"
    if RE_HERB.match(code):
        return "herb"
    if RE_SERVICE.match(code):
        return "service"
    if RE_CONSUMABLE.match(code):
        return "consumable"
    return None


def fmt_dt(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def t17(dt):
    return dt.strftime("%Y%m%d%H%M%S") + "%03d" % (dt.microsecond // 1000)


def money(cents):
    return float(Decimal(cents) / 100)


def cents_of(d):
    return int((Decimal(d) * 100).to_integral_value(ROUND_HALF_UP))


def fmt_money(cents):
    return "%s%d.%02d" % ("-" if cents < 0 else "", abs(cents) // 100,
                          abs(cents) % 100)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class FsiError(Exception):
    """A business or envelope error: HTTP 200, infcode -1."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind
        self.msg = msg


class TransportError(Exception):
    """A transport-gateway rejection (signature, auth)."""

    def __init__(self, kind, status, body, reason):
        super().__init__(reason)
        self.kind = kind
        self.status = status
        self.body = body
        self.reason = reason


def _fail(kind, msg):
    raise FsiError(kind, "FSI-" + msg)


class _Dup(Exception):
    pass


def _no_dup_pairs(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise _Dup(k)
        obj[k] = v
    return obj


def _reject_constant(name):
    raise ValueError("非法数值 %s" % name)


def _json_default(o):
    if isinstance(o, Decimal):
        return float(o)
    raise TypeError(repr(o))


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      default=_json_default).encode("utf-8")


# --------------------------------------------------------------------------
# Input validation helpers
# --------------------------------------------------------------------------

class Node:
    """A JSON object inside input, with checks that name the field path."""

    def __init__(self, obj, path):
        self.obj = obj
        self.path = path

    def where(self, key):
        return "%s.%s" % (self.path, key)

    def _kind(self, key, rule):
        return "%s.%s" % (re.sub(r"\[[0-9]+\]", "[]", self.where(key)), rule)

    def has(self, key):
        v = self.obj.get(key)
        return v is not None and v != ""

    def str(self, key, required=True, maxlen=None, minlen=1, regex=None,
            choices=None, what=""):
        v = self.obj.get(key)
        if v is None or v == "":
            if required:
                _fail(self._kind(key, "missing"),
                      "%s 缺失或为空%s" % (self.where(key),
                                       "（%s）" % what if what else ""))
            return ""
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            _fail(self._kind(key, "type"),
                  "%s 须为字符串（实际%s）" % (self.where(key),
                                         type(v).__name__))
        v = str(v)
        if len(v) < minlen or (maxlen is not None and len(v) > maxlen):
            _fail(self._kind(key, "length"),
                  "%s 长度须为%d..%s位（实际%d位）" % (
                      self.where(key), minlen, maxlen, len(v)))
        if choices is not None and v not in choices:
            _fail(self._kind(key, "value"),
                  "%s 取值无效：%s（允许%s）" % (
                      self.where(key), v, "/".join(sorted(choices))))
        if regex is not None and not regex.match(v):
            _fail(self._kind(key, "format"),
                  "%s 格式错误：%s%s" % (self.where(key), v,
                                     "（须为%s）" % what if what else ""))
        return v

    def datetime(self, key, required=True):
        v = self.str(key, required=required, what="yyyy-MM-dd HH:mm:ss")
        if v and parse_datetime(v) is None:
            _fail(self._kind(key, "format"),
                  "%s 须为真实的日期时间 yyyy-MM-dd HH:mm:ss（实际%s）"
                  % (self.where(key), v))
        return v

    def date(self, key, required=True):
        v = self.str(key, required=required, what="yyyy-MM-dd")
        if v and parse_date(v) is None:
            _fail(self._kind(key, "format"),
                  "%s 须为真实的日期 yyyy-MM-dd（实际%s）"
                  % (self.where(key), v))
        return v

    def num(self, key, places, required=True, minimum=None, positive=False):
        v = self.obj.get(key)
        if v is None or v == "":
            if required:
                _fail(self._kind(key, "missing"),
                      "%s 缺失（数值型，空值须传0）" % self.where(key))
            return None
        if isinstance(v, bool):
            _fail(self._kind(key, "type"),
                  "%s 须为数值（实际布尔值）" % self.where(key))
        if isinstance(v, str):
            if not RE_NUMSTR.match(v):
                _fail(self._kind(key, "type"),
                      "%s 须为数值（实际\"%s\"）" % (self.where(key), v))
            v = Decimal(v)
        elif isinstance(v, (int, Decimal)):
            v = Decimal(v)
        else:
            _fail(self._kind(key, "type"),
                  "%s 须为数值（实际%s）" % (self.where(key),
                                       type(v).__name__))
        exp = v.normalize().as_tuple().exponent
        if isinstance(exp, int) and -exp > places:
            _fail(self._kind(key, "scale"),
                  "%s 小数位数超过%d位：%s" % (self.where(key), places, v))
        if positive and v <= 0:
            _fail(self._kind(key, "range"),
                  "%s 须大于0（实际%s）" % (self.where(key), v))
        if minimum is not None and v < minimum:
            _fail(self._kind(key, "range"),
                  "%s 不能小于%s（实际%s）" % (self.where(key), minimum, v))
        return v

    def node(self, key, required=True):
        v = self.obj.get(key)
        if v is None:
            if required:
                _fail(self._kind(key, "missing"),
                      "%s 节点缺失" % self.where(key))
            return None
        if not isinstance(v, dict):
            _fail(self._kind(key, "type"),
                  "%s 须为JSON对象" % self.where(key))
        return Node(v, self.where(key))

    def rows(self, key, required=True):
        v = self.obj.get(key)
        if v is None or v == []:
            if required:
                _fail(self._kind(key, "missing"),
                      "%s 节点缺失或为空数组" % self.where(key))
            return []
        if isinstance(v, dict):
            v = [v]
        if not isinstance(v, list):
            _fail(self._kind(key, "type"),
                  "%s 须为JSON数组" % self.where(key))
        out = []
        for i, r in enumerate(v):
            if not isinstance(r, dict):
                _fail(self._kind(key, "type"),
                      "%s[%d] 须为JSON对象" % (self.where(key), i))
            out.append(Node(r, "%s[%d]" % (self.where(key), i)))
        return out


# --------------------------------------------------------------------------
# Configuration: institutions and routes
# --------------------------------------------------------------------------

Institution = collections.namedtuple(
    "Institution", "code name admdvs ak sk valid_from valid_to",
    defaults=(0, None))

DEFAULT_INSTITUTIONS = [
    Institution("H37010200001", "某村卫生室", "370102",
                "AKTEST000000000000000000000000",
                "SKTEST000000000000000000000000"),
]


def key_valid(inst, now):
    """A key of a rotation is valid from valid_from up to valid_to."""
    return inst.valid_to is None or inst.valid_from <= now < inst.valid_to


def load_institutions(path):
    out = []
    seen_codes, seen_aks = set(), set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = [c.strip() for c in line.split("\t")]
            if len(cols) not in (5, 7):
                raise ValueError("%s:%d: expected 5 or 7 TAB-separated "
                                 "columns (code name admdvs ak sk "
                                 "[valid_from valid_to]), got %d"
                                 % (path, n, len(cols)))
            if len(cols) == 7:
                # seconds since the epoch: a key of a rotation
                if not (cols[5].isdigit() and cols[6].isdigit()
                        and int(cols[5]) < int(cols[6])):
                    raise ValueError("%s:%d: valid_from and valid_to are "
                                     "not seconds, from before to"
                                     % (path, n))
                cols[5], cols[6] = int(cols[5]), int(cols[6])
            inst = Institution(*cols)
            if not RE_FIXMEDINS.match(inst.code):
                raise ValueError("%s:%d: fixmedins_code %r is not H/P + 11 "
                                 "digits" % (path, n, inst.code))
            if not RE_ADMDVS.match(inst.admdvs):
                raise ValueError("%s:%d: admdvs %r is not 6 digits"
                                 % (path, n, inst.admdvs))
            if not inst.name or not inst.ak or not inst.sk:
                raise ValueError("%s:%d: empty name, ak or sk" % (path, n))
            # a code twice: two keys of one entity (a rotation), with times
            if inst.ak in seen_aks or (inst.code in seen_codes
                                       and inst.valid_to is None):
                raise ValueError("%s:%d: duplicate code or ak" % (path, n))
            seen_codes.add(inst.code)
            seen_aks.add(inst.ak)
            out.append(inst)
    if not out:
        raise ValueError("%s: no institutions" % path)
    return out


class Route:
    """single:/path | prefix:/prefix/ | table:FILE (infno<TAB>path)."""

    def __init__(self, spec):
        kind, sep, arg = spec.partition(":")
        if not sep or kind not in ("single", "prefix", "table") or not arg:
            raise ValueError("--route must be single:/path, prefix:/p/ or "
                             "table:FILE (got %r)" % spec)
        self.kind = kind
        self.spec = spec
        self.table = {}
        if kind == "table":
            with open(arg, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    line = line.rstrip("\r\n")
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    cols = line.split("\t")
                    if (len(cols) != 2 or not RE_INFNO.match(cols[0])
                            or not cols[1].startswith("/")):
                        raise ValueError("%s:%d: expected infno<TAB>/path"
                                         % (arg, n))
                    self.table[cols[0]] = cols[1]
        else:
            if not arg.startswith("/"):
                raise ValueError("--route path must start with /")
            self.arg = arg

    def path_for(self, infno):
        if self.kind == "single":
            return self.arg
        if self.kind == "prefix":
            return self.arg + infno
        return self.table.get(infno)

    def describe(self):
        if self.kind == "table":
            return "table(%d)" % len(self.table)
        return self.spec


# --------------------------------------------------------------------------
# The platform
# --------------------------------------------------------------------------

READ_ONLY = {}
for _n in ("1301", "1302", "1303", "1305", "1306", "1307", "1308", "1309",
           "1310", "1311", "1313", "1314", "1315"):
    READ_ONLY[_n] = lambda: {"file_qury_no": "", "filename": "",
                             "dld_end_time": "", "data_cnt": 0}
for _n in ("1304", "1312", "1316", "1317", "1318", "1319"):
    READ_ONLY[_n] = lambda: {"data": [], "pageNum": 1, "pageSize": 0,
                             "size": 0, "total": 0, "pages": 0,
                             "startRow": 0, "endRow": 0,
                             "firstPage": 1, "lastPage": 1}
READ_ONLY.update({
    "1201": lambda: {"medinsinfo": []},
    "1901": lambda: {"list": []},
    "2001": lambda: {"trtinfo": []},
    "5101": lambda: {"feedetail": []},
    "5102": lambda: {"feedetail": []},
    "5204": lambda: {"output": []},
    "5205": lambda: {"feedetail": []},
    "5206": lambda: {"cuminfo": []},
    "5301": lambda: {"feedetail": []},
    "5302": lambda: {"psnfixmedin": []},
    "5303": lambda: {"data": []},
    "5304": lambda: {"data": []},
})

# infnos whose lettered variant behaves like the base transaction
LETTERED = {"2203A": "2203", "2206A": "2206", "2207A": "2207"}
REVERSIBLE = {"2207", "2208"}
FUND_NAMES = {"310100": "职工基本医疗保险统筹基金",
              "390100": "城乡居民基本医疗保险基金"}

FAULT_MODES = ("latency", "hold", "drop_after_act", "drop_before_act",
               "http_500", "garbage", "non_envelope", "reset", "truncate",
               "answer")

# an answer fault's own body: at most this many bytes (base64 decoded)
ANSWER_FAULT_MAX = 16 * 1024 * 1024


def _new_state():
    return {
        "version": 1,
        "seq": {"mdtrt": 0, "setl": 0, "sign": 0, "ref": 0},
        "msgids": {},
        "signins": {},
        "persons": {},
        "visits": {},
        "settlements": {},
        "refunds": {},
        "resettles": {},
    }


class Result:
    """What to answer on the wire."""

    def __init__(self, status, body, headers=None, reason=None, kind=None):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.reason = reason
        self.kind = kind


class Platform:
    def __init__(self, institutions, scheme="csb", route=None,
                 csb_api_version="1.0.0", csb_api_name_prefix="",
                 clock_window=1800, state_file=None, clock=None):
        self.institutions = {}
        for i in institutions:
            self.institutions.setdefault(i.code, i)
        self.by_ak = {i.ak: i for i in institutions}
        self.scheme = scheme
        self.route = route or Route("single:/fsi/api/rsfComIfsService/"
                                    "callService")
        self.csb_api_version = csb_api_version
        self.csb_api_name_prefix = csb_api_name_prefix
        self.window = clock_window
        self.state_file = state_file
        self.clock = clock or time.time
        self.lock = threading.RLock()
        self.st = _new_state()
        self.faults = []
        self.held = []          # hold faults: an Event per request held
        self.requests = collections.deque(maxlen=2000)
        self.nonces = {}
        self.req_seq = 0
        self.stats = self._new_stats()
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as f:
                loaded = json.load(f)
            if loaded.get("version") == 1:
                self.st = loaded

    @staticmethod
    def _new_stats():
        return {"connections": 0, "requests": 0, "control_requests": 0,
                "tls_handshakes": 0, "tls_failed_handshakes": 0,
                "tls_resumed": 0, "by_infno": {}, "by_error": {},
                "faults": {}}

    # ---------------------------------------------------------------- misc

    def now(self):
        return datetime.datetime.fromtimestamp(self.clock())

    def save_state(self):
        if not self.state_file:
            return
        with self.lock:
            data = json.dumps(self.st, ensure_ascii=False, sort_keys=True)
        d = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".yibao-sim-state.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, self.state_file)

    def reset(self):
        self.release()
        with self.lock:
            self.st = _new_state()
            self.faults = []
            self.requests.clear()
            self.nonces = {}
            kept = {k: self.stats[k] for k in
                    ("connections", "tls_handshakes",
                     "tls_failed_handshakes", "tls_resumed")}
            self.stats = self._new_stats()
            self.stats.update(kept)
        self.save_state()

    def _next(self, name):
        self.st["seq"][name] += 1
        return self.st["seq"][name]

    @staticmethod
    def _province(inst):
        return inst.admdvs[:2] + "0000"

    def _platform_id(self, inst, now):
        """region(6) + ms timestamp(13) + serial(11) = 30 chars."""
        n = self._next("mdtrt")
        return "%s%013d%011d" % (self._province(inst),
                                 int(now.timestamp() * 1000) % 10 ** 13, n)

    def _setl_id(self, inst, now):
        n = self._next("setl")
        return "%s%013d%011d" % (self._province(inst),
                                 int(now.timestamp() * 1000) % 10 ** 13, n)

    def _refmsgid(self, inst, now):
        n = self._next("ref")
        region = self._province(inst) if inst else "000000"
        return "%s%s%010d" % (region, now.strftime("%Y%m%d%H%M%S"), n)

    def count(self, infno, ok, kind=None):
        with self.lock:
            self.stats["requests"] += 1
            key = infno or "-"
            c = self.stats["by_infno"].setdefault(key, {"ok": 0, "error": 0})
            c["ok" if ok else "error"] += 1
            if kind:
                self.stats["by_error"][kind] = \
                    self.stats["by_error"].get(kind, 0) + 1

    # -------------------------------------------------------------- faults

    def add_fault(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        mode = spec.get("mode")
        if mode not in FAULT_MODES:
            raise ValueError("mode must be one of " + ", ".join(FAULT_MODES))
        infno = spec.get("infno") or "*"
        if infno != "*" and not (isinstance(infno, str)
                                 and RE_INFNO.match(infno)):
            raise ValueError("infno must be a transaction code or *")
        count = spec.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) \
                or count < 1:
            raise ValueError("count must be a positive integer")
        latency = spec.get("latency_ms", 0)
        if isinstance(latency, bool) or not isinstance(latency, int) \
                or latency < 0:
            raise ValueError("latency_ms must be a non-negative integer")
        if mode == "latency" and latency == 0:
            raise ValueError("latency needs latency_ms > 0")
        act = spec.get("act", False)
        if not isinstance(act, bool):
            raise ValueError("act must be true or false")
        f = {"infno": infno, "mode": mode, "count": count,
             "latency_ms": latency, "act": act}
        if mode == "answer":
            # exactly these bytes, status and Content-Type as the answer
            # (a hostile platform: tools/yibao_hostile.py)
            try:
                body = base64.b64decode(spec.get("body_b64", ""),
                                        validate=True)
            except (ValueError, TypeError) as e:
                raise ValueError("body_b64 is not base64: %s" % e)
            if len(body) > ANSWER_FAULT_MAX:
                raise ValueError("body_b64 is over %d bytes"
                                 % ANSWER_FAULT_MAX)
            status = spec.get("status", 200)
            if isinstance(status, bool) or not isinstance(status, int) \
                    or not 200 <= status <= 599:
                raise ValueError("status must be an HTTP status 200-599")
            ctype = spec.get("content_type",
                             "application/json;charset=UTF-8")
            if not isinstance(ctype, str) or not ctype.isprintable():
                raise ValueError("content_type must be a printable string")
            # kept as text: the fault list is JSON (GET /__sim/fault)
            f.update(body_b64=base64.b64encode(body).decode("ascii"),
                     status=status, content_type=ctype)
        with self.lock:
            self.faults.append(f)
            return list(self.faults)

    def take_fault(self, infno):
        with self.lock:
            for f in self.faults:
                if f["infno"] == "*" or f["infno"] == infno:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                    self.stats["faults"][f["mode"]] = \
                        self.stats["faults"].get(f["mode"], 0) + 1
                    return dict(f)
        return None

    def hold(self):
        """A hold fault: the request waits here, not yet acted on, until
        release()."""
        ev = threading.Event()
        with self.lock:
            self.held.append(ev)
        ev.wait()

    def release(self):
        """Lets every held request go on (acted on and answered, unless
        its connection is gone); returns how many there were."""
        with self.lock:
            held, self.held = self.held, []
        for ev in held:
            ev.set()
        return len(held)

    def log_request(self, entry):
        with self.lock:
            self.req_seq += 1
            entry["seq"] = self.req_seq
            self.requests.append(entry)

    # ---------------------------------------------------------- transport

    def check_transport(self, headers):
        """Verifies the signing headers.  Returns the signing institution
        (None for scheme none) and, for tif, the nonce to remember."""
        scheme = self.scheme
        if scheme == "none":
            return None
        now = self.clock()
        h = {k: headers.get(k) for k in SIGN_HEADERS}
        if scheme == "csb":
            def deny(kind, msg, reason, status=401, code=401):
                raise TransportError("csb." + kind, status,
                                     {"code": code, "message": msg}, reason)
            names = ("_api_name", "_api_version", "_api_timestamp",
                     "_api_access_key", "_api_signature")
            missing = [n for n in names if not h[n]]
            if missing:
                deny("missing_header", "缺少服务网关的请求头!",
                     "missing header " + ",".join(missing))
            ts = h["_api_timestamp"]
            if not re.match(r"^[0-9]{13}$", ts):
                deny("timestamp", "签名时间戳超时!",
                     "_api_timestamp is not 13-digit milliseconds")
            if abs(int(ts) / 1000.0 - now) > self.window:
                deny("timestamp", "签名时间戳超时!",
                     "_api_timestamp outside the %d s window" % self.window)
            inst = self.by_ak.get(h["_api_access_key"])
            if inst is None:
                deny("unknown_ak", "非法用户!",
                     "unknown _api_access_key")
            if not key_valid(inst, now):
                deny("expired_ak", "非法用户!",
                     "_api_access_key outside its validity")
            want = csb_signature(inst.sk, h["_api_access_key"],
                                 h["_api_name"], ts, h["_api_version"])
            if not hmac.compare_digest(want, h["_api_signature"]):
                deny("signature", "签名不一致!",
                     "_api_signature does not match")
            if h["_api_version"] != self.csb_api_version:
                deny("version", "服务不存在!", "_api_version %s is not the "
                     "published version %s" % (h["_api_version"],
                                              self.csb_api_version),
                     status=404, code=404)
            return inst, None
        if scheme == "tif":
            def deny(kind, reason):
                raise TransportError("tif." + kind, 500,
                                     {"code": 400001,
                                      "msg": "鉴权失败，鉴权信息有误。"},
                                     reason)
            names = ("x-tif-paasid", "x-tif-timestamp", "x-tif-nonce",
                     "x-tif-signature")
            missing = [n for n in names if not h[n]]
            if missing:
                deny("missing_header", "missing header " + ",".join(missing))
            ts = h["x-tif-timestamp"]
            if not re.match(r"^[0-9]{1,12}$", ts):
                deny("timestamp", "x-tif-timestamp is not Unix seconds")
            if abs(int(ts) - now) > self.window:
                deny("timestamp", "x-tif-timestamp outside the %d s window"
                     % self.window)
            nonce = h["x-tif-nonce"]
            if not (16 <= len(nonce) <= 64 and RE_ALNUM.match(nonce)):
                deny("nonce", "x-tif-nonce is not 16..64 chars of "
                     "[A-Za-z0-9]")
            inst = self.by_ak.get(h["x-tif-paasid"])
            if inst is None:
                deny("unknown_ak", "unknown x-tif-paasid")
            if not key_valid(inst, now):
                deny("expired_ak", "x-tif-paasid outside its validity")
            want = tif_signature(inst.sk, ts, nonce)
            if not hmac.compare_digest(want, h["x-tif-signature"].lower()):
                deny("signature", "x-tif-signature does not match")
            with self.lock:
                cutoff = now - self.window
                if len(self.nonces) > 10000:
                    self.nonces = {k: v for k, v in self.nonces.items()
                                   if v >= cutoff}
                key = inst.ak + "\n" + nonce
                seen = self.nonces.get(key)
                if seen is not None and seen >= cutoff:
                    deny("replay", "x-tif-nonce reused within the window")
                self.nonces[key] = now
            return inst, nonce
        # zj-sm3
        def deny(kind, msg, reason):
            raise TransportError("zj." + kind, 401,
                                 {"code": 401, "message": msg}, reason)
        if not h["x-ca-key"]:
            deny("missing_header", "缺少请求头 x-ca-key",
                 "missing header x-ca-key")
        if not h["x-ca-signature"]:
            deny("missing_header", "缺少请求头 x-ca-signature",
                 "missing header x-ca-signature")
        m = re.match(r"^([0-9]{1,12}):([0-9A-Fa-f]{64})$", h["x-ca-signature"])
        if not m:
            deny("format", "签名格式错误", "x-ca-signature is not "
                 "ts:64-hex")
        ts, mac = m.group(1), m.group(2)
        if abs(int(ts) - now) > self.window:
            deny("timestamp", "签名时间戳超时", "x-ca-signature timestamp "
                 "outside the %d s window" % self.window)
        inst = self.by_ak.get(h["x-ca-key"])
        if inst is None:
            deny("unknown_ak", "非法用户", "unknown x-ca-key")
        if not key_valid(inst, now):
            deny("expired_ak", "非法用户", "x-ca-key outside its validity")
        # the body is appended by the caller of check_body_signature
        return inst, (ts, mac)

    def check_zj_body(self, inst, tsmac, body):
        ts, mac = tsmac
        want = zj_signature(inst.sk, ts, body).split(":", 1)[1]
        if mac != mac.upper():
            raise TransportError("zj.signature_case", 401,
                                 {"code": 401, "message": "签名不一致"},
                                 "x-ca-signature hex must be upper case")
        if not hmac.compare_digest(want, mac):
            raise TransportError("zj.signature", 401,
                                 {"code": 401, "message": "签名不一致"},
                                 "x-ca-signature does not match the body")

    # ----------------------------------------------------------- envelope

    def error_envelope(self, msg, recv):
        return {"infcode": -1, "inf_refmsgid": None,
                "refmsg_time": t17(recv), "respond_time": t17(self.now()),
                "err_msg": msg, "warn_msg": None, "cainfo": None,
                "signtype": None, "output": None}

    def ok_envelope(self, inst, output, recv):
        now = self.now()
        return {"infcode": 0, "inf_refmsgid": self._refmsgid(inst, now),
                "refmsg_time": t17(recv), "respond_time": t17(now),
                "err_msg": None, "warn_msg": None, "cainfo": None,
                "signtype": None, "output": output}

    def process(self, method, path, headers, body, entry, sniffed=None):
        """One business request.  Returns a Result; fills entry."""
        recv = self.now()
        infno = sniffed
        try:
            signer, extra = None, None
            got = self.check_transport(headers)
            if got is not None:
                signer, extra = got
                entry["ak"] = signer.ak if signer is not None else None
                if self.scheme == "zj-sm3":
                    self.check_zj_body(signer, extra, body)
            if method != "POST":
                _fail("method", "请求方法 %s 不被支持，须使用 POST" % method)
            env = self._parse_body(headers, body)
            entry["envelope"] = env
            if isinstance(env.get("infno"), str):
                infno = env["infno"]
            with self.lock:
                out, inst = self._handle(env, path, headers, signer, recv)
                res = self.ok_envelope(inst, out, recv)
            self.count(infno, True)
            entry["infcode"] = 0
            return Result(200, res)
        except TransportError as e:
            self.count(infno, False, e.kind)
            entry["reason"] = e.reason
            entry["error_kind"] = e.kind
            return Result(e.status, e.body, kind=e.kind,
                          headers={"X-Yibao-Sim-Reason": e.reason})
        except FsiError as e:
            self.count(infno, False, e.kind)
            entry["error_kind"] = e.kind
            entry["infcode"] = -1
            entry["err_msg"] = e.msg
            return Result(200, self.error_envelope(e.msg, recv), kind=e.kind)

    def _parse_body(self, headers, body):
        ct = headers.get("Content-Type")
        if not ct:
            _fail("content_type", "请求头 Content-Type 缺失（须为 "
                  "application/json 或 text/plain）")
        mime, _, params = ct.partition(";")
        mime = mime.strip().lower()
        if mime not in ("application/json", "text/plain"):
            _fail("content_type", "Content-Type %s 不被支持（须为 "
                  "application/json 或 text/plain）" % ct)
        for p in params.split(";"):
            k, _, v = p.partition("=")
            if k.strip().lower() == "charset" and \
                    v.strip().strip('"').lower() not in ("utf-8", "utf8"):
                _fail("content_type", "Content-Type 字符集 %s 不被支持"
                      "（须为 UTF-8）" % v.strip())
        if not body:
            _fail("json", "报文格式错误：请求体为空")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            _fail("utf8", "报文格式错误：请求体不是合法的UTF-8编码（第%d字节）"
                  % e.start)
        try:
            env = json.loads(text, object_pairs_hook=_no_dup_pairs,
                             parse_float=Decimal,
                             parse_constant=_reject_constant)
        except _Dup as e:
            _fail("json_duplicate_key", "报文格式错误：JSON存在重复键 \"%s\""
                  % e.args[0])
        except ValueError as e:
            _fail("json", "报文格式错误：请求体不是合法的JSON（%s）" % e)
        if not isinstance(env, dict):
            _fail("json_not_object", "报文格式错误：请求体须为JSON对象")
        return env

    def _env_str(self, env, key, minlen=1, maxlen=None, regex=None,
                 what="", required=True):
        v = env.get(key)
        if v is None:
            if required:
                _fail(key + ".missing", "%s 缺失" % key)
            return ""
        if not isinstance(v, str):
            _fail(key + ".type", "%s 须为字符串（实际%s）" % (
                key, "数值" if isinstance(v, (int, Decimal)) else
                type(v).__name__))
        if len(v) < minlen or (maxlen is not None and len(v) > maxlen):
            if minlen == maxlen:
                _fail(key + ".length", "%s 长度须为%d位（实际%d位）"
                      % (key, minlen, len(v)))
            _fail(key + ".length", "%s 长度须为%d..%d位（实际%d位）"
                  % (key, minlen, maxlen, len(v)))
        if regex is not None and v and not regex.match(v):
            _fail(key + ".format", "%s 格式错误：%s（须为%s）"
                  % (key, v, what))
        return v

    def _check_time_window(self, key, dt, now):
        if abs((dt - now).total_seconds()) > self.window:
            _fail(key + ".clock", "%s 时间 %s 与平台时间 %s 相差超过%d秒"
                  % (key, fmt_dt(dt), fmt_dt(now), self.window))

    def _handle(self, env, path, headers, signer, recv):
        # infno and route
        infno = self._env_str(env, "infno", 4, 5, RE_INFNO,
                              "4位数字，可带1位大写字母后缀")
        base = LETTERED.get(infno, infno)
        handler = self.HANDLERS.get(base)
        if handler is None and base not in READ_ONLY:
            raise FsiError("infno.unknown",
                           "FSI-FSI-交易报文不正确：未知交易编号！")
        want = self.route.path_for(infno)
        if want is None:
            _fail("route.no_path", "交易 %s 未配置服务路径（%s），请求路径 %s"
                  % (infno, self.route.describe(), path))
        if path != want:
            _fail("route.path", "请求路径 %s 与交易编号 %s 不符（应为 %s）"
                  % (path, infno, want))
        if self.scheme == "csb":
            name = headers.get("_api_name")
            if name != self.csb_api_name_prefix + infno:
                _fail("route.api_name", "请求头 _api_name=%s 与报文 infno=%s "
                      "不符（应为 %s）" % (name, infno,
                                        self.csb_api_name_prefix + infno))
        extra = [k for k in env if k not in ENVELOPE_KEYS
                 and k not in ENVELOPE_EXTRA_KEYS]
        if extra:
            _fail("envelope.unknown_key", "报文含未定义字段：%s"
                  % ",".join(sorted(extra)))
        for k in ENVELOPE_EXTRA_KEYS:
            if env.get(k) not in (None, ""):
                _fail(k + ".unsupported", "%s=%s 不被支持（本平台不接收加密"
                      "或转发报文）" % (k, env.get(k)))

        # institution and signer
        code = self._env_str(env, "fixmedins_code", 12, 12, RE_FIXMEDINS,
                             "H或P加11位数字")
        inst = self.institutions.get(code)
        if inst is None:
            _fail("fixmedins_code.unknown", "fixmedins_code %s 不是已登记的"
                  "定点医药机构" % code)
        if signer is not None and signer.code != inst.code:
            _fail("fixmedins_code.signer", "fixmedins_code %s 与签名密钥所属"
                  "机构 %s 不符（须使用结算机构自己的AK/SK签名）"
                  % (code, signer.code))
        name = self._env_str(env, "fixmedins_name", 1, 200)
        if name != inst.name:
            _fail("fixmedins_name.mismatch", "fixmedins_name \"%s\" 与机构 %s "
                  "登记名称 \"%s\" 不符" % (name, code, inst.name))

        # msgid
        msgid = self._env_str(env, "msgid", 30, 30)
        if msgid[:12] != code:
            _fail("msgid.prefix", "msgid 前12位 %s 须等于 fixmedins_code %s"
                  % (msgid[:12], code))
        mt = parse_compact(msgid[12:26])
        if mt is None:
            _fail("msgid.time", "msgid 第13-26位 %s 须为真实时间 "
                  "yyyyMMddHHmmss" % msgid[12:26])
        if not RE_DIGITS.match(msgid[26:]):
            _fail("msgid.seq", "msgid 末4位 %s 须为数字" % msgid[26:])
        self._check_time_window("msgid", mt, recv)

        # the other envelope fields
        area = self._env_str(env, "mdtrtarea_admvs", 6, 6, RE_ADMDVS,
                             "6位数字区划")
        if area != inst.admdvs:
            _fail("mdtrtarea_admvs.mismatch", "mdtrtarea_admvs %s 与机构 %s "
                  "所在医保区划 %s 不符" % (area, code, inst.admdvs))
        insuplc = self._env_str(env, "insuplc_admdvs", 0, 6, required=False)
        if insuplc and not RE_ADMDVS.match(insuplc):
            _fail("insuplc_admdvs.format", "insuplc_admdvs 格式错误：%s（须为"
                  "空或6位数字区划）" % insuplc)
        self._env_str(env, "recer_sys_code", 1, 10)
        self._env_str(env, "infver", 1, 6)
        opter_type = self._env_str(env, "opter_type", 1, 3)
        if opter_type not in ("1", "2", "3"):
            _fail("opter_type.value", "opter_type 取值无效：%s（允许1经办人/"
                  "2自助终端/3移动终端）" % opter_type)
        opter = self._env_str(env, "opter", 1, 30)
        self._env_str(env, "opter_name", 1, 50)
        it = self._env_str(env, "inf_time", 19, 19)
        itdt = parse_datetime(it)
        if itdt is None:
            _fail("inf_time.format", "inf_time 须为真实的日期时间 "
                  "yyyy-MM-dd HH:mm:ss（实际%s）" % it)
        self._check_time_window("inf_time", itdt, recv)
        for k, n in (("dev_no", 100), ("dev_safe_info", 2000),
                     ("cainfo", 1024), ("signtype", 10)):
            if k in env:
                self._env_str(env, k, 0, n, required=False)
        sign_no = self._env_str(env, "sign_no", 0, 30, required=False)
        if "input" not in env:
            _fail("input.missing", "input 缺失")
        if not isinstance(env["input"], dict):
            _fail("input.type", "input 须为JSON对象")

        if base == "2207":
            self._note_resettle(env["input"])
        if msgid in self.st["msgids"]:
            _fail("msgid.duplicate", "msgid 重复：报文ID %s 已于 %s 使用"
                  % (msgid, self.st["msgids"][msgid]["time"]))
        if base not in ("9001",):
            self._check_sign_no(inst, opter, sign_no, recv)

        rec = {"infno": infno, "fixmedins_code": code, "time": fmt_dt(recv),
               "ok": False}
        self.st["msgids"][msgid] = rec
        ctx = {"inst": inst, "env": env, "infno": infno, "base": base,
               "msgid": msgid, "now": recv, "opter": opter,
               "insuplc": insuplc, "rec": rec,
               "input": Node(env["input"], "input")}
        try:
            if handler is None:
                out = READ_ONLY[base]()
            else:
                out = handler(self, ctx)
            rec["ok"] = True
        except FsiError as e:
            rec["err_msg"] = e.msg
            raise
        finally:
            self.save_state()
        return out, inst

    def _note_resettle(self, inp):
        """A 2207 for a fee batch that a settlement in effect already
        covers asks to settle the visit a second time.  It is refused
        (msgid.duplicate, or state.settle_already_settled), and counted
        per visit in /__sim/settlements (resettle_attempts): a gateway
        must never send it."""
        d = inp.get("data")
        if not isinstance(d, dict):
            return
        for s in self.st["settlements"].values():
            if s["mdtrt_id"] == d.get("mdtrt_id") and \
                    s["chrg_bchno"] == d.get("chrg_bchno") and \
                    s["state"] == "settled":
                n = self.st.setdefault("resettles", {})
                n[s["mdtrt_id"]] = n.get(s["mdtrt_id"], 0) + 1
                return

    def _check_sign_no(self, inst, opter, sign_no, now):
        key = "%s|%s|%s" % (inst.code, opter, now.strftime("%Y-%m-%d"))
        s = self.st["signins"].get(key)
        if not sign_no:
            _fail("sign_no.missing", "sign_no 缺失：机构 %s 经办人 %s 须先签到"
                  "（9001）" % (inst.code, opter))
        if s is None or s["signed_out"]:
            _fail("sign_no.not_signed_in", "sign_no %s 无效：机构 %s 经办人 %s "
                  "今日未签到（9001）" % (sign_no, inst.code, opter))
        if s["sign_no"] != sign_no:
            _fail("sign_no.mismatch", "sign_no %s 与机构 %s 经办人 %s 今日签到"
                  "流水号不符" % (sign_no, inst.code, opter))

    # --------------------------------------------------------- business

    def _person(self, psn_no, where):
        p = self.st["persons"].get(psn_no)
        if p is None:
            _fail("psn_no.unknown", "%s 人员编号 %s 不存在（须先经1101获取）"
                  % (where, psn_no))
        return p

    def _check_insuplc(self, ctx, person):
        if not ctx["insuplc"]:
            _fail("insuplc_admdvs.missing", "insuplc_admdvs 为空：input 含 "
                  "psn_no 时须填写参保地医保区划（取自1101 insuinfo）")
        if ctx["insuplc"] != person["insuplc_admdvs"]:
            _fail("insuplc_admdvs.mismatch", "insuplc_admdvs %s 与人员参保地"
                  " %s 不符" % (ctx["insuplc"], person["insuplc_admdvs"]))

    def _visit(self, ctx, mdtrt_id, where, psn_no=None, need_open=True):
        v = self.st["visits"].get(mdtrt_id)
        if v is None or v["fixmedins_code"] != ctx["inst"].code:
            _fail("mdtrt_id.unknown", "%s 就诊ID %s 不存在" % (where, mdtrt_id))
        if need_open and v["state"] != "open":
            _fail("mdtrt_id.cancelled", "%s 就诊ID %s 已撤销挂号"
                  % (where, mdtrt_id))
        if psn_no is not None and psn_no != v["psn_no"]:
            _fail("psn_no.mismatch", "psn_no %s 与就诊ID %s 的人员 %s 不符"
                  % (psn_no, mdtrt_id, v["psn_no"]))
        return v

    def h9001(self, ctx):
        si = ctx["input"].node("signIn")
        si.str("opter_no", maxlen=20)
        si.str("mac", maxlen=20, regex=RE_MAC,
               what="MAC地址，如 00-1A-2B-3C-4D-5E")
        ip = si.str("ip", maxlen=20)
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            _fail("input.signIn.ip.format", "input.signIn.ip 格式错误：%s" % ip)
        inst, now = ctx["inst"], ctx["now"]
        key = "%s|%s|%s" % (inst.code, ctx["opter"], now.strftime("%Y-%m-%d"))
        s = self.st["signins"].get(key)
        if s is None or s["signed_out"]:
            n = self._next("sign")
            s = {"sign_no": "%s%s%010d" % (self._province(inst),
                                           now.strftime("%Y%m%d"), n),
                 "sign_time": fmt_dt(now), "signed_out": False}
            self.st["signins"][key] = s
        return {"signinoutb": {"sign_no": s["sign_no"],
                               "sign_time": s["sign_time"]}}

    def h9002(self, ctx):
        so = ctx["input"].node("signOut")
        sign_no = so.str("sign_no", maxlen=30)
        so.str("opter_no", maxlen=20)
        inst, now = ctx["inst"], ctx["now"]
        key = "%s|%s|%s" % (inst.code, ctx["opter"], now.strftime("%Y-%m-%d"))
        s = self.st["signins"].get(key)
        if s is None or s["sign_no"] != sign_no:
            _fail("input.signOut.sign_no.mismatch", "input.signOut.sign_no %s "
                  "不是本经办人今日的签到流水号" % sign_no)
        s["signed_out"] = True
        return {"signoutoutb": {"sign_time": fmt_dt(now)}}

    def _make_person(self, certno, name, insuplc):
        digest = int(hashlib.sha256(certno.encode()).hexdigest(), 16)
        psn_no = insuplc[:2] + "0000" + "%020d" % (digest % 10 ** 20)
        p = self.st["persons"].get(psn_no)
        if p is not None:
            return p
        brdy = datetime.date(int(certno[6:10]), int(certno[10:12]),
                             int(certno[12:14]))
        insutype = "390" if sum(int(c) for c in certno[:17]) % 2 == 0 \
            else "310"
        today = datetime.date.today()
        age = (today - brdy).days / 365.25
        if insutype == "310":
            psn_type = "21" if age >= 60 else "11"
        else:
            psn_type = "60" if age >= 60 else "50"
        p = {"psn_no": psn_no, "psn_cert_type": "01", "certno": certno,
             "psn_name": name or "参保人" + certno[-4:],
             "gend": "1" if int(certno[16]) % 2 else "2", "naty": "01",
             "brdy": brdy.isoformat(), "insutype": insutype,
             "psn_type": psn_type, "insuplc_admdvs": insuplc,
             "balc": 100000 if insutype == "310" else 0,
             "cvlserv_flag": "0",
             "emp_name": "某某有限公司" if insutype == "310" else ""}
        self.st["persons"][psn_no] = p
        return p

    @staticmethod
    def _age(p):
        brdy = datetime.date.fromisoformat(p["brdy"])
        return round((datetime.date.today() - brdy).days / 365.25, 1)

    def h1101(self, ctx):
        d = ctx["input"].node("data")
        ctype = d.str("mdtrt_cert_type", choices={"01", "02", "03"})
        cno = d.str("mdtrt_cert_no", maxlen=50)
        d.str("psn_cert_type", required=False, maxlen=6)
        d.datetime("begntime", required=False)
        certno = d.str("certno", required=False, maxlen=50)
        name = d.str("psn_name", required=False, maxlen=50)
        inst = ctx["inst"]
        if ctype == "02":
            why = id_problem(cno)
            if why:
                _fail("input.data.mdtrt_cert_no.idcard", "input.data."
                      "mdtrt_cert_no 身份证号 %s %s" % (cno, why))
            idno = cno.upper()
            if certno and certno.upper() != idno:
                _fail("input.data.certno.mismatch", "input.data.certno 与 "
                      "mdtrt_cert_no 不一致")
        else:
            if ctype == "03":
                d.str("card_sn", maxlen=32, what="社会保障卡须填写卡识别码")
            if certno and not id_problem(certno):
                idno = certno.upper()
            else:
                # the platform resolves the voucher or card to a person;
                # here a stable synthetic ID number stands for that person
                h = int(hashlib.sha256(cno.encode()).hexdigest(), 16)
                first = "%s19%02d%02d%02d%03d" % (
                    inst.admdvs, 50 + h % 50, 1 + h // 50 % 12,
                    1 + h // 600 % 28, h // 16800 % 1000)
                idno = first + id_check_char(first)
        p = self._make_person(idno, name, idno[:6])
        return {
            "baseinfo": {"psn_no": p["psn_no"],
                         "psn_cert_type": p["psn_cert_type"],
                         "certno": p["certno"], "psn_name": p["psn_name"],
                         "gend": p["gend"], "naty": p["naty"],
                         "brdy": p["brdy"], "age": self._age(p),
                         "exp_content": None},
            "insuinfo": [{"balc": money(p["balc"]),
                          "insutype": p["insutype"],
                          "psn_type": p["psn_type"], "psn_insu_stas": "1",
                          "psn_insu_date": "2015-01-01",
                          "paus_insu_date": None,
                          "cvlserv_flag": p["cvlserv_flag"],
                          "insuplc_admdvs": p["insuplc_admdvs"],
                          "emp_name": p["emp_name"]}],
            "idetinfo": []}

    def h2201(self, ctx):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", maxlen=30)
        p = self._person(psn_no, "input.data.psn_no")
        self._check_insuplc(ctx, p)
        insutype = d.str("insutype", choices=INSUTYPES)
        if insutype != p["insutype"]:
            _fail("input.data.insutype.mismatch", "input.data.insutype %s："
                  "人员 %s 无该险种参保信息（参保险种 %s）"
                  % (insutype, psn_no, p["insutype"]))
        begntime = d.datetime("begntime")
        d.str("mdtrt_cert_type", choices={"01", "02", "03"})
        d.str("mdtrt_cert_no", maxlen=50)
        ipt = d.str("ipt_otp_no", maxlen=30)
        d.str("atddr_no", maxlen=30, regex=RE_STAFF,
              what="国家医保医师代码，如 D370102000001")
        d.str("dr_name", maxlen=50)
        d.str("dept_code", maxlen=30)
        d.str("dept_name", maxlen=100)
        d.str("caty", maxlen=10, regex=RE_CATY, what="科别代码，如 A02")
        inst = ctx["inst"]
        for v in self.st["visits"].values():
            if v["fixmedins_code"] == inst.code and v["state"] == "open" \
                    and v["ipt_otp_no"] == ipt:
                _fail("input.data.ipt_otp_no.duplicate", "input.data."
                      "ipt_otp_no %s 已存在有效挂号记录（就诊ID %s）"
                      % (ipt, v["mdtrt_id"]))
        mdtrt_id = self._platform_id(inst, ctx["now"])
        self.st["visits"][mdtrt_id] = {
            "mdtrt_id": mdtrt_id, "fixmedins_code": inst.code,
            "psn_no": psn_no, "insutype": insutype, "ipt_otp_no": ipt,
            "begntime": begntime, "state": "open", "med_type": None,
            "dise_codg": "", "diseinfo": [], "fees": {}, "cancelled_fees": [],
            "msgid": ctx["msgid"]}
        ctx["rec"].update(psn_no=psn_no, mdtrt_id=mdtrt_id)
        return {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no,
                         "ipt_otp_no": ipt, "exp_content": ""}}

    def h2202(self, ctx):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", maxlen=30)
        mdtrt_id = d.str("mdtrt_id", maxlen=30)
        ipt = d.str("ipt_otp_no", maxlen=30)
        v = self._visit(ctx, mdtrt_id, "input.data.mdtrt_id", psn_no)
        self._check_insuplc(ctx, self._person(psn_no, "input.data.psn_no"))
        if ipt != v["ipt_otp_no"]:
            _fail("input.data.ipt_otp_no.mismatch", "input.data.ipt_otp_no %s"
                  " 与挂号时的 %s 不符" % (ipt, v["ipt_otp_no"]))
        if any(r["setl_id"] for r in v["fees"].values()):
            _fail("state.2202_settled", "就诊ID %s 已结算，不能撤销挂号（须先"
                  "2208结算撤销）" % mdtrt_id)
        if v["fees"]:
            _fail("state.2202_fees", "就诊ID %s 存在未撤销的费用明细，不能撤销"
                  "挂号（须先2205）" % mdtrt_id)
        v["state"] = "cancelled"
        ctx["rec"].update(psn_no=psn_no, mdtrt_id=mdtrt_id)
        return None

    def h2203(self, ctx):
        inp = ctx["input"]
        m = inp.node("mdtrtinfo")
        mdtrt_id = m.str("mdtrt_id", maxlen=30)
        psn_no = m.str("psn_no", maxlen=30)
        v = self._visit(ctx, mdtrt_id, "input.mdtrtinfo.mdtrt_id", psn_no)
        self._check_insuplc(ctx, self._person(psn_no, "input.mdtrtinfo"
                                                      ".psn_no"))
        med_type = m.str("med_type", choices=MED_TYPES)
        m.datetime("begntime")
        m.str("main_cond_dscr", required=False, maxlen=1000)
        dise = m.str("dise_codg", required=False, maxlen=30)
        if dise and not (RE_ICD10.match(dise) or RE_OPSP.match(dise)):
            _fail("input.mdtrtinfo.dise_codg.format", "input.mdtrtinfo."
                  "dise_codg 格式错误：%s（须为医保版ICD-10如 I10.x00，或门诊"
                  "慢特病代码如 M01607）" % dise)
        if dise:
            m.str("dise_name", maxlen=300)
        m.str("birctrl_type", required=False, maxlen=6)
        m.date("birctrl_matn_date", required=False)
        rows = inp.rows("diseinfo")
        seen = set()
        dis = []
        for r in rows:
            dt = r.str("diag_type", choices={"1", "2", "3"})
            srt = r.str("diag_srt_no", maxlen=2, regex=RE_DIGITS,
                        what="1..2位数字")
            if srt in seen:
                _fail("input.diseinfo[].diag_srt_no.duplicate", "%s 重复：%s"
                      % (r.where("diag_srt_no"), srt))
            seen.add(srt)
            code = r.str("diag_code", maxlen=20)
            if dt == "1" and not RE_ICD10.match(code):
                _fail("input.diseinfo[].diag_code.format", "%s 格式错误：%s"
                      "（西医诊断须为医保版ICD-10，如 I10.x00、J18.900）"
                      % (r.where("diag_code"), code))
            if dt != "1" and not RE_TCM.match(code):
                _fail("input.diseinfo[].diag_code.format", "%s 格式错误：%s"
                      "（中医诊断代码）" % (r.where("diag_code"), code))
            r.str("diag_name", maxlen=100)
            r.str("diag_dept", maxlen=50)
            r.str("dise_dor_no", maxlen=30, regex=RE_STAFF,
                  what="国家医保医师代码")
            r.str("dise_dor_name", maxlen=50)
            r.datetime("diag_time")
            vf = r.str("vali_flag", choices={"0", "1"})
            dis.append({"diag_srt_no": srt, "diag_code": code,
                        "vali_flag": vf})
        if v["med_type"] and v["med_type"] != med_type:
            _fail("input.mdtrtinfo.med_type.changed", "input.mdtrtinfo."
                  "med_type %s 与本次就诊已上传的医疗类别 %s 不符（一次就诊只能"
                  "有一个医疗类别）" % (med_type, v["med_type"]))
        v["med_type"] = med_type
        v["dise_codg"] = dise
        v["diseinfo"] = dis
        ctx["rec"].update(psn_no=psn_no, mdtrt_id=mdtrt_id)
        return None

    @staticmethod
    def _classify(code, amt, pric, appr):
        kind = national_code_kind(code)
        if kind == "drug":
            lv, prop, typ, cap = ("01", Decimal(0), "09", None) \
                if code[0] == "X" else ("02", Decimal("0.05"), "11", None)
        elif kind == "herb":
            lv, prop, typ, cap = "02", Decimal("0.10"), "10", None
        elif kind == "consumable":
            lv, prop, typ, cap = "02", Decimal("0.10"), "08", pric
        else:
            lv, prop, typ, cap = "01", Decimal(0), \
                "02" if code.startswith("0011") else "05", pric
        fulamt = amt if appr == "2" else 0
        pre = 0 if fulamt else \
            int((amt * prop).to_integral_value(ROUND_HALF_UP))
        return {"chrgitm_lv": lv, "selfpay_prop": str(prop),
                "med_chrgitm_type": typ,
                "pric_uplmt_amt": str(cap) if cap is not None
                else "99999999.000000",
                "bas_medn_flag": "1" if kind == "drug" else "0",
                "fulamt": fulamt, "overlmt": 0, "preselfpay": pre,
                "inscp": amt - fulamt - pre}

    def h2204(self, ctx):
        rows = ctx["input"].rows("feedetail")
        v = None
        new = {}
        batches_new = set()
        batch_dise = {}
        for r in rows:
            sn = r.str("feedetl_sn", maxlen=30)
            if not RE_DIGITS.match(sn) or len(sn) > 15 or int(sn) == 0:
                _fail("input.feedetail[].feedetl_sn.format", "%s 格式错误：%s"
                      "（须为1..15位数字且不为0）" % (r.where("feedetl_sn"), sn))
            mdtrt_id = r.str("mdtrt_id", maxlen=30)
            psn_no = r.str("psn_no", maxlen=30)
            if v is None:
                v = self._visit(ctx, mdtrt_id, r.where("mdtrt_id"), psn_no)
                self._check_insuplc(ctx, self._person(psn_no,
                                                      r.where("psn_no")))
                if not v["med_type"]:
                    _fail("state.2204_before_2203", "就诊ID %s 尚未上传就诊信息"
                          "（2203），不能上传费用明细" % mdtrt_id)
            elif mdtrt_id != v["mdtrt_id"]:
                _fail("input.feedetail[].mdtrt_id.mixed", "%s %s 与本次上传"
                      "首行的就诊ID %s 不同" % (r.where("mdtrt_id"), mdtrt_id,
                                          v["mdtrt_id"]))
            elif psn_no != v["psn_no"]:
                _fail("psn_no.mismatch", "%s %s 与就诊人员 %s 不符"
                      % (r.where("psn_no"), psn_no, v["psn_no"]))
            if sn in new or sn in v["fees"]:
                _fail("input.feedetail[].feedetl_sn.duplicate", "%s %s 在本次"
                      "就诊中重复" % (r.where("feedetl_sn"), sn))
            bch = r.str("chrg_bchno", maxlen=30)
            dise = r.str("dise_codg", required=False, maxlen=30)
            if bch in batch_dise and batch_dise[bch] != dise:
                _fail("input.feedetail[].dise_codg.batch", "%s %s 与同一收费"
                      "批次 %s 其他明细的病种编码 %s 不同"
                      % (r.where("dise_codg"), dise, bch, batch_dise[bch]))
            batch_dise[bch] = dise
            if bch not in batches_new:
                if any(x["chrg_bchno"] == bch for x in v["fees"].values()):
                    _fail("input.feedetail[].chrg_bchno.uploaded", "%s %s 已"
                          "上传过（同一批次须一次上传）"
                          % (r.where("chrg_bchno"), bch))
                batches_new.add(bch)
            r.str("rxno", required=False, maxlen=30)
            r.str("rx_circ_flag", required=False, choices={"0", "1"})
            r.datetime("fee_ocur_time")
            code = r.str("med_list_codg", maxlen=50)
            if national_code_kind(code) is None:
                _fail("input.feedetail[].med_list_codg.national", "%s 非国家"
                      "医保编码：%s（须为西药/中成药X/Z+22位、中药饮片T+数字、"
                      "医疗服务项目15位数字、医用耗材C+19位数字）"
                      % (r.where("med_list_codg"), code))
            r.str("medins_list_codg", maxlen=150)
            sumamt = r.num("det_item_fee_sumamt", 2, minimum=0)
            cnt = r.num("cnt", 4, positive=True)
            pric = r.num("pric", 6, minimum=0)
            if abs(cnt * pric - sumamt) > Decimal("0.01"):
                _fail("input.feedetail[].det_item_fee_sumamt.product",
                      "%s %s 与 cnt×pric=%s×%s=%s 不符（允许误差0.01）"
                      % (r.where("det_item_fee_sumamt"), sumamt, cnt, pric,
                         (cnt * pric).normalize()))
            r.num("prd_days", 2, required=False, minimum=0)
            r.str("bilg_dept_codg", maxlen=30)
            r.str("bilg_dept_name", maxlen=100)
            r.str("bilg_dr_codg", required=False, maxlen=30, regex=RE_STAFF,
                  what="国家医保医师/护士/药师代码 D/N/Y+12位数字或HY/HJ+12位"
                       "数字")
            r.str("bilg_dr_name", required=False, maxlen=50)
            appr = r.str("hosp_appr_flag", required=False,
                         choices={"0", "1", "2"}) or "1"
            amt = cents_of(sumamt)
            row = {"feedetl_sn": sn, "chrg_bchno": bch, "dise_codg": dise,
                   "med_list_codg": code,
                   "medins_list_codg": r.obj.get("medins_list_codg"),
                   "cnt": str(cnt), "pric": str(pric), "amt": amt,
                   "hosp_appr_flag": appr, "setl_id": None,
                   "msgid": ctx["msgid"]}
            row.update(self._classify(code, amt, pric, appr))
            new[sn] = row
        v["fees"].update(new)
        ctx["rec"].update(psn_no=v["psn_no"], mdtrt_id=v["mdtrt_id"])
        out = []
        for row in new.values():
            out.append({
                "feedetl_sn": row["feedetl_sn"],
                "det_item_fee_sumamt": money(row["amt"]),
                "cnt": float(Decimal(row["cnt"])),
                "pric": float(Decimal(row["pric"])),
                "pric_uplmt_amt": float(Decimal(row["pric_uplmt_amt"])),
                "selfpay_prop": float(Decimal(row["selfpay_prop"])),
                "fulamt_ownpay_amt": money(row["fulamt"]),
                "overlmt_amt": money(row["overlmt"]),
                "preselfpay_amt": money(row["preselfpay"]),
                "inscp_scp_amt": money(row["inscp"]),
                "chrgitm_lv": row["chrgitm_lv"],
                "med_chrgitm_type": row["med_chrgitm_type"],
                "bas_medn_flag": row["bas_medn_flag"],
                "hi_nego_drug_flag": "0", "chld_medc_flag": None,
                "list_sp_item_flag": None, "lmt_used_flag": "0",
                "drt_reim_flag": "0", "memo": None})
        return {"result": out}

    def h2205(self, ctx):
        d = ctx["input"].node("data")
        mdtrt_id = d.str("mdtrt_id", maxlen=30)
        bch = d.str("chrg_bchno", maxlen=30)
        psn_no = d.str("psn_no", maxlen=30)
        v = self._visit(ctx, mdtrt_id, "input.data.mdtrt_id", psn_no)
        self._check_insuplc(ctx, self._person(psn_no, "input.data.psn_no"))
        if bch == "0000":
            gone = [sn for sn, r in v["fees"].items() if not r["setl_id"]]
            if not gone:
                _fail("state.2205_nothing", "就诊ID %s 没有可撤销的未结算费用"
                      "明细" % mdtrt_id)
        else:
            rows = [sn for sn, r in v["fees"].items()
                    if r["chrg_bchno"] == bch]
            if not rows:
                _fail("input.data.chrg_bchno.unknown", "input.data.chrg_bchno"
                      " %s 在就诊ID %s 中不存在" % (bch, mdtrt_id))
            if any(v["fees"][sn]["setl_id"] for sn in rows):
                _fail("state.2205_settled", "收费批次 %s 已结算，不能撤销费用"
                      "明细（须先2208结算撤销）" % bch)
            gone = rows
        for sn in gone:
            v["cancelled_fees"].append(v["fees"].pop(sn))
        ctx["rec"].update(psn_no=psn_no, mdtrt_id=mdtrt_id)
        return None

    def _settle_input(self, ctx, settle):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", maxlen=30)
        p = self._person(psn_no, "input.data.psn_no")
        self._check_insuplc(ctx, p)
        d.str("mdtrt_cert_type", choices={"01", "02", "03"})
        d.str("mdtrt_cert_no", maxlen=50)
        med_type = d.str("med_type", choices=MED_TYPES)
        medfee = d.num("medfee_sumamt", 2, minimum=0)
        d.str("psn_setlway", choices={"01", "02"})
        mdtrt_id = d.str("mdtrt_id", maxlen=30)
        bch = d.str("chrg_bchno", maxlen=30)
        acct = d.str("acct_used_flag", choices={"0", "1"})
        insutype = d.str("insutype", choices=INSUTYPES)
        v = self._visit(ctx, mdtrt_id, "input.data.mdtrt_id", psn_no)
        if insutype != v["insutype"]:
            _fail("input.data.insutype.mismatch", "input.data.insutype %s 与"
                  "挂号险种 %s 不符" % (insutype, v["insutype"]))
        if not v["med_type"]:
            _fail("state.settle_before_2203", "就诊ID %s 尚未上传就诊信息"
                  "（2203）" % mdtrt_id)
        if med_type != v["med_type"]:
            _fail("input.data.med_type.mismatch", "input.data.med_type %s 与"
                  "就诊信息的医疗类别 %s 不符" % (med_type, v["med_type"]))
        in_batch = [r for r in v["fees"].values() if r["chrg_bchno"] == bch]
        rows = [r for r in in_batch if not r["setl_id"]]
        if not rows:
            if in_batch:
                _fail("state.settle_already_settled", "收费批次 %s 的费用明细"
                      "已全部结算（结算ID %s），没有待结算费用"
                      % (bch, in_batch[0]["setl_id"]))
            _fail("state.settle_no_fees", "就诊ID %s 收费批次 %s 没有已上传"
                  "的费用明细（须先2204）" % (mdtrt_id, bch))
        total = sum(r["amt"] for r in rows)
        if abs(cents_of(medfee) - total) > 1:
            _fail("input.data.medfee_sumamt.mismatch", "input.data."
                  "medfee_sumamt %s 与收费批次 %s 未结算费用明细合计 %s 不符"
                  % (medfee, bch, fmt_money(total)))
        a = {"medfee_sumamt": total,
             "fulamt_ownpay_amt": sum(r["fulamt"] for r in rows),
             "overlmt_selfpay": sum(r["overlmt"] for r in rows),
             "preselfpay_amt": sum(r["preselfpay"] for r in rows),
             "inscp_scp_amt": sum(r["inscp"] for r in rows)}
        if settle:
            d.str("invono", required=False, maxlen=20)
            for k in ("fulamt_ownpay_amt", "overlmt_selfpay",
                      "preselfpay_amt", "inscp_scp_amt"):
                got = d.num(k, 2, minimum=0)
                if abs(cents_of(got) - a[k]) > 1:
                    _fail("input.data.%s.mismatch" % k, "input.data.%s %s 与"
                          "平台计算值 %s 不符（须取自2206预结算结果）"
                          % (k, got, fmt_money(a[k])))
        rate = Decimal("0.60") if insutype != "310" else (
            Decimal("0.80") if p["psn_type"] == "21" else Decimal("0.70"))
        hifp = int((Decimal(a["inscp_scp_amt"]) * rate)
                   .to_integral_value(ROUND_HALF_UP))
        part = total - hifp
        acct_pay = min(p["balc"], part) if acct == "1" and \
            insutype == "310" else 0
        a.update(act_pay_dedc=0, hifp_pay=hifp, cvlserv_pay=0, hifes_pay=0,
                 hifmi_pay=0, hifob_pay=0, maf_pay=0, oth_pay=0,
                 fund_pay_sumamt=hifp, psn_part_amt=part, acct_pay=acct_pay,
                 psn_cash_pay=part - acct_pay, hosp_part_amt=0,
                 acct_mulaid_pay=0)
        return {"p": p, "v": v, "rows": rows, "amounts": a, "rate": rate,
                "bch": bch, "med_type": med_type, "insutype": insutype,
                "acct_used_flag": acct,
                "mdtrt_cert_type": d.obj.get("mdtrt_cert_type")}

    @staticmethod
    def _setlinfo(s, amounts, setl_id, setl_time, balc, medins_setl_id,
                  clr_optins, sign=1):
        p = s["p"]
        info = {"mdtrt_id": s["v"]["mdtrt_id"]}
        if setl_id is not None:
            info["setl_id"] = setl_id
        info.update({
            "psn_no": p["psn_no"], "psn_name": p["psn_name"],
            "psn_cert_type": p["psn_cert_type"], "certno": p["certno"],
            "gend": p["gend"], "naty": p["naty"], "brdy": p["brdy"],
            "age": Platform._age(p), "insutype": s["insutype"],
            "psn_type": p["psn_type"], "cvlserv_flag": p["cvlserv_flag"],
            "setl_time": setl_time, "mdtrt_cert_type": s["mdtrt_cert_type"],
            "med_type": s["med_type"]})
        for k in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay",
                  "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc",
                  "hifp_pay"):
            info[k] = money(sign * amounts[k])
        info["pool_prop_selfpay"] = float(1 - s["rate"])
        for k in ("cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay",
                  "maf_pay", "oth_pay", "fund_pay_sumamt", "psn_part_amt",
                  "acct_pay", "psn_cash_pay", "hosp_part_amt"):
            info[k] = money(sign * amounts[k])
        info["balc"] = money(balc)
        info["acct_mulaid_pay"] = money(sign * amounts["acct_mulaid_pay"])
        info.update({"medins_setl_id": medins_setl_id,
                     "clr_optins": clr_optins, "clr_way": "1",
                     "clr_type": "11"})
        fund = "310100" if s["insutype"] == "310" else "390100"
        detail = [{"fund_pay_type": fund,
                   "inscp_scp_amt": money(sign * amounts["inscp_scp_amt"]),
                   "crt_payb_lmt_amt": 0,
                   "fund_payamt": money(sign * amounts["hifp_pay"]),
                   "fund_pay_type_name": FUND_NAMES[fund],
                   "setl_proc_info": ""}]
        return info, detail

    def h2206(self, ctx):
        s = self._settle_input(ctx, settle=False)
        info, detail = self._setlinfo(
            s, s["amounts"], None, None, s["p"]["balc"] - s["amounts"]
            ["acct_pay"], ctx["msgid"], ctx["inst"].admdvs)
        ctx["rec"].update(psn_no=s["p"]["psn_no"],
                          mdtrt_id=s["v"]["mdtrt_id"])
        return {"setlinfo": info, "setldetail": detail}

    def h2207(self, ctx):
        s = self._settle_input(ctx, settle=True)
        inst, now = ctx["inst"], ctx["now"]
        setl_id = self._setl_id(inst, now)
        p, a = s["p"], s["amounts"]
        p["balc"] -= a["acct_pay"]
        info, detail = self._setlinfo(s, a, setl_id, fmt_dt(now), p["balc"],
                                      ctx["msgid"], inst.admdvs)
        for r in s["rows"]:
            r["setl_id"] = setl_id
        self.st["settlements"][setl_id] = {
            "setl_id": setl_id, "mdtrt_id": s["v"]["mdtrt_id"],
            "psn_no": p["psn_no"], "fixmedins_code": inst.code,
            "msgid": ctx["msgid"], "infno": ctx["infno"],
            "chrg_bchno": s["bch"],
            "feedetl_sns": [r["feedetl_sn"] for r in s["rows"]],
            "setl_time": fmt_dt(now), "insutype": s["insutype"],
            "clr_type": "11", "clr_optins": inst.admdvs,
            "amounts": a, "state": "settled", "refund": None,
            "reversed_by": None, "setlinfo": info, "setldetail": detail}
        ctx["rec"].update(psn_no=p["psn_no"], mdtrt_id=s["v"]["mdtrt_id"],
                          setl_id=setl_id)
        return {"setlinfo": info, "setldetail": detail}

    def _settlement(self, ctx, setl_id, where):
        s = self.st["settlements"].get(setl_id)
        if s is None or s["fixmedins_code"] != ctx["inst"].code:
            _fail("setl_id.unknown", "%s 结算ID %s 不存在" % (where, setl_id))
        return s

    def h2208(self, ctx):
        d = ctx["input"].node("data")
        setl_id = d.str("setl_id", maxlen=30)
        mdtrt_id = d.str("mdtrt_id", maxlen=30)
        psn_no = d.str("psn_no", maxlen=30)
        s = self._settlement(ctx, setl_id, "input.data.setl_id")
        if s["mdtrt_id"] != mdtrt_id:
            _fail("input.data.mdtrt_id.mismatch", "input.data.mdtrt_id %s 与"
                  "结算ID %s 的就诊ID %s 不符" % (mdtrt_id, setl_id,
                                           s["mdtrt_id"]))
        if s["psn_no"] != psn_no:
            _fail("psn_no.mismatch", "input.data.psn_no %s 与结算ID %s 的人员"
                  "不符" % (psn_no, setl_id))
        p = self._person(psn_no, "input.data.psn_no")
        self._check_insuplc(ctx, p)
        if s["state"] == "cancelled":
            _fail("state.2208_cancelled", "结算ID %s 已撤销（退费结算ID %s），"
                  "不能重复撤销" % (setl_id, s["refund"]["setl_id"]))
        if s["state"] == "reversed":
            _fail("state.2208_reversed", "结算ID %s 已冲正，不能撤销" % setl_id)
        v = self.st["visits"][s["mdtrt_id"]]
        inst, now = ctx["inst"], ctx["now"]
        refund_id = self._setl_id(inst, now)
        a = s["amounts"]
        p["balc"] += a["acct_pay"]
        for sn in s["feedetl_sns"]:
            if sn in v["fees"] and v["fees"][sn]["setl_id"] == setl_id:
                v["fees"][sn]["setl_id"] = None
        s["state"] = "cancelled"
        s["refund"] = {"setl_id": refund_id, "msgid": ctx["msgid"],
                       "setl_time": fmt_dt(now), "reversed_by": None}
        self.st["refunds"][refund_id] = setl_id
        info = dict(s["setlinfo"])
        info["setl_id"] = refund_id
        info["setl_time"] = fmt_dt(now)
        info["medins_setl_id"] = ctx["msgid"]
        info["balc"] = money(p["balc"])
        for k, val in list(info.items()):
            if k in a and k != "balc":
                info[k] = money(-a[k])
        detail = []
        for row in s["setldetail"]:
            row = dict(row)
            row["inscp_scp_amt"] = -row["inscp_scp_amt"]
            row["fund_payamt"] = -row["fund_payamt"]
            detail.append(row)
        ctx["rec"].update(psn_no=psn_no, mdtrt_id=mdtrt_id, setl_id=setl_id,
                          refund_setl_id=refund_id)
        return {"setlinfo": info, "setldetail": detail}

    def h2601(self, ctx):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", maxlen=30)
        omsgid = d.str("omsgid", minlen=30, maxlen=30)
        oinfno = d.str("oinfno", maxlen=5, regex=RE_INFNO, what="交易编号")
        p = self._person(psn_no, "input.data.psn_no")
        self._check_insuplc(ctx, p)
        orig = self.st["msgids"].get(omsgid)
        if orig is None or orig["fixmedins_code"] != ctx["inst"].code:
            _fail("reverse.unknown", "调用业务基础子系统冲正失败:原交易流水号 "
                  "omsgid=%s 不存在" % omsgid)
        if orig["infno"] != oinfno:
            _fail("reverse.oinfno", "调用业务基础子系统冲正失败:oinfno %s 与原"
                  "交易编号 %s 不符" % (oinfno, orig["infno"]))
        obase = LETTERED.get(oinfno, oinfno)
        if obase not in REVERSIBLE:
            _fail("reverse.not_reversible", "调用业务基础子系统冲正失败:交易 "
                  "%s 不支持冲正" % oinfno)
        if not orig["ok"]:
            _fail("reverse.failed_original", "调用业务基础子系统冲正失败:原交易"
                  " %s 未成功，无需冲正" % omsgid)
        if orig.get("psn_no") != psn_no:
            _fail("psn_no.mismatch", "input.data.psn_no %s 与原交易人员不符"
                  % psn_no)
        if orig.get("reversed"):
            _fail("reverse.again", "调用业务基础子系统冲正失败:原交易 %s 已于 %s"
                  " 冲正，不能重复冲正" % (omsgid, orig["reversed"]))
        s = self.st["settlements"][orig["setl_id"]]
        v = self.st["visits"][s["mdtrt_id"]]
        now = fmt_dt(ctx["now"])
        if obase == "2207":
            if s["state"] == "cancelled":
                _fail("reverse.refunded", "调用业务基础子系统冲正失败:冲正的结算"
                      "信息退费结算标志不为未退费，不能办理冲正交易")
            for sn in s["feedetl_sns"]:
                if sn in v["fees"] and v["fees"][sn]["setl_id"] == \
                        s["setl_id"]:
                    v["fees"][sn]["setl_id"] = None
            p["balc"] += s["amounts"]["acct_pay"]
            s["state"] = "reversed"
            s["reversed_by"] = ctx["msgid"]
        else:
            rows = [v["fees"].get(sn) for sn in s["feedetl_sns"]]
            if s["state"] != "cancelled" or any(
                    r is None or r["setl_id"] for r in rows):
                _fail("reverse.changed", "调用业务基础子系统冲正失败:原结算的"
                      "费用明细已变更，不能冲正结算撤销")
            for r in rows:
                r["setl_id"] = s["setl_id"]
            p["balc"] -= s["amounts"]["acct_pay"]
            s["state"] = "settled"
            s["refund"]["reversed_by"] = ctx["msgid"]
        orig["reversed"] = now
        ctx["rec"].update(psn_no=psn_no, omsgid=omsgid)
        return None

    def h5201(self, ctx):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", maxlen=30)
        self._person(psn_no, "input.data.psn_no")
        d.datetime("begntime", required=False)
        d.datetime("endtime", required=False)
        want = d.str("mdtrt_id", required=False, maxlen=30)
        out = []
        for v in self.st["visits"].values():
            if v["fixmedins_code"] != ctx["inst"].code or \
                    v["psn_no"] != psn_no or (want and v["mdtrt_id"] != want):
                continue
            out.append({"mdtrt_id": v["mdtrt_id"], "psn_no": psn_no,
                        "fixmedins_code": v["fixmedins_code"],
                        "med_type": v["med_type"], "begntime": v["begntime"],
                        "ipt_otp_no": v["ipt_otp_no"], "insutype":
                        v["insutype"], "vali_flag":
                        "1" if v["state"] == "open" else "0"})
        return {"mdtrtinfo": out}

    def h5203(self, ctx):
        d = ctx["input"].node("data")
        psn_no = d.str("psn_no", required=False, maxlen=30)
        setl_id = d.str("setl_id", required=False, maxlen=30)
        mdtrt_id = d.str("mdtrt_id", required=False, maxlen=30)
        if not setl_id and not mdtrt_id and not psn_no:
            _fail("input.data.setl_id.missing", "input.data.setl_id、"
                  "mdtrt_id 与 psn_no 不能同时为空")
        found = None
        for s in self.st["settlements"].values():
            if s["fixmedins_code"] != ctx["inst"].code:
                continue
            if setl_id and s["setl_id"] != setl_id:
                continue
            if mdtrt_id and s["mdtrt_id"] != mdtrt_id:
                continue
            if psn_no and s["psn_no"] != psn_no:
                continue
            found = s
        if found is None:
            _fail("query.not_found", "未查询到结算信息（setl_id=%s, mdtrt_id=%s"
                  "）" % (setl_id, mdtrt_id))
        info = dict(found["setlinfo"])
        info["refd_setl_flag"] = "1" if found["state"] == "cancelled" else "0"
        info["vali_flag"] = "0" if found["state"] == "reversed" else "1"
        return {"setlinfo": info, "setldetail": found["setldetail"]}

    def totals(self, code, insutype=None, clr_type=None, begin=None,
               end=None, with_refunds=True):
        n, medfee, fund, acct = 0, 0, 0, 0

        def inside(t):
            day = t[:10]
            return (begin is None or day >= begin) and \
                (end is None or day <= end)
        for s in self.st["settlements"].values():
            if s["fixmedins_code"] != code or s["state"] == "reversed":
                continue
            if insutype and s["insutype"] != insutype:
                continue
            if clr_type and s["clr_type"] != clr_type:
                continue
            a = s["amounts"]
            if s["state"] == "cancelled" and not with_refunds:
                continue
            if inside(s["setl_time"]):
                n += 1
                medfee += a["medfee_sumamt"]
                fund += a["fund_pay_sumamt"]
                acct += a["acct_pay"]
            r = s["refund"]
            if with_refunds and r and not r["reversed_by"] and \
                    inside(r["setl_time"]):
                n += 1
                medfee -= a["medfee_sumamt"]
                fund -= a["fund_pay_sumamt"]
                acct -= a["acct_pay"]
        return {"fixmedins_setl_cnt": n, "medfee_sumamt": medfee,
                "fund_pay_sumamt": fund, "acct_pay": acct}

    def h3201(self, ctx):
        d = ctx["input"].node("data")
        insutype = d.str("insutype", choices=INSUTYPES)
        clr_type = d.str("clr_type", choices={"11", "21", "41", "51", "99"})
        optins = d.str("setl_optins", regex=RE_ADMDVS, what="6位区划")
        begin = d.date("stmt_begndate")
        end = d.date("stmt_enddate")
        if end < begin:
            _fail("input.data.stmt_enddate.range", "input.data.stmt_enddate "
                  "早于 stmt_begndate")
        medfee = d.num("medfee_sumamt", 2)
        fund = d.num("fund_pay_sumamt", 2)
        acct = d.num("acct_pay", 2)
        cnt = d.num("fixmedins_setl_cnt", 0, minimum=0)
        refd = d.str("refd_setl_flag", choices={"0", "1"})
        inst = ctx["inst"]
        if optins != inst.admdvs:
            _fail("input.data.setl_optins.mismatch", "input.data.setl_optins "
                  "%s 与机构清算经办机构 %s 不符" % (optins, inst.admdvs))
        t = self.totals(inst.code, insutype, clr_type, begin, end,
                        with_refunds=(refd == "1"))
        diffs = []
        for k, got in (("medfee_sumamt", cents_of(medfee)),
                       ("fund_pay_sumamt", cents_of(fund)),
                       ("acct_pay", cents_of(acct))):
            if got != t[k]:
                diffs.append("%s 机构%s/中心%s" % (k, fmt_money(got),
                                               fmt_money(t[k])))
        if int(cnt) != t["fixmedins_setl_cnt"]:
            diffs.append("fixmedins_setl_cnt 机构%d/中心%d"
                         % (int(cnt), t["fixmedins_setl_cnt"]))
        return {"stmtinfo": {"setl_optins": optins,
                             "stmt_rslt": "1" if diffs else "0",
                             "stmt_rslt_dscr": "不平：" + "；".join(diffs)
                             if diffs else "平"}}

    # 3101 (事前) and 3102 (事中) 明细审核分析服务, and Hainan's 3660/3661
    # (the same payload under input.trigScen): the shapes of the
    # interface checked; one rule of the platform's own, R01 抗菌药物联用
    # (two or more antibacterial drugs, national codes XJ01..., in one
    # encounter), sev_deg 2; result is a list of violations (empty: none)
    def h3101(self, ctx):
        node = "trigScen" if ctx["infno"] in ("3660", "3661") else "data"
        d = ctx["input"].node(node)
        d.str("syscode", maxlen=10)
        task_id = d.str("task_id", required=False, maxlen=50)
        trig = d.str("trig_scen", required=False, maxlen=20)
        if not trig and not d.obj.get("rule_ids"):
            _fail("input.%s.trig_scen.missing" % node, "input.%s.trig_scen "
                  "与 rule_ids 须指定其一" % node)
        if trig and not all(t in TRIG_SCENS for t in trig.split(",")):
            _fail("input.%s.trig_scen.value" % node, "input.%s.trig_scen "
                  "取值无效：%s（1..10，逗号分隔）" % (node, trig))
        out = []
        for p in d.rows("patient_dtos"):
            patn = p.str("patn_id", maxlen=50)
            p.str("gend", required=False, choices={"0", "1", "2", "9"})
            p.date("brdy", required=False)
            p.str("poolarea", maxlen=10, regex=RE_ADMDVS, what="6位区划")
            p.str("curr_mdtrt_id", maxlen=50)
            for e in p.rows("fsi_encounter_dtos"):
                mdtrt_id = e.str("mdtrt_id", maxlen=50)
                e.str("medins_id", maxlen=30)
                e.num("setl_totlnum", 0, minimum=1)
                for g in e.rows("fsi_diagnose_dtos"):
                    g.str("dise_codg", maxlen=30)
                    g.str("maindise_flag", choices={"0", "1"})
                    g.str("dias_srt_no", maxlen=2)
                anti = []
                for o in e.rows("fsi_order_dtos"):
                    rx = o.str("rx_id", maxlen=50)
                    code = o.str("hilist_code", maxlen=50)
                    if national_code_kind(code) is None:
                        _fail("input.fsi_order_dtos.hilist_code.national",
                              "%s 非国家医保编码：%s"
                              % (o.where("hilist_code"), code))
                    o.num("cnt", 2, minimum=0)
                    o.num("pric", 6, minimum=0)
                    amt = o.num("sumamt", 2, minimum=0)
                    # spec (规格) is required by the interface; 2204 does
                    # not carry it, so a gateway may send it empty
                    o.str("spec", required=False, maxlen=200)
                    o.str("curr_drord_flag", choices={"0", "1"})
                    if code.startswith("XJ01"):
                        anti.append((rx, amt))
                if len(anti) < 2:
                    continue
                n = len(out) + 1
                out.append({
                    "jr_id": "JR%s%02d" % (ctx["msgid"][-12:], n),
                    "rule_id": "R01", "rule_name": "抗菌药物联用",
                    "vola_cont": "同一就诊开具%d种抗菌药物" % len(anti),
                    "patn_id": patn, "mdtrt_id": mdtrt_id,
                    "vola_amt": float(sum(a for _, a in anti)),
                    "vola_amt_stas": "1", "sev_deg": "2", "vola_evid": "",
                    "vola_bhvr_type": "2", "task_id": task_id,
                    "judge_result_detail_dtos": [
                        {"jrd_id": "JRD%02d%02d" % (n, i), "patn_id": patn,
                         "mdtrt_id": mdtrt_id, "rx_id": rx,
                         "vola_item_type": "1", "vola_amt": float(a)}
                        for i, (rx, a) in enumerate(anti, 1)]})
        return {"result": out}

    HANDLERS = {"9001": h9001, "9002": h9002, "1101": h1101,
                "2201": h2201, "2202": h2202, "2203": h2203, "2204": h2204,
                "2205": h2205, "2206": h2206, "2207": h2207, "2208": h2208,
                "2601": h2601, "5201": h5201, "5203": h5203, "3201": h3201,
                "3101": h3101, "3102": h3101, "3660": h3101, "3661": h3101}

    # ------------------------------------------------------- control API

    def settlements_view(self):
        with self.lock:
            out, count, active = [], {}, {}
            for s in self.st["settlements"].values():
                a = {k: money(v) for k, v in s["amounts"].items()}
                out.append({"setl_id": s["setl_id"], "mdtrt_id": s["mdtrt_id"],
                            "msgid": s["msgid"], "infno": s["infno"],
                            "fixmedins_code": s["fixmedins_code"],
                            "psn_no": s["psn_no"],
                            "chrg_bchno": s["chrg_bchno"],
                            "setl_time": s["setl_time"], "state": s["state"],
                            "medfee_sumamt": a["medfee_sumamt"],
                            "fund_pay_sumamt": a["fund_pay_sumamt"],
                            "psn_part_amt": a["psn_part_amt"],
                            "acct_pay": a["acct_pay"],
                            "psn_cash_pay": a["psn_cash_pay"],
                            "amounts": a, "refund": s["refund"],
                            "reversed_by": s["reversed_by"]})
                m = s["mdtrt_id"]
                count.setdefault(m, 0)
                active.setdefault(m, 0)
                if s["state"] != "reversed":
                    count[m] += 1
                if s["state"] == "settled":
                    active[m] += 1
            return {"settlements": out, "settle_count": count,
                    "active_count": active,
                    "resettle_attempts": dict(
                        self.st.get("resettles", {}))}


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class BadRequest(Exception):
    pass


MAX_BODY = 16 * 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "yibao-sim/1"
    sys_version = ""
    timeout = 300

    def setup(self):
        super().setup()
        p = self.server.platform
        with p.lock:
            p.stats["connections"] += 1
            self.conn_no = p.stats["connections"]
        self.tls = None
        if isinstance(self.connection, ssl.SSLSocket):
            # the handshake runs here, in the connection's own thread,
            # not in the accepting one: a slow or failing client cannot
            # hold up the others
            try:
                self.connection.do_handshake()
            except (OSError, ValueError):
                with p.lock:
                    p.stats["tls_failed_handshakes"] += 1
                raise
            c = self.connection
            self.tls = {"version": c.version(), "cipher": c.cipher()[0],
                        "sni": getattr(c, "yibao_sni", None),
                        "resumed": c.session_reused}
            with p.lock:
                p.stats["tls_handshakes"] += 1
                if c.session_reused:
                    p.stats["tls_resumed"] += 1

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("yibao-sim: %s %s\n" % (self.address_string(),
                                                     fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise BadRequest("truncated chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BadRequest("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        if not cl.strip().isdigit() or int(cl) > MAX_BODY:
            raise BadRequest("bad Content-Length")
        n = int(cl)
        body = self.rfile.read(n) if n else b""
        if len(body) != n:
            raise BadRequest("truncated body")
        return body

    def _send(self, status, payload, headers=None, ctype=None, cut=False):
        """cut: the header and only the first half of the body (the
        platform fails in the middle of answering)."""
        if isinstance(payload, (dict, list)):
            payload = dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type",
                         ctype or "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload[:len(payload) // 2] if cut else payload)
        if cut:
            self.wfile.flush()

    def _dispatch(self):
        try:
            body = self._read_body()
        except BadRequest as e:
            self.close_connection = True
            self._send(400, {"code": 400, "message": str(e)})
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/__sim/") or path == "/__sim":
            self._control(path, query, body)
            return
        self._business(path, query, body)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = \
        do_HEAD = _dispatch

    def _rst(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _business(self, path, query, body):
        p = self.server.platform
        entry = {"time": t17(p.now()), "method": self.command, "path": path,
                 "query": query, "client": self.client_address[0],
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "sign_headers": {k: self.headers.get(k) for k in
                                  SIGN_HEADERS if self.headers.get(k)
                                  is not None},
                 "body_len": len(body), "envelope": None, "status": None,
                 "infcode": None, "err_msg": None, "fault": None,
                 "conn": self.conn_no, "tls": self.tls}
        try:
            text = body.decode("utf-8")
            sniff = json.loads(text, parse_float=Decimal)
        except ValueError:
            sniff = None
            entry["body_text"] = body[:4000].decode("utf-8", "replace")
        infno = sniff.get("infno") if isinstance(sniff, dict) else None
        fault = p.take_fault(infno if isinstance(infno, str) else None)
        mode = fault["mode"] if fault else None
        entry["fault"] = mode
        if mode == "reset":
            p.log_request(entry)
            self._rst()
            return
        if mode == "drop_before_act":
            p.log_request(entry)
            self.close_connection = True
            return
        if mode in ("http_500", "garbage", "non_envelope", "answer") and \
                not fault["act"]:
            entry["status"] = self._fault_answer(mode, fault)
            if isinstance(sniff, dict):
                entry["envelope"] = sniff
            p.log_request(entry)
            return
        if mode == "latency":
            time.sleep(fault["latency_ms"] / 1000.0)
        if mode == "hold":
            p.hold()
        res = p.process(self.command, path, self.headers, body, entry,
                        infno if isinstance(infno, str) else None)
        if mode == "drop_after_act":
            p.log_request(entry)
            self.close_connection = True
            return
        if mode == "truncate":
            # acted on, then the header and half the answer: the platform
            # dies (or its connection breaks) in the middle of answering,
            # after latency_ms of silence if given (a read timeout)
            entry["status"] = res.status
            p.log_request(entry)
            self.close_connection = True
            self._send(res.status, res.body, res.headers, cut=True)
            if fault["latency_ms"]:
                time.sleep(fault["latency_ms"] / 1000.0)
            return
        if mode in ("http_500", "garbage", "non_envelope", "answer"):
            entry["status"] = self._fault_answer(mode, fault)
            p.log_request(entry)
            return
        entry["status"] = res.status
        p.log_request(entry)
        try:
            self._send(res.status, res.body, res.headers)
        except OSError:
            self.close_connection = True

    def _fault_answer(self, mode, fault):
        if mode == "answer":
            self._send(fault["status"], base64.b64decode(fault["body_b64"]),
                       ctype=fault["content_type"])
            return fault["status"]
        if mode == "http_500":
            self._send(500, b"<html><body><h1>500 Internal Server Error"
                       b"</h1></body></html>", ctype="text/html")
            return 500
        if mode == "garbage":
            self._send(200, b"\x00\xffnot json at all <<<\x1b[0m",
                       ctype="application/json;charset=UTF-8")
            return 200
        self._send(200, {"code": 401, "message": "非法用户!"})
        return 200

    def _control(self, path, query, body):
        p = self.server.platform
        with p.lock:
            p.stats["control_requests"] += 1
        m = self.command
        try:
            if path == "/__sim/fault" and m == "POST":
                try:
                    spec = json.loads(body.decode("utf-8") or "null")
                except ValueError as e:
                    raise ValueError("body is not JSON: %s" % e)
                self._send(200, {"ok": True, "faults": p.add_fault(spec)})
            elif path == "/__sim/fault" and m == "DELETE":
                with p.lock:
                    p.faults = []
                self._send(200, {"ok": True, "faults": []})
            elif path == "/__sim/fault" and m == "GET":
                with p.lock:
                    self._send(200, {"faults": list(p.faults)})
            elif path == "/__sim/settlements" and m == "GET":
                self._send(200, p.settlements_view())
            elif path == "/__sim/requests" and m == "GET":
                q = urllib.parse.parse_qs(query)
                n = int(q.get("n", ["50"])[0])
                after = int(q.get("after", ["0"])[0])
                infno = q.get("infno", [None])[0]
                with p.lock:
                    reqs = [e for e in p.requests if e["seq"] > after
                            and (infno is None or (e.get("envelope") or {})
                                 .get("infno") == infno)]
                    reqs = reqs[-n:] if n > 0 else []
                    self._send(200, {"requests": copy.deepcopy(reqs)})
            elif path == "/__sim/release" and m == "POST":
                self._send(200, {"ok": True, "released": p.release()})
            elif path == "/__sim/stats" and m == "GET":
                with p.lock:
                    stats = copy.deepcopy(p.stats)
                    stats["held"] = len(p.held)
                self._send(200, stats)
            elif path == "/__sim/reset" and m == "POST":
                p.reset()
                self._send(200, {"ok": True})
            elif path == "/__sim/state" and m == "GET":
                with p.lock:
                    self._send(200, copy.deepcopy(p.st))
            elif path == "/__sim/health" and m == "GET":
                self._send(200, {"ok": True, "scheme": p.scheme,
                                 "route": p.route.describe(),
                                 "sm3": "hashlib" if SM3_FROM_HASHLIB
                                 else "pure",
                                 "tls": self.server.tls is not None})
            else:
                self._send(404, {"ok": False, "error": "no control endpoint "
                                 "%s %s" % (m, path)})
        except ValueError as e:
            self._send(400, {"ok": False, "error": str(e)})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, platform, verbose=False, tls=None):
        self.platform = platform
        self.verbose = verbose
        self.tls = tls
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            # the handshake is done by Handler.setup, in the new thread
            try:
                sock = self.tls.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
            except (OSError, ValueError):
                sock.close()
                raise
        return sock, addr

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def build_parser():
    ap = argparse.ArgumentParser(
        prog="yibao-sim",
        description="Strict simulator of a provincial medical-insurance "
                    "platform (FSI) for yibao-gateway tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0,
                    help="0 = pick a free port (printed on start)")
    ap.add_argument("--scheme", choices=SCHEMES, default="csb")
    ap.add_argument("--institutions", metavar="FILE",
                    help="TSV: fixmedins_code name admdvs ak sk "
                         "(default: one demo institution H37010200001)")
    ap.add_argument("--route", default="single:/fsi/api/rsfComIfsService/"
                    "callService",
                    help="single:/path | prefix:/prefix/ | table:FILE")
    ap.add_argument("--csb-api-version", default="1.0.0")
    ap.add_argument("--csb-api-name-prefix", default="")
    ap.add_argument("--clock-window", type=int, default=1800,
                    help="seconds a signature timestamp, msgid time or "
                         "inf_time may differ from the clock")
    ap.add_argument("--state-file", metavar="FILE",
                    help="load state from and save it to FILE")
    ap.add_argument("--tls-cert", metavar="FILE",
                    help="serve HTTPS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", metavar="FILE",
                    help="the PEM private key of --tls-cert")
    ap.add_argument("--verbose", action="store_true")
    return ap


def tls_context(cert, key):
    """The server-side TLS context: TLS 1.2 or 1.3, HTTP/1.1 only, the
    SNI name the client sent is remembered on its socket."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    def on_sni(sock, name, context):
        try:
            sock.yibao_sni = name
        except AttributeError:
            pass
        return None
    ctx.sni_callback = on_sni
    return ctx


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        insts = load_institutions(args.institutions) if args.institutions \
            else list(DEFAULT_INSTITUTIONS)
        route = Route(args.route)
    except (OSError, ValueError) as e:
        sys.stderr.write("yibao-sim: %s\n" % e)
        return 2
    platform = Platform(insts, scheme=args.scheme, route=route,
                        csb_api_version=args.csb_api_version,
                        csb_api_name_prefix=args.csb_api_name_prefix,
                        clock_window=args.clock_window,
                        state_file=args.state_file)
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        sys.stderr.write("yibao-sim: --tls-cert and --tls-key go "
                         "together\n")
        return 2
    if args.tls_cert:
        try:
            tls = tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("yibao-sim: cannot use %s / %s: %s\n"
                             % (args.tls_cert, args.tls_key, e))
            return 2
    try:
        server = Server((args.host, args.port), platform, args.verbose, tls)
    except OSError as e:
        sys.stderr.write("yibao-sim: cannot listen on %s:%d: %s\n"
                         % (args.host, args.port, e))
        return 2
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=server.serve_forever,
                         kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    host, port = server.server_address[:2]
    sys.stdout.write("yibao-sim listening on %s://%s:%d scheme=%s\n"
                     % ("https" if tls else "http", host, port,
                        args.scheme))
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    platform.save_state()
    return 0


if __name__ == "__main__":
    sys.exit(main())
