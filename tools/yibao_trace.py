#!/usr/bin/python3
"""yibao-trace: the story of a visit, from the gateway's JSON logs.

The gateway writes one JSON object per transaction (nginx
`log_format yibao_tx`, the variable `$yibao_tx_log`,
conf/gateway.conf.template).  This
tool reads those logs -- current, rotated (`*.log.1`) and gzipped
(`*.gz`) -- puts the lines in time order, groups them into visits and
tells what happened:

  yibao-trace --msgid PDY60134132080312D6001202611261805010007
  yibao-trace --mdtrt-id 370000176415150112300000000012
  yibao-trace --setl-id 370000176415150398700000000003
  yibao-trace --clinic PDY60134132080312D6001 --since 2026-11-26T08:00
  yibao-trace --failed --day 2026-11-26
  yibao-trace --failed --json

A visit starts at 2201 (门诊挂号) and is keyed by its mdtrt_id; the 9001
and 1101 of the same clinic, caller and psn_no shortly before it belong
to it, and so do the later steps (2203 ... 2207, 2208, 2601, 5203).
What belongs to no visit is grouped into sessions per clinic and caller.
Every failed step gets a likely cause and a next step from CAUSES, a
table of rules over the log fields (extend it with --causes FILE.json).

Nothing that looks like personal data or a secret is printed: ID-number
shaped digit runs (15-18 digits) are masked 4301**********1234, psn_no
keeps its first and last four characters, names after a name label
become 王*某, key=value secrets and long hex strings are replaced.

--journal FILE is PROVISIONAL: JSON lines
with msgid, state and optionally setl_id; their state is shown beside
the matching transaction and resolves unknown outcomes.

Only the Python standard library is used.
"""

import argparse
import bisect
import collections
import datetime
import glob
import gzip
import json
import math
import os
import re
import sys
import unicodedata
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the demo's logs, the Debian package's (/var/log/nginx/yibao/, see
# docs/deployment.md), and logs an operator put beside nginx's own
DEFAULT_LOGS = (os.path.join(ROOT, "build", "demo", "logs"),
                "/var/log/nginx/yibao", "/var/log/nginx/yibao*.log*")

# how long before a visit its 9001/1101 may come, and how long after its
# last step an unkeyed step still belongs to it (seconds)
DEFAULT_WINDOW = 30 * 60
# 2601 reversals and 5203 queries may come later than that
LATE_WINDOW = 24 * 3600

# --------------------------------------------------------------------------
# transactions
# --------------------------------------------------------------------------

INFNO_NAMES = {
    "1101": "人员信息获取",
    "1201": "医药机构信息获取",
    "1312": "医保目录信息查询",
    "1901": "字典表查询",
    "2001": "人员待遇享受检查",
    "2201": "门诊挂号",
    "2202": "挂号撤销",
    "2203": "就诊信息上传",
    "2203A": "就诊信息上传",
    "2204": "费用明细上传",
    "2205": "费用明细撤销",
    "2206": "预结算",
    "2206A": "预结算",
    "2207": "结算",
    "2207A": "结算",
    "2208": "结算撤销",
    "2601": "冲正",
    "3201": "对总账",
    "3202": "对明细账",
    "4101": "结算清单上传",
    "5201": "就诊信息查询",
    "5203": "结算信息查询",
    "5204": "费用明细查询",
    "5205": "慢特病用药记录查询",
    "5206": "人员累计信息查询",
    "5301": "慢特病备案查询",
    "9001": "签到",
    "9002": "签退",
    "9101": "文件上传",
    "9102": "文件下载",
}

# the catalogue downloads 1301-1319
for _n in range(1301, 1320):
    INFNO_NAMES.setdefault(str(_n), "目录下载")

# steps that come before a visit has its mdtrt_id
PRE_VISIT = frozenset(("9001", "1101", "2001", "5301", "5206"))
# a visit starts here
VISIT_START = frozenset(("2201",))
# transactions that move money: never resent blindly
MONEY = frozenset(("2207", "2207A", "2208"))
SETTLE = frozenset(("2207", "2207A"))
CANCEL = frozenset(("2208",))
REVERSAL = frozenset(("2601",))
QUERY_SETTLEMENT = frozenset(("5203",))
# unkeyed steps that may come long after the visit
LATE = frozenset(("2601", "5203", "2208"))


def infno_name(infno):
    return INFNO_NAMES.get(infno, "")


# --------------------------------------------------------------------------
# causes: a table of rules over the log fields, first match wins
# --------------------------------------------------------------------------
#
# A rule:  id, title (what --failed groups by), cause and next (texts
# with {field} or {field|other} placeholders: the first non-empty value,
# masked), match: a list of alternatives, each a dict of field -> regular
# expression (re.search; "a|b" as a key: either field); all of an
# alternative's fields must match.  Fields are the log keys plus
# "http_status" (status as text), "infno_name", "sent" ("yes"/"no": was
# the request sent to the platform) and "money" ("yes" for 2207/2208).
# outcome: "failed" (default) or "unknown"; outcome_money, next_money:
# used instead for 2207/2208.

NEXT_UNKNOWN_MONEY = (
    "do NOT resend {infno}: the platform may have acted on it.  Query "
    "5203 (结算信息查询) with mdtrt_id {mdtrt_id|'of the visit'} to learn "
    "whether it settled; to undo, reverse with 2601 (oinfno {infno}, "
    "omsgid = the msgid the platform saw: {upstream_msgid|msgid})")

CAUSES = [
    {"id": "outcome_unknown",
     "title": "answer lost after sending: outcome unknown (in the journal)",
     "match": [{"error": r"^YB6010$"}],
     "outcome": "unknown",
     "cause": "{infno} was sent to the platform and its answer was lost "
              "(the error text says how); the gateway journal keeps it "
              "as unknown and never sends that msgid again",
     "next": "resolve it: query 5203, then record the result with "
             "POST /yibao/journal?caller=..&msgid=..&state=ok|failed",
     "next_money": NEXT_UNKNOWN_MONEY},
    {"id": "timeout",
     "title": "timeout: outcome unknown (query 5203 / reverse 2601)",
     "match": [{"error": r"^YB6002$"}],
     "outcome": "unknown",
     "cause": "timeout: the platform did not answer {infno} within "
              "proxy_read_timeout; the outcome is unknown",
     "next": "safe to retry only for queries; for 2201/2204 check with "
             "5201/5204 first (they create state)",
     "next_money": NEXT_UNKNOWN_MONEY},
    {"id": "client_gave_up",
     "title": "clinic system gave up waiting (HTTP 499)",
     "match": [{"http_status": r"^499$"}],
     "outcome_money": "unknown",
     "cause": "the clinic system closed the connection before the "
              "gateway answered (its timeout is shorter than the "
              "platform's answer time)",
     "next": "raise the clinic system's timeout above the gateway's "
             "proxy_read_timeout",
     "next_money": NEXT_UNKNOWN_MONEY},
    {"id": "unmapped_code",
     "title": "code translation: unmapped code",
     "match": [{"error": r"^YB4001$"}],
     "cause": "code translation / business check: unmapped code "
              "{unmapped|error_detail|'(the list is not in this log "
              "line)'}",
     "next": "add the local code to the mapping table (对码, "
             "yibao_mappings) or correct it in the clinic system, reload "
             "nginx, then resend {infno}; nothing was sent to the "
             "platform"},
    {"id": "code_invalid",
     "title": "business check: code without the national shape",
     "match": [{"error": r"^YB4002$"}],
     "cause": "code translation / business check: value without the "
              "national shape: {error_detail}",
     "next": "correct the value in the clinic system or the mapping row "
             "that produced it, then resend {infno}"},
    {"id": "id_number",
     "title": "business check: invalid ID number",
     "match": [{"error": r"^YB4003$"}],
     "cause": "code translation / business check: the ID number fails "
              "GB 11643 (length, date or check digit)",
     "next": "re-read the card or correct the ID number in the clinic "
             "system; the number itself is never logged"},
    {"id": "amount_mismatch",
     "title": "business check: amount mismatch (cnt x pric)",
     "match": [{"error": r"^YB4004$"}],
     "cause": "code translation / business check: amount mismatch, "
              "det_item_fee_sumamt is not cnt x pric: {error_detail}",
     "next": "the clinic system must send det_item_fee_sumamt = cnt x "
             "pric rounded to 0.01; fix the row and resend 2204"},
    {"id": "feedetl_sn",
     "title": "business check: feedetl_sn not 1-15 digits",
     "match": [{"error": r"^YB4005$"}],
     "cause": "code translation / business check: feedetl_sn must be 1 "
              "to 15 digits: {error_detail}",
     "next": "number the fee rows 1, 2, 3 ... in the clinic system and "
             "resend 2204"},
    {"id": "audit_refused",
     "title": "fee-line audit (智能审核): refused",
     "match": [{"error": r"^YB4010$"}],
     "cause": "the fee-line audit refused the transaction; findings "
              "(rule:mode:severity:amount): {audit|error_detail}",
     "next": "correct the fee lines the findings name in the clinic "
             "system, or, where the rule allows it, resend {infno} with "
             "input.yb_audit_ack naming the rule (docs/audit.md); nothing "
             "was sent to the platform"},
    {"id": "business_check",
     "title": "code translation / business check",
     "match": [{"error": r"^YB4\d{3}$"}],
     "cause": "code translation / business check: {error} "
              "{error_detail}",
     "next": "correct the request in the clinic system (docs/errors.md)"},
    {"id": "caller_signature",
     "title": "caller authentication: signature wrong",
     "match": [{"error": r"^YB2003$"}],
     "cause": "caller authentication/authorization: the caller's "
              "signature does not match (wrong secret, or the body or "
              "path changed after signing)",
     "next": "compare the caller's secret with callers.tsv; the "
             "signature covers METHOD, path, timestamp, nonce and the "
             "SHA-256 of the exact body (docs/clients.md)"},
    {"id": "clock_skew",
     "title": "caller authentication: clock skew",
     "match": [{"error": r"^YB2004$"}],
     "cause": "caller authentication/authorization: X-Yibao-Timestamp "
              "outside yibao_auth_window (the caller's clock is off)",
     "next": "synchronise the caller's clock (NTP); compare its "
             "timestamp with the log time"},
    {"id": "replay",
     "title": "caller authentication: replayed nonce",
     "match": [{"error": r"^YB2006$"}],
     "cause": "caller authentication/authorization: nonce already used "
              "(a replay, or a client resending the same signed request)",
     "next": "the caller must sign every send with a fresh nonce; if it "
             "was resending a 2207, check 5203 before settling again"},
    {"id": "caller_auth",
     "title": "caller authentication",
     "match": [{"error": r"^YB20\d{2}$"}],
     "cause": "caller authentication/authorization: {error} "
              "{error_detail}",
     "next": "check the caller's X-Yibao-* headers, id and certificate "
             "against callers.tsv (docs/clients.md)"},
    {"id": "caller_denied",
     "title": "caller authorization: not allowed",
     "match": [{"error": r"^YB21\d{2}$"}],
     "cause": "caller authentication/authorization: {error} the caller "
              "may not act for this clinic or use {infno}",
     "next": "callers.tsv: the caller's clinics and infno lists"},
    {"id": "clinic_unknown",
     "title": "clinic not in registry",
     "match": [{"error": r"^YB3001$"}],
     "cause": "clinic not in registry: {clinic} is not in yibao_clinics",
     "next": "add the clinic to clinics.tsv (yibao_clinics) and reload "
             "nginx; check that the caller sends the 22-character "
             "organisation code"},
    {"id": "no_route",
     "title": "no upstream route for the infno",
     "match": [{"error": r"^YB3002$"}],
     "cause": "no upstream route for {infno} (yibao_route table)",
     "next": "add {infno} to the route table, or check the caller"},
    {"id": "platform_signature",
     "title": "platform rejected the gateway's signature (check keys)",
     "match": [{"error": r"^YB6003$", "upstream_status": r"^40[13]$"},
               {"error": r"^YB600[34]$",
                "platform_msg|error_detail":
                    r"签名|验签|鉴权|\bcode 400001\b|(?i:signature)"},
               {"error": r"^YB6004$",
                "platform_msg|error_detail":
                    r"code\D{0,3}40[13]\b|非法用户"}],
     "cause": "platform rejected the gateway's signature (check keys): "
              "{error_detail|platform_msg}",
     "next": "check entity {entity}'s AK/SK in keys.tsv against what the "
             "platform issued, the yibao_sign scheme and api_version, "
             "and the gateway's clock; every transaction of that entity "
             "fails the same way"},
    {"id": "rate_limited",
     "title": "rate limit / quota",
     "match": [{"error": r"^YB3101$"},
               {"http_status": r"^429$"},
               {"upstream_status": r"^429$"},
               {"ratelimit": r"(?i)^(limited|rejected|reject|denied|"
                             r"exceeded|over)"},
               {"platform_msg|error_detail":
                    r"限流|流量控制|频繁|超过.{0,12}(次数|频率|限制|限额)|"
                    r"(?i:quota|too many requests|rate.?limit)"}],
     "cause": "rate limit / quota: {error} {platform_msg|error_detail}",
     "next": "spread the clinic system's calls or raise its quota; "
             "{infno} was not processed"},
    {"id": "unreachable",
     "title": "platform unreachable",
     "match": [{"error": r"^YB6001$"}],
     "outcome_money": "unknown",
     "cause": "platform unreachable: {error_detail}",
     "next": "check the network, DNS and TLS to the platform and "
             "`grep yibao: error.log`; "
             "yibao_platform_last_success_timestamp_seconds tells since "
             "when",
     "next_money": "the platform may have received {infno} before the "
                   "connection broke: " + NEXT_UNKNOWN_MONEY},
    {"id": "platform_http_error",
     "title": "platform answered an HTTP error",
     "match": [{"error": r"^YB6003$"}],
     "cause": "{error_detail|platform_msg}",
     "outcome_money": "unknown",
     "next": "a platform or front-gateway problem: compare with other "
             "clinics in the same minute (yibao-trace --failed)",
     "next_money": "the platform may have acted before it failed: "
                   + NEXT_UNKNOWN_MONEY},
    {"id": "platform_not_envelope",
     "title": "platform answer not a national envelope",
     "match": [{"error": r"^YB6004$"}],
     "cause": "{error_detail|platform_msg}",
     "outcome_money": "unknown",
     "next": "a platform front-end or proxy answered instead of the "
             "platform; see error.log",
     "next_money": "the platform may have acted before it failed: "
                   + NEXT_UNKNOWN_MONEY},
    {"id": "platform_too_large",
     "title": "platform answer too large",
     "match": [{"error": r"^YB6005$"}],
     "outcome_money": "unknown",
     "cause": "platform answer exceeds yibao_response_max",
     "next": "raise yibao_response_max; confirm the outcome with 5203",
     "next_money": "the platform answered, so it most likely acted: "
                   + NEXT_UNKNOWN_MONEY},
    {"id": "gateway_capacity",
     "title": "gateway capacity (msgids / nonce store)",
     "match": [{"error": r"^YB500[34]$"}],
     "cause": "gateway capacity: {error} {error_detail}",
     "next": "more than 10,000 msgids per second or yibao_zone full: "
             "raise yibao_zone, check for a runaway caller"},
    {"id": "platform_down",
     "title": "platform down: not sent, switch to 记账 (YB6020)",
     "match": [{"error": r"^YB6020$"}],
     "cause": "the gateway knows the platform is unreachable (its "
              "exchanges failed, or the operator's switch): {infno} was "
              "not sent",
     "next": "record the visit offline (记账) and settle it when the "
             "platform is back; tools/yibao-offline platform shows the "
             "state"},
    {"id": "store_down",
     "title": "shared store (Redis) down, limits fail closed",
     "match": [{"error": r"^YB5005$"}],
     "cause": "the shared store is down and the limit policy is closed: "
              "{error_detail}",
     "next": "bring Redis back (yibao_store_up); or let limits fall back "
             "to the node's own zone; {infno} was not sent"},
    {"id": "gateway_internal_sent",
     "title": "gateway internal error after sending: outcome unknown",
     "match": [{"error": r"^YB5\d{3}$", "sent": "^yes$", "money": "^yes$"}],
     "outcome": "unknown",
     "cause": "gateway internal error {error} after {infno} was sent to "
              "the platform: {error_detail}",
     "next": NEXT_UNKNOWN_MONEY},
    {"id": "gateway_internal",
     "title": "gateway internal error",
     "match": [{"error": r"^YB5\d{3}$"}],
     "cause": "gateway internal error {error}: {error_detail}",
     "next": "see the gateway's error.log at that time; report it"},
    {"id": "request_invalid",
     "title": "malformed request from the clinic system",
     "match": [{"error": r"^YB1\d{3}$"}],
     "cause": "malformed request from the clinic system: {error} "
              "{error_detail}",
     "next": "fix the clinic system's envelope (docs/errors.md)"},
    {"id": "platform_not_signed_in",
     "title": "platform refused: not signed in (9001)",
     "match": [{"infcode": r"^-1$", "platform_msg": r"签到|sign_no"}],
     "cause": "platform refused: {platform_msg}",
     "next": "sign in with 9001 and send the sign_no it returns"},
    {"id": "platform_refused",
     "title": "platform refused (infcode -1)",
     "match": [{"infcode": r"^-1$"}],
     "cause": "platform refused: {platform_msg|error_detail}",
     "next": "a business rule of the platform: read the message; the "
             "platform's own support knows it by msgid "
             "{upstream_msgid|msgid}"},
    {"id": "gateway_error",
     "title": "gateway error",
     "match": [{"error": r"^YB\d{4}$"}],
     "cause": "gateway error {error}: {error_detail}",
     "next": "see docs/errors.md"},
    {"id": "http_error",
     "title": "HTTP error",
     "match": [{"http_status": r"^[45]\d\d$"}],
     "cause": "HTTP {status} without a gateway code",
     "next": "see the gateway's error.log at that time"},
]

UNKNOWN_CAUSE = {"id": "unclassified", "title": "unclassified failure",
                 "match": [], "cause": "failed: {error} {platform_msg}",
                 "next": "read the raw log line"}


def compile_causes(rules):
    """Checks and compiles a list of cause rules; raises ValueError."""
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ValueError("cause rule %d is not an object" % i)
        for k in ("id", "title", "cause", "match"):
            if k not in rule:
                raise ValueError("cause rule %d has no %r" % (i, k))
        alts = []
        if not isinstance(rule["match"], list):
            raise ValueError("cause rule %r: match must be a list"
                             % rule["id"])
        for alt in rule["match"]:
            if not isinstance(alt, dict) or not alt:
                raise ValueError("cause rule %r: every match alternative "
                                 "is a non-empty object" % rule["id"])
            conds = []
            for fields, rx in alt.items():
                try:
                    conds.append((fields.split("|"), re.compile(rx)))
                except (re.error, TypeError) as e:
                    raise ValueError("cause rule %r: bad expression for "
                                     "%s: %s" % (rule["id"], fields, e))
            alts.append(conds)
        for k in ("outcome", "outcome_money"):
            if rule.get(k, "failed") not in ("failed", "unknown"):
                raise ValueError("cause rule %r: %s is failed or unknown"
                                 % (rule["id"], k))
        r = dict(rule)
        r["_alts"] = alts
        out.append(r)
    return out


# --------------------------------------------------------------------------
# masking
# --------------------------------------------------------------------------

RE_ID_LIKE = re.compile(r"(?<![0-9])(?:[0-9]{17}[Xx]|[0-9]{15,18})"
                        r"(?![0-9])")
RE_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{15,}(?![0-9])")
RE_SECRET_KV = re.compile(
    r"(?i)\b(secret|password|passwd|pwd|token|access_?key|secret_?key|"
    r"app_?secret|sk|ak|signature|x-yibao-signature|_api_signature|"
    r"x-tif-signature|x-ca-signature)\b(\"?\s*[:=]\s*\"?)"
    r"([^\s\",;&}]+)")
RE_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])"
                    r"(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{32,}"
                    r"(?![0-9A-Za-z])")
RE_NAME_KV = re.compile(r"(psn_name|姓名|name)(\"?\s*[:=：]\s*\"?)"
                        r"([\u4e00-\u9fff·]{2,12})")
RE_PSN_KV = re.compile(r"(psn_no|人员编号)(\"?\s*[:=：]?\s*\"?)"
                       r"([0-9A-Za-z]{9,})")


def _keep4(s):
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_name(name):
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask(s, free_text=False):
    """Masks anything shaped like an ID number (15-18 digits), a secret
    or a name; free_text (messages) also masks every 15+ digit run and
    psn_no values."""
    if not s:
        return s
    s = RE_SECRET_KV.sub(lambda m: m.group(1) + m.group(2) + "***", s)
    s = RE_HEX.sub("[redacted]", s)
    s = RE_NAME_KV.sub(lambda m: m.group(1) + m.group(2)
                       + mask_name(m.group(3)), s)
    s = RE_PSN_KV.sub(lambda m: m.group(1) + m.group(2)
                      + _keep4(m.group(3)), s)
    s = RE_ID_LIKE.sub(lambda m: _keep4(m.group(0)), s)
    if free_text:
        s = RE_LONG_DIGITS.sub(lambda m: _keep4(m.group(0)), s)
    return s


def mask_psn_no(s):
    if not s or "*" in s:
        return s
    return _keep4(s)


def mask_obj(obj):
    """mask() over every string of a JSON-able object (output guard)."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, list):
        return [mask_obj(x) for x in obj]
    if isinstance(obj, dict):
        return {k: mask_obj(v) for k, v in obj.items()}
    return obj


# --------------------------------------------------------------------------
# reading the logs
# --------------------------------------------------------------------------

STR_FIELDS = ("caller", "clinic", "clinic_name", "entity", "entity_name",
              "infno", "msgid", "upstream_msgid", "mdtrt_id", "setl_id",
              "psn_no", "infcode", "platform_msg", "error", "error_detail",
              "unmapped", "upstream_status", "upstream_time", "ratelimit",
              "store", "cache", "journal", "audit")
FREE_TEXT = frozenset(("platform_msg", "error_detail", "unmapped",
                       "journal", "audit"))
INTERN = frozenset(("caller", "clinic", "clinic_name", "entity",
                    "entity_name", "infno", "infcode", "error",
                    "upstream_status", "ratelimit", "store", "cache"))


class Tx:
    """One log line: one transaction through the gateway."""

    __slots__ = STR_FIELDS + ("ts", "local", "status", "request_time",
                              "src", "seq", "outcome", "rule", "journal_in")

    def field(self, name):
        if name == "http_status":
            return "" if self.status is None else str(self.status)
        if name == "infno_name":
            return infno_name(self.infno)
        if name == "sent":
            return "yes" if self.sent else "no"
        if name == "money":
            return "yes" if self.infno in MONEY else "no"
        if name in STR_FIELDS:
            return getattr(self, name)
        return ""

    @property
    def sent(self):
        return bool(self.upstream_status) and self.upstream_status != "-"

    @property
    def failed(self):
        if self.error:
            return True
        if self.infcode not in ("", "0"):
            return True
        return self.status is not None and (self.status >= 400
                                            or self.status < 100)


class Stats:
    def __init__(self):
        self.files = []
        self.skipped_files = []
        self.broken_files = []
        self.lines = 0
        self.records = 0
        self.malformed = 0
        self.malformed_at = []
        self.journal_lines = 0
        self.journal_malformed = 0
        self.first = None
        self.last = None

    def bad(self, where, why):
        self.malformed += 1
        if len(self.malformed_at) < 20:
            self.malformed_at.append("%s (%s)" % (where, why))

    def as_dict(self):
        return {"files": self.files, "skipped_files": self.skipped_files,
                "unreadable_files": self.broken_files,
                "lines": self.lines, "records": self.records,
                "malformed": self.malformed,
                "malformed_at": self.malformed_at,
                "journal_lines": self.journal_lines,
                "journal_malformed": self.journal_malformed,
                "first": self.first, "last": self.last}


RE_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?P<gz>\.gz)?$")


def _file_order(path):
    """Older rotations first: x.log.3.gz, x.log.2.gz, x.log.1, x.log."""
    m = RE_ROTATED.match(os.path.basename(path))
    n = int(m.group("n")) if m.group("n") else 0
    return (os.path.dirname(path), m.group("base"), -n, path)


def _open_text(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _looks_like_json_log(path):
    try:
        with _open_text(path) as f:
            for _ in range(20):
                line = f.readline()
                if not line:
                    return False
                if line.strip():
                    return line.lstrip().startswith("{")
    except (OSError, EOFError, zlib.error):
        # unreadable: read it anyway, so that it is reported
        return True
    return False


def _is_log_name(name):
    return bool(re.search(r"\.log(\.\d+)?(\.gz)?$", name)
                or name.endswith(".gz"))


def find_log_files(paths, stats):
    """Files to read from --log arguments: files, directories (their
    *.log, *.log.N and *.gz that hold JSON lines) or glob patterns."""
    found = []
    for p in paths:
        explicit = True
        if any(c in p for c in "*?["):
            names = sorted(glob.glob(p))
            explicit = False
        elif os.path.isdir(p):
            names = sorted(os.path.join(p, n) for n in os.listdir(p))
            explicit = False
        elif os.path.exists(p):
            names = [p]
        else:
            stats.broken_files.append("%s (not found)" % p)
            continue
        for n in names:
            if not os.path.isfile(n):
                continue
            if not explicit:
                if not _is_log_name(os.path.basename(n)):
                    continue
                if not _looks_like_json_log(n):
                    stats.skipped_files.append(n)
                    continue
            found.append(n)
    seen = set()
    out = []
    for n in sorted(found, key=_file_order):
        real = os.path.realpath(n)
        if real not in seen:
            seen.add(real)
            out.append(n)
    return out


def _parse_iso(s):
    try:
        dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return dt


def _num(v):
    """A finite number from a number or a numeric string, else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, (int, float)) and math.isfinite(v):
        return v
    return None


def _text(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return "" if v == "-" else v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def make_tx(obj):
    """A Tx from a parsed log object, or a reason string when unusable."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    try:
        return _make_tx(obj)
    except (ValueError, OverflowError, OSError, TypeError):
        return "no usable time or values"


def _make_tx(obj):
    t = Tx()
    for k in STR_FIELDS:
        v = _text(obj.get(k))
        if k == "infcode" and v.endswith(".0"):
            v = v[:-2]
        if k == "psn_no":
            v = mask_psn_no(v)
        v = mask(v, free_text=k in FREE_TEXT)
        if k in INTERN:
            v = sys.intern(v)
        setattr(t, k, v)
    st = _num(obj.get("status"))
    t.status = int(st) if st is not None else None
    t.request_time = _num(obj.get("request_time"))
    dt = _parse_iso(obj.get("time")) if isinstance(obj.get("time"),
                                                    str) else None
    msec = _num(obj.get("msec"))
    if msec is not None and msec > 0:
        t.ts = float(msec)
        tz = dt.tzinfo if dt is not None and dt.tzinfo else None
        if tz is not None:
            t.local = datetime.datetime.fromtimestamp(t.ts, tz) \
                .replace(tzinfo=None)
        else:
            t.local = datetime.datetime.fromtimestamp(t.ts)
    elif dt is not None:
        if dt.tzinfo is None:
            t.ts = dt.timestamp()
        else:
            t.ts = dt.timestamp()
        t.local = dt.replace(tzinfo=None)
    else:
        return "no usable time or msec"
    t.outcome = None
    t.rule = None
    t.journal_in = []
    return t


def read_records(files, stats, keep=None):
    """Every usable Tx of the files (that keep(tx) accepts), in time
    order; malformed lines are counted in stats, never raised."""
    out = []
    seq = 0
    lo = hi = None
    for path in files:
        stats.files.append(path)
        short = os.path.basename(path)
        try:
            with _open_text(path) as f:
                for lineno, line in enumerate(f, 1):
                    line = line.strip()
                    if not line:
                        continue
                    stats.lines += 1
                    try:
                        obj = json.loads(line)
                    except (ValueError, RecursionError):
                        stats.bad("%s:%d" % (short, lineno), "not JSON")
                        continue
                    t = make_tx(obj)
                    if isinstance(t, str):
                        stats.bad("%s:%d" % (short, lineno), t)
                        continue
                    t.src = "%s:%d" % (short, lineno)
                    seq += 1
                    t.seq = seq
                    if lo is None or t.ts < lo.ts:
                        lo = t
                    if hi is None or t.ts > hi.ts:
                        hi = t
                    if keep is not None and not keep(t):
                        continue
                    out.append(t)
        except (OSError, EOFError, zlib.error) as e:
            stats.broken_files.append("%s (%s)" % (path, e.__class__.__name__
                                                   if not str(e) else e))
    out.sort(key=lambda t: (t.ts, t.seq))
    stats.records = len(out)
    if lo is not None:
        stats.first = fmt_dt(lo.local)
        stats.last = fmt_dt(hi.local)
    return out


def read_journal(path, stats):
    """PROVISIONAL: JSON lines with msgid, state, setl_id."""
    entries = collections.defaultdict(list)
    try:
        with _open_text(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                stats.journal_lines += 1
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    stats.journal_malformed += 1
                    continue
                if not isinstance(obj, dict) or not obj.get("msgid"):
                    stats.journal_malformed += 1
                    continue
                e = {"state": mask(_text(obj.get("state")), True),
                     "setl_id": mask(_text(obj.get("setl_id"))),
                     "time": mask(_text(obj.get("time")))}
                entries[_text(obj.get("msgid"))].append(e)
    except (OSError, EOFError, zlib.error) as e:
        stats.broken_files.append("%s (%s)" % (path, e))
    return entries


# --------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------

RE_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\|[a-z_]+)*(?:\|'[^'{}]*')?)\}")


def render(template, tx):
    """{a|b|'text'}: the first non-empty of fields a, b, else text."""
    def one(m):
        for name in m.group(1).split("|"):
            if name.startswith("'"):
                return name.strip("'")
            v = tx.field(name)
            if v:
                return v
        return ""
    text = RE_PLACEHOLDER.sub(one, template or "")
    text = re.sub(r"\s+", " ", text).replace("()", "").strip()
    return re.sub(r"\s*[:,]$", "", text)


def classify(tx, rules):
    """Sets tx.outcome (ok / failed / unknown) and tx.rule."""
    if not tx.failed:
        tx.outcome = "ok"
        tx.rule = None
        return tx
    found = UNKNOWN_CAUSE
    for rule in rules:
        if any(all(any(rx.search(tx.field(f)) for f in fields)
                   for fields, rx in alt)
               for alt in rule["_alts"]):
            found = rule
            break
    tx.rule = found
    money = tx.infno in MONEY
    outcome = found.get("outcome", "failed")
    if money and found.get("outcome_money"):
        outcome = found["outcome_money"]
    tx.outcome = outcome
    return tx


def cause_of(tx):
    """(id, title, cause text, next step) for a failed Tx."""
    rule = tx.rule or UNKNOWN_CAUSE
    nxt = rule.get("next", "")
    if tx.infno in MONEY and rule.get("next_money"):
        nxt = rule["next_money"]
    text = render(rule["cause"], tx)
    if not text:
        text = rule["title"]
    return {"id": rule["id"], "title": rule["title"], "text": text,
            "next": render(nxt, tx)}


# --------------------------------------------------------------------------
# visits
# --------------------------------------------------------------------------

class Visit:
    """A visit (keyed by mdtrt_id) or a session of unkeyed steps."""

    def __init__(self, mdtrt_id=""):
        self.mdtrt_id = mdtrt_id
        self.txs = []

    def add(self, tx):
        self.txs.append(tx)

    def finish(self):
        self.txs.sort(key=lambda t: (t.ts, t.seq))
        first, last = self.txs[0], self.txs[-1]
        self.start = first.ts
        self.end = last.ts
        # time, then the order in the logs (lines of one second)
        self.start_key = (first.ts, first.seq)
        self.end_key = (last.ts, last.seq)

        def pick(name):
            for t in self.txs:
                v = getattr(t, name)
                if v:
                    return v
            return ""
        self.clinic = pick("clinic")
        self.clinic_name = pick("clinic_name")
        self.entity = pick("entity")
        self.entity_name = pick("entity_name")
        self.caller = pick("caller")
        self.psn_no = pick("psn_no")
        self.setl_ids = []
        for t in self.txs:
            if t.setl_id and t.setl_id not in self.setl_ids:
                self.setl_ids.append(t.setl_id)

    @property
    def kind(self):
        if self.mdtrt_id:
            return "visit"
        if any(t.infno in VISIT_START for t in self.txs):
            return "registration"
        return "session"


def _psn_ok(a, b):
    return not a or not b or a == b


class _Repeats:
    """The 9001/1101/... of one clinic and caller in time order, to tell
    whether a step was done again before a visit started."""

    def __init__(self, txs):
        self.lists = collections.defaultdict(list)
        self.pos = {}
        for t in txs:
            if t.infno in PRE_VISIT:
                lst = self.lists[(t.clinic, t.caller, t.infno)]
                self.pos[id(t)] = len(lst)
                lst.append(t)

    def superseded(self, t, limit):
        """True when the same step (same patient) was sent again before
        limit."""
        i = self.pos.get(id(t))
        if i is None:
            return False
        for n in self.lists[(t.clinic, t.caller, t.infno)][i + 1:]:
            if (n.ts, n.seq) >= limit:
                return False
            if _psn_ok(t.psn_no, n.psn_no):
                return True
        return False


def _attach(t, index, starts, window, repeats=None):
    """The visit an unkeyed transaction belongs to, or None."""
    key = (t.clinic, t.caller)
    vs = index.get(key, [])
    st = starts.get(key, [])
    if t.infno in PRE_VISIT or t.infno in VISIT_START:
        # forward: the first visit starting within the window after it,
        # unless the step was done again before that visit.  A failed
        # step stays an attempt of its own (the visit after it may be
        # another patient's): it is reported, never hidden.
        if t.failed:
            return None
        i = bisect.bisect_left(st, (t.ts, t.seq))
        while i < len(vs) and vs[i].start <= t.ts + window:
            if _psn_ok(t.psn_no, vs[i].psn_no):
                if repeats and repeats.superseded(t, vs[i].start_key):
                    return None
                return vs[i]
            i += 1
        return None
    # backward: the latest visit begun before it and still near
    late = LATE_WINDOW if t.infno in LATE else window
    i = bisect.bisect_right(st, (t.ts, t.seq)) - 1
    while i >= 0 and vs[i].start >= t.ts - late - window:
        v = vs[i]
        if _psn_ok(t.psn_no, v.psn_no) and t.ts <= v.end + late:
            return v
        i -= 1
    return None


def _new_attempt(s, t, window):
    """Whether t starts another attempt than session s: a later sign-in,
    another patient, or a long pause."""
    if t.ts - s.txs[-1].ts > window or not _psn_ok(t.psn_no, s.psn_hint):
        return True
    if t.infno == "9001":
        return True
    if t.infno == "1101":
        return any(x.infno != "9001" for x in s.txs)
    return False


def _index(visits):
    index = collections.defaultdict(list)
    for v in sorted(visits, key=lambda v: v.start_key):
        index[(v.clinic, v.caller)].append(v)
    return index, {k: [v.start_key for v in vs] for k, vs in index.items()}


def group_visits(txs, window=DEFAULT_WINDOW):
    """Visits and sessions from time-ordered transactions."""
    visits = []
    by_mdtrt = {}
    registrations = []
    pending = []
    for t in txs:
        if t.mdtrt_id:
            v = by_mdtrt.get(t.mdtrt_id)
            if v is None:
                v = by_mdtrt[t.mdtrt_id] = Visit(t.mdtrt_id)
                visits.append(v)
            v.add(t)
        elif t.infno in VISIT_START:
            registrations.append(t)
        else:
            pending.append(t)

    by_setl = {}
    for v in visits:
        v.finish()
        for s in v.setl_ids:
            by_setl.setdefault(s, v)

    # a 2201 without mdtrt_id: a failed one is a registration of its
    # own; one that succeeded (a line from before the mdtrt_id key)
    # joins a visit opened right after it, if any
    index, starts = _index(visits)
    for t in registrations:
        v = _attach(t, index, starts, window)
        if v is None:
            v = Visit("")
            v.add(t)
            v.finish()
            visits.append(v)
        else:
            v.add(t)
    index, starts = _index(visits)

    rest = []
    repeats = _Repeats(pending)
    for t in pending:
        if t.setl_id and t.setl_id in by_setl:
            by_setl[t.setl_id].add(t)
            continue
        v = _attach(t, index, starts, window, repeats)
        if v is not None:
            v.add(t)
        else:
            rest.append(t)

    sessions = {}
    for t in rest:
        key = (t.clinic, t.caller)
        s = sessions.get(key)
        if s is None or _new_attempt(s, t, window):
            s = Visit("")
            s.psn_hint = ""
            sessions[key] = s
            visits.append(s)
        s.add(t)
        s.psn_hint = s.psn_hint or t.psn_no

    for v in visits:
        v.finish()
        v.followed_by = None
    visits.sort(key=lambda v: v.start_key)

    # what a clinic did next after an attempt that got no mdtrt_id
    index, starts = _index([v for v in visits if v.mdtrt_id])
    for v in visits:
        if v.mdtrt_id:
            continue
        key = (v.clinic, v.caller)
        vs, st = index.get(key, []), starts.get(key, [])
        i = bisect.bisect_right(st, v.end_key)
        while i < len(vs) and vs[i].start <= v.end + window:
            if _psn_ok(v.psn_no, vs[i].psn_no):
                v.followed_by = vs[i]
                break
            i += 1
    return visits


def apply_journal(visits, journal):
    if not journal:
        return
    for v in visits:
        for t in v.txs:
            for key in (t.msgid, t.upstream_msgid):
                if key and key in journal:
                    t.journal_in.extend(journal[key])


JOURNAL_SETTLED = re.compile(r"(?i)^(settled|ok|success|done|committed)$")
JOURNAL_NOT_SETTLED = re.compile(r"(?i)^(reversed|cancelled|canceled|"
                                 r"rolled_?back|failed|not_settled)$")


def assess(v, rules):
    """Classifies every step and sets v.status, v.decisive, v.resolution.

    status: settled, cancelled, open (no failure at its end), failed,
    unknown (a 2207/2208 without a known outcome), reversed (2601
    accepted after a failed or unknown settlement), cancel_failed.
    """
    settled = cancelled = reversed_ = False
    unknown = last_fail = cancel_fail = failed_settle = None
    resolution = ""
    for t in v.txs:
        classify(t, rules)
        ok = t.outcome == "ok"
        states = [j["state"] for j in t.journal_in]
        if t.infno in SETTLE:
            if ok:
                settled, unknown, last_fail = True, None, None
            elif t.outcome == "unknown":
                unknown = t
            else:
                last_fail = failed_settle = t
            if unknown is t:
                if any(JOURNAL_SETTLED.match(x) for x in states):
                    settled, unknown = True, None
                    resolution = "journal: settled"
                elif any(JOURNAL_NOT_SETTLED.match(x) for x in states):
                    failed_settle, unknown = t, None
                    resolution = "journal: %s" % states[-1]
        elif t.infno in CANCEL:
            if ok:
                cancelled, cancel_fail = True, None
            else:
                cancel_fail = t
        elif t.infno in REVERSAL:
            if not ok:
                last_fail = t
            elif unknown is not None:
                reversed_ = True
                failed_settle, unknown = unknown, None
                resolution = "reversed by 2601 at %s" % fmt_time(t.local)
            elif cancel_fail is not None:
                cancel_fail = None
                resolution = "2208 reversed by 2601 at %s" \
                    % fmt_time(t.local)
            elif settled:
                settled, cancelled = False, True
                resolution = "settlement reversed by 2601 at %s" \
                    % fmt_time(t.local)
            elif failed_settle is not None:
                reversed_ = True
                resolution = "reversed by 2601 at %s" % fmt_time(t.local)
        elif t.infno in QUERY_SETTLEMENT:
            if ok and unknown is not None:
                if t.setl_id:
                    settled, unknown = True, None
                    resolution = "5203 at %s found setl_id %s" % (
                        fmt_time(t.local), t.setl_id)
                else:
                    resolution = "5203 at %s answered without a " \
                        "setl_id" % fmt_time(t.local)
        elif ok:
            last_fail = None
        else:
            last_fail = t

    v.resolution = resolution
    if unknown is not None:
        v.status, v.decisive = "unknown", unknown
    elif settled and cancel_fail is not None and not cancelled:
        v.status, v.decisive = "cancel_failed", cancel_fail
    elif cancelled:
        v.status, v.decisive = "cancelled", None
    elif settled:
        v.status, v.decisive = "settled", None
    elif reversed_ and failed_settle is not None:
        v.status, v.decisive = "reversed", failed_settle
    elif last_fail is not None:
        v.status, v.decisive = "failed", last_fail
    elif failed_settle is not None:
        v.status, v.decisive = "failed", failed_settle
    else:
        v.status, v.decisive = "open", None
    v.failures = [t for t in v.txs if t.outcome != "ok"]
    return v


FAILED_STATUSES = ("failed", "unknown", "reversed", "cancel_failed")

STATUS_TEXT = {
    "settled": "SETTLED",
    "cancelled": "SETTLED, then cancelled (2208)",
    "open": "no failure (not settled in these logs)",
    "failed": "FAILED",
    "unknown": "OUTCOME UNKNOWN",
    "reversed": "FAILED, reversed (2601)",
    "cancel_failed": "SETTLED, cancellation (2208) FAILED",
}


# --------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------

def fmt_dt(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (dt.microsecond
                                                         // 1000)


def fmt_time(dt):
    return dt.strftime("%H:%M:%S.") + "%03d" % (dt.microsecond // 1000)


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in s)


def pad(s, n):
    return s + " " * max(0, n - width(s))


def ms(seconds):
    if seconds is None:
        return "-"
    return "%d" % round(seconds * 1000)


def result_text(t):
    if t.outcome == "ok":
        return "ok"
    parts = ["UNKNOWN" if t.outcome == "unknown" else "FAILED"]
    if t.error:
        parts.append(t.error)
    elif t.infcode and t.infcode != "0":
        parts.append("infcode %s" % t.infcode)
    if t.status is not None:
        parts.append("HTTP %d" % t.status)
    return " ".join(parts)


def step_dict(t):
    d = {"time": fmt_dt(t.local), "ts": round(t.ts, 3), "infno": t.infno,
         "name": infno_name(t.infno), "outcome": t.outcome,
         "status": t.status, "infcode": t.infcode, "error": t.error,
         "error_detail": t.error_detail, "platform_msg": t.platform_msg,
         "unmapped": t.unmapped, "audit": t.audit,
         "upstream_status": t.upstream_status,
         "upstream_time": t.upstream_time,
         "request_time": t.request_time, "sent": t.sent,
         "msgid": t.msgid, "upstream_msgid": t.upstream_msgid,
         "mdtrt_id": t.mdtrt_id, "setl_id": t.setl_id,
         "psn_no": t.psn_no, "ratelimit": t.ratelimit, "store": t.store,
         "cache": t.cache,
         "journal": t.journal, "journal_entries": t.journal_in,
         "source": t.src, "cause": None}
    if t.outcome != "ok":
        d["cause"] = cause_of(t)
    return d


def visit_dict(v, steps=True):
    d = {"kind": v.kind, "mdtrt_id": v.mdtrt_id, "setl_ids": v.setl_ids,
         "clinic": v.clinic, "clinic_name": v.clinic_name,
         "entity": v.entity, "entity_name": v.entity_name,
         "caller": v.caller, "psn_no": v.psn_no,
         "start": fmt_dt(v.txs[0].local), "end": fmt_dt(v.txs[-1].local),
         "status": v.status, "resolution": v.resolution,
         "followed_by": v.followed_by.mdtrt_id if v.followed_by else None,
         "failed_at": None, "cause": None,
         "failed_steps": len(v.failures)}
    if v.decisive is not None:
        t = v.decisive
        d["failed_at"] = {"time": fmt_dt(t.local), "infno": t.infno,
                          "name": infno_name(t.infno), "msgid": t.msgid,
                          "upstream_msgid": t.upstream_msgid,
                          "error": t.error, "outcome": t.outcome}
        d["cause"] = cause_of(t)
    if steps:
        d["steps"] = [step_dict(t) for t in v.txs]
    return d


def clinic_label(v):
    if not v.clinic:
        return "(clinic unknown: refused before the envelope was read)"
    s = v.clinic
    if v.clinic_name:
        s += " " + v.clinic_name
    if v.entity and v.entity != v.clinic:
        s += ", settles as %s" % v.entity
        if v.entity_name and v.entity_name != v.clinic_name:
            s += " " + v.entity_name
    return s


def visit_title(v):
    if v.mdtrt_id:
        return "visit mdtrt_id %s" % v.mdtrt_id
    if v.kind == "registration":
        if any(t.infno in VISIT_START and t.outcome != "ok"
               for t in v.txs):
            return "registration failed (2201 gave no mdtrt_id)"
        return "visit without mdtrt_id in the log"
    return "session without a visit (%s)" % ", ".join(
        sorted(set(t.infno or "?" for t in v.txs)))


def print_visit(v, out):
    w = out.write
    status = STATUS_TEXT.get(v.status, v.status)
    if v.decisive is not None:
        d = v.decisive
        status += " at %s %s (%s)" % (d.infno, infno_name(d.infno),
                                      fmt_dt(d.local))
    w("=" * 78 + "\n")
    w("%s\n" % visit_title(v))
    w("  outcome  %s\n" % status)
    if v.resolution:
        w("           %s\n" % v.resolution)
    w("  clinic   %s\n" % clinic_label(v))
    w("  caller   %s%s\n" % (v.caller or "-",
                             "    psn_no %s" % v.psn_no if v.psn_no
                             else ""))
    if v.setl_ids:
        w("  setl_id  %s\n" % ", ".join(v.setl_ids))
    if v.followed_by is not None:
        w("  then     visit mdtrt_id %s of this clinic began %d s later\n"
          % (v.followed_by.mdtrt_id, v.followed_by.start - v.end))
    if v.decisive is not None:
        c = cause_of(v.decisive)
        w("  cause    %s\n" % c["text"])
        w("  next     %s\n" % c["next"])
    day = v.txs[0].local.date()
    same_day = all(t.local.date() == day for t in v.txs)
    if same_day:
        w("  date     %s (gateway log time)\n" % day)
    w("\n")
    tcol = 12 if same_day else 23
    w("  %s  %s %s %s %7s  %s\n" % (
        pad("time", tcol),
        pad("infno", 5), pad("transaction", 12), pad("result", 24),
        "ms", "msgid"))
    for t in v.txs:
        when = fmt_time(t.local) if same_day else fmt_dt(t.local)
        w("  %s  %s %s %s %7s  %s\n" % (
            pad(when, tcol), pad(t.infno or "?", 5),
            pad(infno_name(t.infno), 12), pad(result_text(t), 24),
            ms(t.request_time), t.msgid or "-"))
        ind = " " * (tcol + 4)
        for j in t.journal_in:
            w("%sjournal:  state %s%s\n" % (
                ind, j["state"] or "-",
                " setl_id %s" % j["setl_id"] if j["setl_id"] else ""))
        if t.journal:
            w("%sjournal:  %s\n" % (ind, t.journal))
        if t.store == "down" or t.ratelimit.upper() in ("REJECTED",
                                                         "ERROR"):
            w("%sstore:    %s  ratelimit: %s\n" % (ind, t.store or "-",
                                                   t.ratelimit or "-"))
        if t.outcome == "ok":
            continue
        if t.error:
            w("%sgateway:  %s %s\n" % (ind, t.error, t.error_detail))
        if t.platform_msg or t.infcode == "-1":
            w("%splatform: infcode %s %s\n" % (ind, t.infcode or "-",
                                               t.platform_msg))
        if t.sent:
            w("%ssent:     yes, upstream HTTP %s in %s s, platform msgid "
              "%s\n" % (ind, t.upstream_status, t.upstream_time or "-",
                        t.upstream_msgid or t.msgid or "-"))
        else:
            w("%ssent:     no (the gateway answered without calling the "
              "platform)\n" % ind)
        c = cause_of(t)
        w("%scause:    %s\n" % (ind, c["text"]))
        if t is not v.decisive:
            w("%snext:     %s\n" % (ind, c["next"]))
    w("\n")


class SafeOut:
    """Writes through mask(): nothing ID-shaped or secret gets out."""

    def __init__(self, f):
        self.f = f

    def write(self, s):
        self.f.write(mask(s))


# --------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------

def parse_when(s, end=False):
    """--since/--until/--day value -> (naive local datetime, exclusive).

    A date alone is the whole day: as --until it means the end of the
    day.  A datetime with an offset is converted to local log time by
    comparing Unix times (returned as a float)."""
    s = s.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            d = datetime.datetime.strptime(s, "%Y-%m-%d")
            if end:
                return d + datetime.timedelta(days=1), True
            return d, False
        dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if dt.tzinfo is not None:
            return dt.timestamp(), False
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            "%r is not an ISO date (2026-11-26) or datetime "
            "(2026-11-26T08:00:00[+08:00])" % s)
    if dt.tzinfo is not None:
        return dt.timestamp(), False
    return dt, False


class Range:
    def __init__(self, since=None, until=None):
        self.since = since
        self.until = until

    @property
    def empty(self):
        return self.since is None and self.until is None

    def contains(self, t):
        for bound, is_until in ((self.since, False), (self.until, True)):
            if bound is None:
                continue
            value, exclusive = bound
            x = t.ts if isinstance(value, float) else t.local
            if not is_until and x < value:
                return False
            if is_until and (x >= value if exclusive else x > value):
                return False
        return True

    def widened(self, seconds):
        """A looser pre-filter for reading (whole visits around it)."""
        def shift(b, s):
            if b is None:
                return None
            value, exclusive = b
            if isinstance(value, float):
                return value + s, exclusive
            try:
                return value + datetime.timedelta(seconds=s), exclusive
            except OverflowError:
                return None
        return Range(shift(self.since, -seconds), shift(self.until,
                                                        seconds))


def select(visits, args):
    out = []
    msgid = mask(args.msgid) if args.msgid else None
    mdtrt = mask(args.mdtrt_id) if args.mdtrt_id else None
    setl = mask(args.setl_id) if args.setl_id else None
    for v in visits:
        if msgid and not any(msgid in (t.msgid, t.upstream_msgid)
                             for t in v.txs):
            continue
        if mdtrt and v.mdtrt_id != mdtrt \
                and not any(t.mdtrt_id == mdtrt for t in v.txs):
            continue
        if setl and setl not in v.setl_ids:
            continue
        if args.clinic and not clinic_matches(v, args.clinic):
            continue
        if not args.range.empty and not any(args.range.contains(t)
                                            for t in v.txs):
            continue
        out.append(v)
    return out


def clinic_matches(v, wanted):
    return any(wanted == c for c in (v.clinic, v.entity) if c) or \
        (not re.fullmatch(r"[0-9A-Za-z]+", wanted)
         and wanted in (v.clinic_name or ""))


# --------------------------------------------------------------------------
# --failed
# --------------------------------------------------------------------------

def failed_report(visits, rng, clinic=None):
    """The failed settlements whose decisive step lies in rng."""
    failed = []
    recovered = []
    considered = 0
    for v in visits:
        if clinic and not clinic_matches(v, clinic):
            continue
        if v.status in FAILED_STATUSES:
            if rng.contains(v.decisive):
                failed.append(v)
            considered += any(rng.contains(t) for t in v.txs)
        else:
            if any(rng.contains(t) for t in v.txs):
                considered += 1
                if v.failures and any(rng.contains(t)
                                      for t in v.failures):
                    recovered.append(v)
    by_cause = collections.OrderedDict()
    by_clinic = collections.OrderedDict()
    for v in failed:
        c = cause_of(v.decisive)
        rule = v.decisive.rule or UNKNOWN_CAUSE
        varies = any(x not in ("infno", "infno_name") for x in
                     RE_PLACEHOLDER.findall(rule["cause"]))
        e = by_cause.setdefault(c["id"], {"id": c["id"], "varies": varies,
                                          "title": c["title"], "count": 0,
                                          "details": collections.Counter(),
                                          "clinics": collections.Counter()})
        e["count"] += 1
        e["details"][c["text"]] += 1
        e["clinics"][v.clinic or "-"] += 1
        # refused before the envelope was read: the caller is known
        k = v.clinic or "caller " + (v.caller or "-")
        ce = by_clinic.setdefault(k, {"clinic": v.clinic,
                                      "clinic_name": v.clinic_name,
                                      "caller": "" if v.clinic
                                      else v.caller,
                                      "count": 0,
                                      "causes": collections.Counter()})
        ce["count"] += 1
        ce["causes"][c["id"]] += 1
    causes = sorted(by_cause.values(), key=lambda e: (-e["count"],
                                                      e["title"]))
    clinics = sorted(by_clinic.values(), key=lambda e: (-e["count"],
                                                        e["clinic"] or ""))
    return {"failed": failed, "recovered": recovered,
            "considered": considered, "by_cause": causes,
            "by_clinic": clinics,
            "unknown": sum(1 for v in failed if v.status == "unknown")}


def failed_dict(rep, label, stats):
    return {
        "range": label,
        "failed_count": len(rep["failed"]),
        "unknown_outcomes": rep["unknown"],
        "visits_and_sessions": rep["considered"],
        "recovered": len(rep["recovered"]),
        "by_cause": [{"id": e["id"], "title": e["title"],
                      "count": e["count"],
                      "details": [{"text": k, "count": n} for k, n
                                  in e["details"].most_common()],
                      "clinics": dict(e["clinics"])}
                     for e in rep["by_cause"]],
        "by_clinic": [{"clinic": e["clinic"],
                       "clinic_name": e["clinic_name"],
                       "caller": e["caller"],
                       "count": e["count"], "causes": dict(e["causes"])}
                      for e in rep["by_clinic"]],
        "failed": [visit_dict(v, steps=True) for v in rep["failed"]],
        "stats": stats.as_dict(),
    }


def print_failed(rep, label, out):
    w = out.write
    n = len(rep["failed"])
    w("failed settlements %s: %d (of %d visits and sessions)\n"
      % (label, n, rep["considered"]))
    if rep["unknown"]:
        w("  %d with an UNKNOWN outcome: resolve these first (5203 / "
          "2601)\n" % rep["unknown"])
    if rep["recovered"]:
        w("  %d more visits had a failed step but went on (retried "
          "successfully)\n" % len(rep["recovered"]))
    if not rep["considered"]:
        w("  (no transactions in that time; the logs read cover %s .. "
          "%s)\n" % (rep.get("first") or "-", rep.get("last") or "-"))
    if not n:
        return
    w("\nby cause\n")
    for e in rep["by_cause"]:
        w("  %5d  %s   [%s]\n" % (e["count"], e["title"], e["id"]))
        if e["varies"]:
            for text, k in e["details"].most_common(10):
                if text != e["title"]:
                    w("  %5d      %s\n" % (k, text))
    w("\nby clinic\n")
    for e in rep["by_clinic"]:
        name = (e["clinic"] or "(clinic unknown, caller %s)"
                % (e["caller"] or "-")) + \
            (" " + e["clinic_name"] if e["clinic_name"] else "")
        w("  %5d  %s: %s\n" % (e["count"], name, ", ".join(
            "%s %d" % (k, c) for k, c in e["causes"].most_common())))
    w("\nfailed settlements\n")
    for v in rep["failed"]:
        d = v.decisive
        c = cause_of(d)
        w("  %s  %s  %s %s  %s  [%s]\n" % (
            fmt_dt(d.local), v.clinic or "-", d.infno,
            infno_name(d.infno), result_text(d), c["id"]))
        ident = []
        if v.mdtrt_id:
            ident.append("mdtrt_id %s" % v.mdtrt_id)
        if v.setl_ids:
            ident.append("setl_id %s" % ", ".join(v.setl_ids))
        ident.append("msgid %s" % (d.msgid or "-"))
        if d.upstream_msgid and d.upstream_msgid != d.msgid:
            ident.append("upstream_msgid %s" % d.upstream_msgid)
        if v.psn_no:
            ident.append("psn_no %s" % v.psn_no)
        w("      %s\n" % "  ".join(ident))
        w("      status: %s%s\n" % (STATUS_TEXT.get(v.status, v.status),
                                    "; " + v.resolution if v.resolution
                                    else ""))
        w("      cause:  %s\n" % c["text"])
        if v.followed_by is not None:
            w("      then:   visit mdtrt_id %s of this clinic began %d s "
              "later (%s; a retry?)\n" % (
                  v.followed_by.mdtrt_id, v.followed_by.start - v.end,
                  STATUS_TEXT.get(v.followed_by.status,
                                  v.followed_by.status)))
        earlier = [t for t in v.failures if t is not d]
        for t in earlier:
            w("      earlier: %s %s %s %s: %s\n" % (
                fmt_time(t.local), t.infno, infno_name(t.infno),
                result_text(t), cause_of(t)["title"]))
        w("      next:   %s\n" % c["next"])


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Error messages echo arguments: masked like everything else."""

    def error(self, message):
        super().error(mask(message, free_text=True))


def build_parser():
    ap = _Parser(
        prog="yibao-trace",
        description="Tell the story of a visit, or summarise failed "
                    "settlements, from yibao-gateway's JSON logs.",
        epilog="Times are the gateway's local log time (the `time` "
               "field).")
    ap.add_argument("--log", action="append", default=[], metavar="PATH",
                    help="log file, directory or glob (repeatable); "
                         "reads *.log, rotated *.log.N and *.gz; "
                         "default: build/demo/logs, "
                         "/var/log/nginx/yibao/ and "
                         "/var/log/nginx/yibao*.log*")
    ap.add_argument("--journal", metavar="FILE",
                    help="PROVISIONAL: msgid journal, JSON lines with "
                         "msgid, state, setl_id")
    sel = ap.add_argument_group("selectors (combined with AND)")
    sel.add_argument("--msgid", help="the caller's or the upstream msgid")
    sel.add_argument("--mdtrt-id", help="the visit's mdtrt_id")
    sel.add_argument("--setl-id", help="a settlement's setl_id")
    sel.add_argument("--clinic",
                     help="22-char clinic code, 12-char entity code, or "
                          "part of the clinic's name")
    sel.add_argument("--since", help="ISO date or datetime")
    sel.add_argument("--until", help="ISO date (whole day) or datetime")
    ap.add_argument("--failed", action="store_true",
                    help="summarise failed settlements of a day by cause "
                         "and clinic")
    ap.add_argument("--day", help="with --failed: YYYY-MM-DD (default "
                                  "today; or use --since/--until)")
    ap.add_argument("--json", action="store_true",
                    help="machine-readable output")
    ap.add_argument("--window", type=float, default=DEFAULT_WINDOW / 60,
                    metavar="MINUTES",
                    help="how far 9001/1101 may precede a visit's 2201 "
                         "(default %(default)g)")
    ap.add_argument("--causes", metavar="FILE.json",
                    help="extra cause rules (a JSON list, same shape as "
                         "CAUSES), tried before the built-in ones")
    return ap


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    ap = build_parser()
    args = ap.parse_args(argv)
    sout = SafeOut(out)

    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until, end=True) if args.until else None
        if args.day:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.day):
                raise argparse.ArgumentTypeError(
                    "--day wants YYYY-MM-DD, got %r" % args.day)
            since = parse_when(args.day)
            until = parse_when(args.day, end=True)
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    if args.day and not args.failed:
        ap.error("--day goes with --failed (use --since/--until)")
    if args.failed and since is None and until is None:
        today = datetime.date.today().isoformat()
        args.day = today
        since, until = parse_when(today), parse_when(today, end=True)
    args.range = Range(since, until)
    if not args.failed and not (args.msgid or args.mdtrt_id
                                or args.setl_id or args.clinic
                                or not args.range.empty):
        ap.error("give a selector (--msgid, --mdtrt-id, --setl-id, "
                 "--clinic, --since/--until) or --failed")

    rules = CAUSES
    if args.causes:
        try:
            with open(args.causes, encoding="utf-8") as f:
                extra = json.load(f)
            if not isinstance(extra, list):
                raise ValueError("the file must hold a JSON list")
            rules = list(extra) + CAUSES
        except (OSError, ValueError) as e:
            ap.error("--causes %s: %s" % (args.causes, e))
    try:
        rules = compile_causes(rules)
    except ValueError as e:
        ap.error(str(e))

    stats = Stats()
    paths = args.log or [p for p in DEFAULT_LOGS
                         if os.path.exists(p) or glob.glob(p)]
    files = find_log_files(paths, stats)
    if not files:
        err.write(mask("yibao-trace: no log files found in %s\n"
                       % ", ".join(args.log or DEFAULT_LOGS)))
        return 2

    window = max(0.0, args.window) * 60
    keep = None
    if not args.range.empty:
        wide = args.range.widened(LATE_WINDOW + window)
        keep = wide.contains
    elif args.msgid or args.mdtrt_id or args.setl_id:
        keep = anchored_filter(files, args, window)
    txs = read_records(files, stats, keep)
    journal = read_journal(args.journal, stats) if args.journal else None

    visits = group_visits(txs, window)
    apply_journal(visits, journal)
    for v in visits:
        assess(v, rules)

    if args.failed:
        label = ("on %s" % args.day) if args.day else describe_range(args)
        if args.clinic:
            label += " for clinic %s" % args.clinic
        rep = failed_report(visits, args.range, args.clinic)
        rep["first"], rep["last"] = stats.first, stats.last
        if args.json:
            json.dump(mask_obj(failed_dict(rep, label, stats)), out,
                      ensure_ascii=False, indent=1)
            out.write("\n")
        else:
            print_failed(rep, label, sout)
        report_stats(stats, err)
        return 0

    chosen = select(visits, args)
    if args.json:
        json.dump(mask_obj({"visits": [visit_dict(v) for v in chosen],
                            "stats": stats.as_dict()}),
                  out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        for v in chosen:
            print_visit(v, sout)
        if not chosen:
            sout.write("no matching visit in %d log lines (%s .. %s)\n"
                       % (stats.lines, stats.first or "-",
                          stats.last or "-"))
    report_stats(stats, err)
    return 0 if chosen else 1


def describe_range(args):
    parts = []
    if args.since:
        parts.append("since %s" % args.since)
    if args.until:
        parts.append("until %s" % args.until)
    return " ".join(parts) or "in the logs"


def anchored_filter(files, args, window):
    """For --msgid/--mdtrt-id/--setl-id: a first pass finds the matching
    lines, the second keeps only what can belong to their visits."""
    msgid = mask(args.msgid) if args.msgid else None
    mdtrt = mask(args.mdtrt_id) if args.mdtrt_id else None
    setl = mask(args.setl_id) if args.setl_id else None

    def hit(t):
        return (msgid and msgid in (t.msgid, t.upstream_msgid)) or \
            (mdtrt and t.mdtrt_id == mdtrt) or (setl and t.setl_id == setl)
    anchors = read_records(files, Stats(), hit)
    if not anchors:
        return lambda t: False
    mdtrts = {t.mdtrt_id for t in anchors if t.mdtrt_id}
    setls = {t.setl_id for t in anchors if t.setl_id}
    clinics = {t.clinic for t in anchors}
    lo = min(t.ts for t in anchors) - window - LATE_WINDOW
    hi = max(t.ts for t in anchors) + window + LATE_WINDOW

    def keep(t):
        return (t.mdtrt_id and t.mdtrt_id in mdtrts) or \
            (t.setl_id and t.setl_id in setls) or \
            (t.clinic in clinics and lo <= t.ts <= hi)
    return keep


def report_stats(stats, err):
    for f in stats.broken_files:
        err.write("yibao-trace: could not read all of %s\n" % f)
    if stats.malformed:
        err.write("yibao-trace: %d malformed line%s skipped: %s%s\n" % (
            stats.malformed, "" if stats.malformed == 1 else "s",
            ", ".join(stats.malformed_at[:5]),
            " ..." if stats.malformed > 5 else ""))
    if stats.journal_malformed:
        err.write("yibao-trace: %d malformed journal line(s) skipped\n"
                  % stats.journal_malformed)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
