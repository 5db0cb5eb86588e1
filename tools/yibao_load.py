"""Concurrent clinic load on a gateway, for the fault suite
(tests/integration/test_faults.py) and the soak (tools/yibao-soak).

Each client thread runs outpatient flows (9001 -> 1101 -> 2201 -> 2203 ->
2204 -> 2206 -> 2207, tools/yibao_client.py) for its clinic, with extra
1101 queries per flow, so that the mix is mostly 1101, 2204, 2206 and
2207.  A 2207 without a usable answer is retried with the same envelope
(the same msgid), as a clinic does: the gateway's journal must answer it
without sending it again.

Every request is recorded: infno, msgid, mdtrt_id (2207), HTTP status,
the answer's infcode and err_msg, the exception if there was no answer,
and how long it took.  Standard library only.
"""

import threading
import time

import yibao_client as client


def is_envelope(body):
    """A national envelope answer: a JSON object with infcode and
    output (and err_msg when infcode is not 0)."""
    return (isinstance(body, dict) and "infcode" in body
            and "output" in body
            and (str(body["infcode"]) == "0" or "err_msg" in body))


def _retryable(status, body):
    """A 2207 answer that a clinic would send again (same msgid)."""
    if status is None:
        return True
    if status >= 500 or status == 409:
        return True
    return False


class Load:
    """threads client threads against gateway_url until stop().

    clinics: list of dicts with org, name, admdvs (one per thread,
    round robin).  timeout: the client's timeout per request (a request
    that takes longer is a hung request).  extra_1101: 1101 queries
    added after the flow's own.  retries_2207: how often a 2207 without
    a usable answer is sent again (same msgid), pause retry_pause s."""

    def __init__(self, gateway_url, caller, secret, clinics, threads=4,
                 timeout=12.0, extra_1101=2, retries_2207=2,
                 retry_pause=0.3, pause=0.0, keep=True):
        self.url = gateway_url
        self.caller = caller
        self.secret = secret
        self.clinics = clinics
        self.threads = threads
        self.timeout = timeout
        self.extra_1101 = extra_1101
        self.retries_2207 = retries_2207
        self.retry_pause = retry_pause
        self.pause = pause
        self.keep = keep              # keep every record (else counts)
        self.lock = threading.Lock()
        self.records = []
        self.count = 0
        self.errors = 0
        self.flows = 0
        self.stop_event = threading.Event()
        self.workers = []

    # ------------------------------------------------------------ records

    def _record(self, env, status, body, exc, t0, attempt=0):
        elapsed = time.monotonic() - t0
        rec = {"infno": env["infno"], "msgid": env["msgid"],
               "clinic": env["fixmedins_code"], "status": status,
               "elapsed": elapsed, "t": time.time(), "attempt": attempt,
               "exc": None if exc is None else
               "%s: %s" % (type(exc).__name__, exc)}
        if env["infno"] == "2207":
            rec["mdtrt_id"] = env["input"]["data"]["mdtrt_id"]
        if isinstance(body, dict):
            rec["infcode"] = body.get("infcode")
            rec["err_msg"] = body.get("err_msg")
            rec["envelope"] = is_envelope(body)
        else:
            rec["infcode"] = None
            rec["err_msg"] = None
            rec["envelope"] = False
            if isinstance(body, (bytes, bytearray)):
                rec["raw"] = bytes(body[:200])
        ok = status == 200 and str(rec["infcode"]) == "0"
        with self.lock:
            self.count += 1
            if not ok:
                self.errors += 1
            if self.keep or not ok:
                self.records.append(rec)
        return rec

    def _post(self, env, attempt=0):
        t0 = time.monotonic()
        try:
            r = client.post(self.url, self.caller, self.secret, env,
                            timeout=self.timeout)
        except Exception as e:  # noqa: recorded, the flow goes on
            self._record(env, None, None, e, t0, attempt)
            raise
        self._record(env, r.status, r.body, None, t0, attempt)
        return r

    def _send(self, env):
        infno = env["infno"]
        if infno == "1101":
            for _ in range(self.extra_1101):
                extra = dict(env, msgid=client.new_msgid(
                    env["fixmedins_code"]))
                try:
                    self._post(extra)
                except Exception:  # noqa: recorded
                    pass
        if infno != "2207":
            return self._post(env)
        last = None
        for attempt in range(self.retries_2207 + 1):
            if attempt:
                time.sleep(self.retry_pause)
            try:
                last = self._post(env, attempt)
            except Exception as e:  # noqa: recorded
                last = e
                continue
            if not _retryable(last.status, last.body):
                break
        if isinstance(last, Exception):
            raise last
        return last

    # ------------------------------------------------------------ threads

    def _worker(self, i):
        clinic = self.clinics[i % len(self.clinics)]
        while not self.stop_event.is_set():
            steps = client.outpatient_flow(self.url, self.caller,
                                           self.secret, clinic["org"],
                                           clinic["name"], clinic["admdvs"],
                                           send=self._send)
            with self.lock:
                self.flows += 1
            # a clinic whose visit failed does not start the next one at
            # once
            pause = self.pause
            if client.flow_failed(steps) and pause < 0.05:
                pause = 0.05
            if pause:
                self.stop_event.wait(pause)

    def start(self):
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, args=(i,),
                                 daemon=True)
            t.start()
            self.workers.append(t)
        return self

    def stop(self, timeout=None):
        """Stops and waits; False when a thread is still busy after
        timeout seconds (a hung request)."""
        self.stop_event.set()
        deadline = time.monotonic() + (timeout if timeout is not None
                                       else self.timeout * 4 + 10)
        for t in self.workers:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.workers)

    # ------------------------------------------------------------ checks

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def hung(self, bound):
        """Requests that took longer than bound seconds or timed out."""
        return [r for r in self.snapshot()
                if r["elapsed"] > bound or (r["exc"] and "imeout"
                                            in r["exc"])]

    def not_envelopes(self):
        """Answers that are not national envelopes."""
        return [r for r in self.snapshot()
                if r["status"] is not None and not r["envelope"]]

    def no_answer(self):
        return [r for r in self.snapshot() if r["status"] is None]

    def by_infno(self, infno):
        return [r for r in self.snapshot() if r["infno"] == infno]

    def summary(self):
        recs = self.snapshot()
        out = {}
        for r in recs:
            key = (r["infno"], r["status"],
                   (r["err_msg"] or "")[:6] if r["status"] else "noanswer")
            out[key] = out.get(key, 0) + 1
        return out
