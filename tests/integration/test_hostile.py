"""Hostile requests replayed against the whole stack: faults and hostile
inputs, replayed by an independent harness, must give zero crashes, zero
hangs, zero double settlements and zero unmasked personal data.

tools/yibao_hostile.py makes the requests (mutations of a real visit's
envelopes: JSON, bytes, HTTP framing, caller signatures) and checks each
answer: in time, a national envelope, no internal error, no personal
data in a gateway error, good requests served.  Here the campaign as a
whole: the same worker processes throughout, no personal data in any
log, no visit settled twice, the gateway still serving.

HOSTILE_COUNT (requests per campaign, default 1000; 400 under valgrind
in make memcheck), HOSTILE_SECONDS (a campaign's length instead) and
HOSTILE_SEED (default: fixed seeds, so that make test repeats itself;
make hostile picks a random one) are read from the environment."""

import os

import pytest

import harness
from harness import sim_get

import yibao_client as client
import yibao_hostile
from test_gateway_core import CALLER, SECRET, township_clinic

SEEDS = {"local": 20261127, "redis": 20261128}


VALGRIND = bool(harness.yibao_stack.valgrind_env())


def campaign_size():
    seconds = os.environ.get("HOSTILE_SECONDS")
    if seconds:
        return None, float(seconds)
    return int(os.environ.get("HOSTILE_COUNT",
                              "400" if VALGRIND else "1000")), None


@pytest.mark.parametrize("store", ["local", "redis"])
def test_hostile_campaign(make_stack, make_redis, store):
    redis = make_redis() if store == "redis" else None
    count, seconds = campaign_size()
    # a long campaign's hostile answers (300 KB, journaled with their
    # transactions) would fill the demo's 16 MB zone in minutes, and a
    # full zone refuses everything (fails closed, docs/security.md): the
    # embedded store gets a zone sized for that traffic
    stack = make_stack(scheme="tif" if redis else "csb", redis=redis,
                       zone="128m" if seconds else "16m")
    # under valgrind nginx is one process (master_process off): no workers
    # (the stack starts once all workers serve: Stack.wait_workers)
    workers = None if VALGRIND else sorted(stack.worker_pids())
    clinic = township_clinic(stack)
    seed = int(os.environ.get("HOSTILE_SEED") or SEEDS[store])
    camp = yibao_hostile.Campaign(stack.url, CALLER, SECRET, clinic["org"],
                                  clinic["name"], clinic["admdvs"],
                                  seed=seed, sim_url=stack.sim_url,
                                  # valgrind makes a request 20-50x slower
                                  bound=40.0 if VALGRIND else 10.0)
    camp.run(count=count, seconds=seconds)
    print(camp.summary())

    failures = ["#%d %s %s: %s" % (f["index"], f["kind"], f["what"],
                                   "; ".join(f["problems"]))
                for f in camp.failures]
    assert not failures, "%s\n%s" % (camp.summary(),
                                     "\n".join(failures[:20]))
    # every kind of case was sent, and the gateway refused and served
    assert set(camp.by_kind) == {"json", "bytes", "http", "auth",
                                 "answer"}, camp.summary()
    assert camp.statuses.get(200, 0) > camp.sent // 10, camp.summary()
    assert camp.statuses.get(400, 0) > camp.sent // 10, camp.summary()

    # no worker crashed (nginx would have started another one); under
    # valgrind, the one process is still there
    if workers is None:
        assert stack.nginx.poll() is None
    else:
        assert sorted(stack.worker_pids()) == workers

    # no visit settled twice, whatever was sent: at most one settlement
    # of a visit stands (one cancelled with 2208 may be followed by a
    # new one, as at a real counter)
    settled = sim_get(stack, "settlements")
    assert settled["active_count"], settled
    assert all(n <= 1 for n in settled["active_count"].values()), \
        settled["active_count"]

    # the gateway still serves a whole visit
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"])
    assert not client.flow_failed(steps), steps[-1]

    # nothing personal in any log
    stack.stop()
    found = yibao_hostile.personal_in_logs(
        [stack.error_log, stack.access_log], camp.personal)
    assert not found, found
