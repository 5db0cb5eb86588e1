#!/usr/bin/python3
"""yibao-hostile: hostile requests against a running gateway, each
checked for the outcomes a gateway that money flows through must keep
(zero crashes, zero hangs, zero double settlements, zero unmasked
personal data).

It first runs a whole outpatient visit (9001 ... 2207, then a second
visit cancelled with 2208) through the gateway, keeping every envelope
it sent.  Then it sends mutations of those envelopes, each made by a
random generator seeded with (seed, index), so that `--seed S --only I`
makes the same request again:

  json   a field removed, retyped, replaced by a hostile value (huge,
         deep, control characters, lone surrogates, 300 keys, ...),
         unknown fields added, amounts changed, inputs swapped between
         transactions; signed correctly, so the gateway must read it;
  bytes  the signed text itself broken: cut, bytes inserted (NUL,
         invalid and overlong UTF-8), a duplicate key, a BOM, numbers
         JSON has no form for, 3,000 levels of nesting;
  http   the HTTP around a good envelope: chunked (valid and broken),
         a Content-Length that lies, both framings, Expect, HTTP/1.0,
         pipelining, a body sent slowly, odd Content-Types and methods,
         a query string;
  auth   the caller's signature, timestamp, nonce and caller broken,
         or a nonce used twice.

Every ID number and name the requests carry is one of PERSONAL, so
that their leaking can be looked for.  What every answer must keep:

  * an answer within --bound seconds (else: "hang"); only a request
    that breaks HTTP itself may be answered by closing the connection;
  * a national envelope (JSON object with infcode, and err_msg when
    infcode is not 0), whatever the HTTP status;
  * a gateway error (err_msg "YBnnnn ...") that is not an internal one
    (YB5001, YB5002) nor a platform failure (YB6001 ... YB6005: the
    platform here never fails, so one would be the gateway's fault or
    the simulator's);
  * no personal data in a gateway error message;
  * what is meant to pass (an HTTP variant of a good envelope) passes.

The caller then checks what spans the campaign (tests/integration/
test_hostile.py): the same worker processes, no [alert]/[crit]/[emerg]
in the error log, no personal data in any log, no visit settled twice,
and a good request still served.

  yibao-hostile --gateway URL --caller ID --secret S --clinic CODE \\
      --name NAME --admdvs 370102 [--count N | --seconds T] [--seed S]

Standard library only.
"""

import argparse
import base64
import copy
import json
import random
import re
import socket
import sys
import time
import urllib.parse
import urllib.request

import yibao_client as client

# the personal data in the requests: ID numbers (valid check characters)
# and names; none may appear unmasked in a gateway error or a log
ID_NUMBERS = ("370102195603152017", "11010519491231002X")
NAMES = ("欧阳娜娜", "司马相如")
PERSONAL = ID_NUMBERS + NAMES

YB_CODE = re.compile(r"^YB(\d{4}) ")
INTERNAL = {"5001", "5002"}
PLATFORM_FAILED = {"6001", "6002", "6003", "6004", "6005"}

HOSTILE_VALUES = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 2 ** 63,
    -(2 ** 63) - 1, 10 ** 30, 0.1 + 0.2, "", " ", "\u0000", "a\u0000b",
    "\u202e\u200b", "\U0001F600" * 60, "\ud800", "x" * 5000, "9" * 40,
    "%s%n%x%p", "\\", "\"", "\r\n", "null", "NaN", "1e999", "<script>",
    "中文" * 40, "0" * 64, "-0", "1.000000000000000000001", [], {},
    [[[[[]]]]], {"a": {"b": {"c": {}}}}, list(range(300)),
    dict(("k%d" % i, i) for i in range(300)),
]

AMOUNTS = [0, -1, -0.01, 0.001, 1e-9, 12.605, 99999999999.99, 1e15,
           "12.60", "", None, 1e308]

READ_ONLY = ("9001", "1101")

ANSWER_MAX = 2 * 1024 * 1024    # a hostile answer, unless meant bigger


# --------------------------------------------------------------------------
# one HTTP exchange, on a raw socket
# --------------------------------------------------------------------------

class Answer:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.error = None       # "hang: ..." or the socket's error
        self.elapsed = 0.0

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


class _Reader:
    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _more(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def until(self, sep):
        while sep not in self.buf:
            self._more()
        head, self.buf = self.buf.split(sep, 1)
        return head

    def exactly(self, n):
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self):
        try:
            while True:
                self._more()
        except EOFError:
            pass
        data, self.buf = self.buf, b""
        return data


def _read_answer(reader, head_only=False):
    """One HTTP response (100 Continue is skipped)."""
    a = Answer()
    while True:
        head = reader.until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        a.status = int(lines[0].split(" ", 2)[1])
        a.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            a.headers[k.strip().lower()] = v.strip()
        if a.status != 100:
            break
    if head_only or a.status in (204, 304):
        return a
    if a.headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                reader.until(b"\r\n")
                break
            parts.append(reader.exactly(size))
            reader.exactly(2)
        a.body = b"".join(parts)
    elif "content-length" in a.headers:
        a.body = reader.exactly(int(a.headers["content-length"]))
    else:
        a.body = reader.rest()
    return a


def exchange(host, port, parts, bound, answers=1, shut=False,
             head_only=False):
    """Sends parts (bytes, or a float: seconds to wait) on a new
    connection and reads `answers` answers.  shut: half-close after
    sending.  Returns a list of Answer (at least one; the last may be
    closed or in error)."""
    t0 = time.monotonic()
    deadline = t0 + bound
    got = []
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=bound)
        for p in parts:
            if isinstance(p, float):
                time.sleep(p)
            else:
                sock.sendall(p)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        reader = _Reader(sock, deadline)
        for _ in range(answers):
            a = _read_answer(reader, head_only)
            a.elapsed = time.monotonic() - t0
            got.append(a)
    except TimeoutError as e:
        a = Answer()
        a.error = "hang: %s after %.1f s" % (e, time.monotonic() - t0)
        got.append(a)
    except (EOFError, ConnectionResetError, BrokenPipeError) as e:
        a = Answer()
        a.error = "%s: %s" % (type(e).__name__, e)
        got.append(a)
    except (OSError, ValueError, IndexError) as e:
        a = Answer()
        a.error = "%s: %s" % (type(e).__name__, e)
        got.append(a)
    finally:
        if sock is not None:
            sock.close()
    for a in got:
        a.elapsed = a.elapsed or time.monotonic() - t0
    return got


def request_bytes(method, path, headers, body, version="HTTP/1.1",
                  host="gateway"):
    lines = ["%s %s %s" % (method, path, version), "Host: %s" % host]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + (body or b"")


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

class Case:
    """What to send and what may come back.

    parts: bytes and pauses; answers: how many answers to read;
    must_pass: the answer must be HTTP 200 with infcode 0;
    may_close: breaking HTTP, the gateway may close without answering;
    want_status: the HTTP statuses allowed (None: any), or a list of
    them, one for each answer; fault: what the platform (the simulator)
    is to answer instead, a POST /__sim/fault body."""

    def __init__(self, kind, what, parts, answers=1, must_pass=False,
                 may_close=False, want_status=None, shut=False,
                 head_only=False, fault=None):
        self.fault = fault          # the simulator's answer, queued first
        self.kind = kind
        self.what = what
        self.parts = parts
        self.answers = answers
        self.must_pass = must_pass
        self.may_close = may_close
        self.want_status = want_status
        self.shut = shut
        self.head_only = head_only


class Generator:
    """Makes case `index` of a campaign from the visit's envelopes."""

    def __init__(self, bases, caller, secret, path=client.DEFAULT_PATH,
                 personal=PERSONAL, answers=None):
        self.bases = bases
        self.personal = personal
        self.answers = answers or {}
        self.caller = caller
        self.secret = secret
        self.path = path

    # ---- helpers

    def fresh(self, rng, infno=None):
        infno = infno or rng.choice(sorted(self.bases))
        env = copy.deepcopy(self.bases[infno])
        if rng.random() < 0.85:
            env["msgid"] = client.new_msgid(env["fixmedins_code"])
        return infno, env

    def signed(self, body, path=None, **kw):
        h = client.signed_headers(self.caller, self.secret, "POST",
                                  path or self.path, body, **kw)
        return list(h.items())

    def post(self, body, headers=None, path=None, **kw):
        headers = headers if headers is not None else self.signed(body)
        headers = headers + [("Content-Length", str(len(body)))]
        return request_bytes("POST", path or self.path, headers, body,
                             **kw)

    @staticmethod
    def encode(rng, env):
        ascii_only = rng.random() < 0.3
        try:
            return json.dumps(env, ensure_ascii=ascii_only,
                              separators=(",", ":")).encode("utf-8")
        except (UnicodeEncodeError, ValueError, OverflowError):
            return json.dumps(env, ensure_ascii=True,
                              separators=(",", ":")).encode("ascii")

    @staticmethod
    def paths(node, prefix=()):
        """Every (path, value) under node, containers included; of a
        list only the first 3 items (its rows are alike, and a widened
        one would make this slow)."""
        out = []
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node[:3])
        else:
            return out
        for k, v in items:
            out.append((prefix + (k,), v))
            out.extend(Generator.paths(v, prefix + (k,)))
        return out

    @staticmethod
    def parent(env, path):
        node = env
        for k in path[:-1]:
            node = node[k]
        return node

    # ---- json: a readable text with hostile content

    def json_case(self, rng):
        infno, env = self.fresh(rng)
        done = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.choice(("drop", "value", "value", "value", "retype",
                             "extra", "amount", "swap", "id", "wide"))
            done.append(self.mutate(rng, env, op))
        body = self.encode(rng, env)
        return Case("json", "%s: %s" % (infno, "; ".join(done)),
                    [self.post(body)])

    def mutate(self, rng, env, op, personal=True):
        # the ids that tie a visit together are logged as sent: msgid
        # (the caller's own name of a transaction), mdtrt_id, setl_id;
        # operators find transactions by them: no personal data there
        everything = [(p, v) for p, v in self.paths(env)
                      if op not in ("value", "id")
                      or p[-1] not in ("msgid", "mdtrt_id", "setl_id")]
        path, value = rng.choice(everything)
        where = "/".join(str(k) for k in path)
        par = self.parent(env, path)
        if op == "drop":
            if isinstance(par, dict):
                del par[path[-1]]
            else:
                par.pop(path[-1])
            return "drop " + where
        if op == "value":
            v = copy.deepcopy(rng.choice(
                HOSTILE_VALUES + list(PERSONAL if personal else ())))
            par[path[-1]] = v
            return "%s = %.40r" % (where, v)
        if op == "retype":
            if isinstance(value, dict):
                par[path[-1]] = list(value.values())
            elif isinstance(value, list):
                par[path[-1]] = dict(("%d" % i, v)
                                     for i, v in enumerate(value))
            elif isinstance(value, str):
                par[path[-1]] = int(value) if value.isdigit() else [value]
            else:
                par[path[-1]] = str(value)
            return "retype " + where
        if op == "extra":
            target = rng.choice([env, env.get("input")] + [
                v for _, v in everything if isinstance(v, dict)])
            if not isinstance(target, dict):
                target = env
            n = rng.choice((1, 5, 500))
            for i in range(n):
                target["zz_%d_%d" % (rng.randrange(1 << 30), i)] = \
                    copy.deepcopy(rng.choice(HOSTILE_VALUES[:20]))
            return "%d unknown fields" % n
        if op == "amount":
            keys = [(p, v) for p, v in everything
                    if p and str(p[-1]).endswith(("amt", "pric", "cnt",
                                                  "pay", "selfpay"))]
            if not keys:
                return "no amount"
            p, _ = rng.choice(keys)
            v = rng.choice(AMOUNTS)
            self.parent(env, p)[p[-1]] = v
            return "%s = %r" % ("/".join(str(k) for k in p), v)
        if op == "swap":
            other = rng.choice(sorted(self.bases))
            env["input"] = copy.deepcopy(self.bases[other]["input"])
            return "input of %s" % other
        if op == "id":
            # personal data where it does not belong (or where it does)
            v = rng.choice(self.personal)
            if isinstance(par, (dict, list)):
                par[path[-1]] = v
            return "%s = personal data" % where
        # "wide": a long list where a short one is expected
        lists = [(p, v) for p, v in everything if isinstance(v, list)]
        if not lists:
            env["input"] = [copy.deepcopy(env.get("input"))] * 200
            return "input as 200 copies"
        p, v = rng.choice(lists)
        self.parent(env, p)[p[-1]] = (v or [{}]) * rng.choice((50, 600))
        return "widen " + "/".join(str(k) for k in p)

    # ---- bytes: a signed text that is not what it should be

    def bytes_case(self, rng):
        infno, env = self.fresh(rng)
        op, body = self.corrupt(rng, self.encode(rng, env), env)
        return Case("bytes", "%s: %s" % (infno, op), [self.post(body)])

    def corrupt(self, rng, text, env=None):
        """(what, text broken); env: the object text encodes."""
        env = env if env is not None else json.loads(text)
        body = bytearray(text)
        op = rng.choice(("cut", "insert", "dupkey", "bom", "tail",
                         "number", "deep", "space", "nul"))
        if op == "cut":
            body = body[:rng.randrange(len(body))]
        elif op == "insert":
            at = rng.randrange(len(body) + 1)
            body[at:at] = rng.choice((b"\xff", b"\xc0\x80", b"\xed\xa0\x80",
                                      b"\xf4\x90\x80\x80", b"\x80",
                                      b"\"", b"\\", b"{", b"]", b",,"))
        elif op == "dupkey":
            k = rng.choice(sorted(env) or ["x"])
            body[1:1] = ("\"%s\":%s," % (k, json.dumps(env.get(k)))
                         ).encode("utf-8")
        elif op == "bom":
            body[0:0] = b"\xef\xbb\xbf"
        elif op == "tail":
            body += rng.choice((b"}", b" x", b"\x00", b"{}", b"\n\n"))
        elif op == "number":
            m = list(re.finditer(rb":(-?\d+(\.\d+)?)([,}\]])", bytes(body)))
            if m:
                g = rng.choice(m)
                body[g.start(1):g.end(1)] = rng.choice(
                    (b"1e999", b"-0", b"01", b"1.", b".5", b"+1",
                     b"0x10", b"Infinity", b"NaN",
                     b"123456789012345678901234567890"))
        elif op == "deep":
            at = body.find(b"{") + 1
            n = rng.choice((100, 3000))
            body[at:at] = b"\"x\":" + b"[" * n + b"1" + b"]" * n + b","
        elif op == "space":
            body[0:0] = b" \t\r\n" * rng.choice((1, 20000))
        else:
            at = rng.randrange(len(body) + 1)
            body[at:at] = b"\x00"
        return op, bytes(body)

    # ---- http: the envelope is good, the HTTP around it varies

    def http_case(self, rng):
        infno, env = self.fresh(rng, rng.choice(READ_ONLY))
        env["msgid"] = client.new_msgid(env["fixmedins_code"])
        body = client.encode(env)
        h = self.signed(body)
        op = rng.choice(("chunked", "chunk_ext", "chunk_bad", "chunk_huge",
                         "cl_short", "cl_long", "both", "two_cl",
                         "expect", "http10", "pipeline", "slow",
                         "charset", "text_plain", "lower", "query",
                         "method", "no_type", "long_header",
                         "huge_header", "bad_path"))
        what = "%s: %s" % (infno, op)

        def chunks(data, ext=b""):
            out, i = [], 0
            while i < len(data):
                n = rng.randint(1, 200)
                out.append(b"%x%s\r\n%s\r\n" % (len(data[i:i + n]), ext,
                                                data[i:i + n]))
                i += n
            return b"".join(out) + b"0\r\n\r\n"

        if op in ("chunked", "chunk_ext"):
            ext = b";name=value" if op == "chunk_ext" else b""
            req = request_bytes("POST", self.path, h + [
                ("Transfer-Encoding", "chunked")], chunks(body, ext))
            return Case("http", what, [req], must_pass=True)
        if op == "chunk_bad":
            bad = rng.choice((b"zz\r\n", b"5\r\nabc\r\n", b"-1\r\n",
                              b"5\r\nabcdefgh\r\n"))
            req = request_bytes("POST", self.path, h + [
                ("Transfer-Encoding", "chunked")], bad)
            return Case("http", what, [req], may_close=True, shut=True,
                        want_status={400, 401})
        if op == "chunk_huge":
            req = request_bytes("POST", self.path, h + [
                ("Transfer-Encoding", "chunked")],
                b"ffffffffffffffff\r\nabc")
            return Case("http", what, [req], may_close=True, shut=True,
                        want_status={400, 413})
        if op == "cl_short":
            req = request_bytes("POST", self.path, h + [
                ("Content-Length", str(len(body) - 5))], body)
            return Case("http", what, [req], may_close=True,
                        want_status={400, 401})
        if op == "cl_long":
            req = request_bytes("POST", self.path, h + [
                ("Content-Length", str(len(body) + 50))], body)
            return Case("http", what, [req], may_close=True, shut=True,
                        want_status={400})
        if op == "both":
            req = request_bytes("POST", self.path, h + [
                ("Content-Length", str(len(body))),
                ("Transfer-Encoding", "chunked")], chunks(body))
            return Case("http", what, [req], may_close=True,
                        want_status={400})
        if op == "two_cl":
            req = request_bytes("POST", self.path, h + [
                ("Content-Length", str(len(body))),
                ("Content-Length", str(len(body) + 1))], body)
            return Case("http", what, [req], may_close=True,
                        want_status={400})
        if op == "expect":
            req = request_bytes("POST", self.path, h + [
                ("Content-Length", str(len(body))),
                ("Expect", "100-continue")], b"")
            return Case("http", what, [req, 0.05, body], must_pass=True)
        if op == "http10":
            return Case("http", what, [self.post(body, h,
                                                 version="HTTP/1.0")],
                        must_pass=True)
        if op == "pipeline":
            _, env2 = self.fresh(rng, infno)
            env2["msgid"] = client.new_msgid(env2["fixmedins_code"])
            body2 = client.encode(env2)
            return Case("http", what, [self.post(body, h) +
                                       self.post(body2)],
                        answers=2, must_pass=True)
        if op == "slow":
            req = self.post(body, h)
            cut = sorted(rng.sample(range(1, len(req)), 3))
            parts = [req[:cut[0]], 0.1, req[cut[0]:cut[1]], 0.2,
                     req[cut[1]:cut[2]], 0.1, req[cut[2]:]]
            return Case("http", what, parts, must_pass=True)
        if op in ("charset", "text_plain", "no_type"):
            ctype = {"charset": "application/json; charset=utf-8",
                     "text_plain": "text/plain"}.get(op)
            hh = [(k, v) for k, v in h if k != "Content-Type"]
            if ctype:
                hh.append(("Content-Type", ctype))
            return Case("http", what, [self.post(body, hh)],
                        must_pass=op != "no_type",
                        want_status=None if op != "no_type"
                        else {200, 415})
        if op == "lower":
            hh = [(k.lower(), v) for k, v in h]
            return Case("http", what, [self.post(body, hh)],
                        must_pass=True)
        if op == "query":
            path = self.path + "?a=1&b=%E4%B8%AD"
            hh = self.signed(body, path=path)
            return Case("http", what, [self.post(body, hh, path=path)],
                        must_pass=True)
        if op == "method":
            m = rng.choice(("GET", "PUT", "DELETE", "OPTIONS", "PATCH",
                            "HEAD"))
            req = request_bytes(m, self.path, h + [
                ("Content-Length", str(len(body)))], body)
            return Case("http", "%s: %s" % (what, m), [req],
                        want_status={405}, head_only=m == "HEAD")
        if op == "long_header":
            hh = h + [("X-Padding", "p" * 6000)]
            return Case("http", what, [self.post(body, hh)],
                        must_pass=True)
        if op == "huge_header":
            hh = h + [("X-Padding", "p" * 70000)]
            return Case("http", what, [self.post(body, hh)],
                        may_close=True, want_status={400, 494})
        path = rng.choice(("/fsi/api/other", "/", "/fsi/api/"
                           "rsfComIfsService/callService/../x",
                           "/%00", "/fsi/api/rsfComIfsService//callService"))
        hh = self.signed(body, path=path)
        # (a path that nginx merges into the endpoint's was not the path
        # signed: 401)
        return Case("http", "%s %s" % (what, path),
                    [self.post(body, hh, path=path)],
                    want_status={400, 401, 404})

    # ---- auth: the caller's signature broken

    def auth_case(self, rng):
        infno, env = self.fresh(rng, "1101")
        env["msgid"] = client.new_msgid(env["fixmedins_code"])
        body = client.encode(env)
        op = rng.choice(("signature", "old", "future", "nonce_short",
                         "nonce_bad", "caller", "missing", "body_changed",
                         "upper", "replay"))
        now = time.time()
        kw = {}
        if op == "old":
            kw["now"] = now - 3600
        elif op == "future":
            kw["now"] = now + 3600
        elif op == "nonce_short":
            kw["nonce"] = "abc"
        elif op == "nonce_bad":
            kw["nonce"] = "x" * 20 + "!@#$%^&*()"
        h = dict(self.signed(body, **kw))
        what = "%s: %s" % (infno, op)
        if op == "replay":
            # the same request twice: the first passes, the second is
            # refused (its nonce was used)
            req = self.post(body, list(h.items()))
            return Case("auth", what, [req + req], answers=2,
                        want_status=[{200}, {401}])
        if op == "upper":
            # the same signature in upper-case hex digits is the same
            h["X-Yibao-Signature"] = h["X-Yibao-Signature"].upper()
            return Case("auth", what, [self.post(body, list(h.items()))],
                        must_pass=True)
        if op == "signature":
            h["X-Yibao-Signature"] = "0" * 64
        elif op == "caller":
            h["X-Yibao-Caller"] = rng.choice(("nobody", "", "a" * 300,
                                              "village-subsystem\x7f"))
        elif op == "missing":
            del h[rng.choice(sorted(k for k in h if k.startswith("X-")))]
        elif op == "body_changed":
            body = body.replace(b"1101", b"2207", 1)
        return Case("auth", what, [self.post(body, list(h.items()))],
                    want_status={401})

    # ---- answer: the request is good, the platform's answer is not

    def answer_case(self, rng):
        infno = rng.choice(sorted(self.answers))
        _, env = self.fresh(rng, infno)
        env["msgid"] = client.new_msgid(env["fixmedins_code"])
        body = client.encode(env)
        answer = copy.deepcopy(self.answers[infno])
        answer.pop("msgid", None)
        status, ctype = 200, "application/json;charset=UTF-8"
        op = rng.choice(("json", "json", "bytes", "bytes", "infcode",
                         "status", "ctype", "empty", "big"))
        if op == "json":
            # the same mutations as a request's, without personal data
            mutations = []
            for _ in range(rng.choice((1, 2))):
                mop = rng.choice(("drop", "value", "retype", "extra",
                                  "wide"))
                mutations.append(self.mutate(rng, answer, mop,
                                             personal=False))
            what = "; ".join(mutations)
            text = self.encode(rng, answer)
        elif op == "bytes":
            text = self.encode(rng, answer)
            what, text = self.corrupt(rng, text)
        elif op == "infcode":
            v = rng.choice((1, -2, 0.0, "0 ", "00", "-1.0", True, None,
                            [0], {"v": 0}, 2 ** 32, -(2 ** 31) - 1, ""))
            answer["infcode"] = v
            what, text = "infcode = %r" % (v,), self.encode(rng, answer)
        elif op == "status":
            status = rng.choice((201, 204, 302, 400, 401, 404, 429, 500,
                                 502, 503))
            what, text = "HTTP %d" % status, self.encode(rng, answer)
        elif op == "ctype":
            ctype = rng.choice(("text/html", "application/octet-stream",
                                "application/json;charset=GBK", ""))
            what, text = "Content-Type %r" % ctype, self.encode(rng, answer)
        elif op == "empty":
            what, text = "empty", b""
        else:
            n = rng.choice((300 * 1024, 9 * 1024 * 1024))
            answer["output"] = {"pad": "x" * n}
            what, text = "%d bytes" % n, self.encode(rng, answer)
        if op != "big" and len(text) > ANSWER_MAX:
            # two widenings multiply: keep it below the simulator's
            # limit (the cut text is a broken answer all the same)
            text = text[:ANSWER_MAX]
            what += ", cut to %d bytes" % ANSWER_MAX
        fault = {"infno": infno, "mode": "answer", "count": 1,
                 "act": rng.random() < 0.5, "status": status,
                 "content_type": ctype,
                 "body_b64": base64.b64encode(text).decode("ascii")}
        return Case("answer", "%s: %s (%s)" % (infno, op, what),
                    [self.post(body)], fault=fault)

    def case(self, seed, index):
        rng = random.Random("%d/%d" % (seed, index))
        kinds, weights = ["json", "bytes", "http", "auth"], [55, 20, 17, 8]
        if self.answers:
            kinds.append("answer")
            weights.append(15)
        kind = rng.choices(kinds, weights)[0]
        return getattr(self, kind + "_case")(rng)


# --------------------------------------------------------------------------
# checking an answer
# --------------------------------------------------------------------------

def personal_in(text, personal=PERSONAL):
    """The personal values that appear in text unmasked."""
    return [p for p in personal if p and p in text]


def personal_in_logs(paths, personal):
    """(log, value) for each personal value found unmasked in the error
    and access logs at paths.  In an access log line's platform_msg (the
    platform's own message, in which the gateway masks every run of 15
    or more digits, and the transaction's own psn_no and psn_name when
    the request or the answer carries them) names are not looked for:
    a name put where it does not belong and quoted by the platform
    cannot be told from other Chinese text (docs/security.md)."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                checked = line
                if path.endswith("access.log"):
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = None
                    if isinstance(rec, dict):
                        msg = str(rec.pop("platform_msg", ""))
                        checked = json.dumps(rec, ensure_ascii=False)
                        found += [(path, p) for p in personal_in(
                            msg, [p for p in personal if p[:1].isdigit()])]
                found += [(path, p) for p in personal_in(checked, personal)]
    return found


def problems(case, answers, personal=PERSONAL):
    """What is wrong with the answers to a case (a list of strings)."""
    out = []
    for n, a in enumerate(answers):
        tag = "answer %d: " % (n + 1) if case.answers > 1 else ""
        if a.error and a.error.startswith("hang"):
            out.append(tag + a.error)
            continue
        if a.status is None:
            if not case.may_close:
                out.append(tag + "no answer (%s)" % a.error)
            continue
        want = case.want_status
        if isinstance(want, list):
            want = want[n]
        if want and a.status not in want:
            out.append(tag + "HTTP %d, wanted one of %s"
                       % (a.status, sorted(want)))
        if case.head_only:
            continue
        body = a.json()
        if not (isinstance(body, dict) and "infcode" in body
                and (str(body["infcode"]) == "0" or "err_msg" in body)):
            out.append(tag + "HTTP %d, not a national envelope: %.200r"
                       % (a.status, a.body))
            continue
        msg = body.get("err_msg") or ""
        m = YB_CODE.match(msg) if isinstance(msg, str) else None
        if m:
            if m.group(1) in INTERNAL:
                out.append(tag + "internal error: " + msg[:300])
            if m.group(1) in PLATFORM_FAILED and (
                    case.kind != "answer" or m.group(1) == "6002"):
                # (a hostile answer may be refused as what it is; only
                # the platform never failing otherwise, and never timing
                # out, is known here)
                out.append(tag + "platform failure: " + msg[:300])
            leaked = personal_in(msg, personal)
            if leaked:
                out.append(tag + "personal data in err_msg: " + msg[:300])
        if case.must_pass and not (a.status == 200
                                   and str(body["infcode"]) == "0"):
            out.append(tag + "HTTP %d infcode %s, wanted a success: %.300s"
                       % (a.status, body.get("infcode"), msg))
    return out


# --------------------------------------------------------------------------
# the campaign
# --------------------------------------------------------------------------

def visit_envelopes(gateway_url, caller, secret, clinic, admdvs, name,
                    timeout=30, answers=None):
    """Runs a visit (kept settled) and a cancelled one; returns the
    envelopes sent, by infno (all of the second visit: the cases are
    its transactions), and each visit's person as the platform answered
    with it: a list of two sets of psn_no, psn_name and certno.  answers,
    a dict if given, gets the answers by infno."""
    bases = {}
    persons = []

    def capture(env):
        bases[env["infno"]] = copy.deepcopy(env)
        r = client.post(gateway_url, caller, secret, env, timeout=timeout)
        if answers is not None and isinstance(r.body, dict):
            answers[env["infno"]] = copy.deepcopy(r.body)
        return r

    for cancel, person in ((False, ID_NUMBERS[0]), (True, ID_NUMBERS[1])):
        st = client.FlowState()
        s = client.outpatient_flow(gateway_url, caller, secret, clinic,
                                   name, admdvs, person_id_number=person,
                                   send=capture, cancel=cancel,
                                   person_name=NAMES[int(cancel)],
                                   state=st, timeout=timeout)
        if client.flow_failed(s):
            raise RuntimeError("the visit failed: %s"
                               % client.describe(*s[-1]))
        persons.append(set(str(st.person.get(k) or "")
                           for k in ("psn_no", "psn_name", "certno")) - {""})
    return bases, persons


class Campaign:
    def __init__(self, gateway_url, caller, secret, clinic, name, admdvs,
                 seed=None, bound=10.0, sim_url=None):
        u = urllib.parse.urlsplit(gateway_url)
        self.host = u.hostname
        self.port = u.port or 80
        self.url = gateway_url
        self.seed = random.randrange(1 << 32) if seed is None else seed
        self.bound = bound
        # with the simulator's control API the platform's answers are
        # made hostile too ("answer" cases)
        self.sim_url = sim_url
        answers = {} if sim_url else None
        self.bases, persons = visit_envelopes(gateway_url, caller,
                                              secret, clinic, admdvs, name,
                                              answers=answers)
        # what must never appear unmasked: what was sent, what came back
        self.personal = list(PERSONAL) + sorted(
            (persons[0] | persons[1]) - set(PERSONAL))
        self.gen = Generator(self.bases, caller, secret,
                             personal=self.personal, answers=answers)
        self.sent = 0
        self.by_kind = {}
        self.statuses = {}
        self.failures = []
        self.slowest = (0.0, None, "")     # seconds, index, what

    def sim(self, method, what, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.sim_url + "/__sim/" + what,
                                     data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def one(self, index):
        case = self.gen.case(self.seed, index)
        if case.fault:
            self.sim("POST", "fault", case.fault)
        answers = exchange(self.host, self.port, case.parts, self.bound,
                           answers=case.answers, shut=case.shut,
                           head_only=case.head_only)
        if case.fault:
            # not taken if the gateway refused the request itself
            self.sim("DELETE", "fault")
        self.sent += 1
        took = max(a.elapsed for a in answers)
        if took > self.slowest[0]:
            self.slowest = (took, index, case.what)
        self.by_kind[case.kind] = self.by_kind.get(case.kind, 0) + 1
        for a in answers:
            k = a.status if a.status is not None else "closed"
            self.statuses[k] = self.statuses.get(k, 0) + 1
        bad = problems(case, answers, self.personal)
        if bad:
            self.failures.append({"index": index, "kind": case.kind,
                                  "what": case.what, "problems": bad})
        return bad

    def run(self, count=None, seconds=None, only=None):
        if only is not None:
            return self.one(only)
        end = time.monotonic() + seconds if seconds else None
        i = 0
        while (count is None or i < count) and \
                (end is None or time.monotonic() < end):
            self.one(i)
            i += 1
        return self.failures

    def summary(self):
        return ("hostile: seed %d, %d requests (%s), statuses %s, "
                "slowest %.3f s (#%s %s), %d failed" % (
                    self.seed, self.sent,
                    ", ".join("%s %d" % kv for kv in
                              sorted(self.by_kind.items())),
                    ", ".join("%s:%d" % (k, v) for k, v in sorted(
                        self.statuses.items(), key=lambda kv: str(kv[0]))),
                    self.slowest[0], self.slowest[1], self.slowest[2],
                    len(self.failures)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="yibao-hostile",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--caller", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--clinic", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--admdvs", required=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--only", type=int, help="send case ONLY of --seed")
    ap.add_argument("--bound", type=float, default=10.0,
                    help="seconds an answer may take")
    ap.add_argument("--sim", help="the simulator's URL: hostile answers "
                    "too (through its /__sim/fault)")
    args = ap.parse_args(argv)
    if args.count is None and args.seconds is None and args.only is None:
        args.count = 500
    c = Campaign(args.gateway, args.caller, args.secret, args.clinic,
                 args.name, args.admdvs, seed=args.seed, bound=args.bound,
                 sim_url=args.sim)
    c.run(args.count, args.seconds, args.only)
    for f in c.failures:
        print("FAIL #%d %s %s" % (f["index"], f["kind"], f["what"]))
        for p in f["problems"]:
            print("    " + p)
    print(c.summary())
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
