"""Redis Sentinel: the gateway finds the master through
real Sentinels, follows a failover, and says so in its log; mistakes in
the configuration fail nginx -t."""

import os
import time

import redis as redis_client

import harness

from test_gateway_core import envelope, ready_clinic, send
from test_store import LIMIT, access, wait_store

Sentinel = harness.yibao_stack.Sentinel
Redis = harness.yibao_stack.Redis


def wait(what, predicate, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def evalsha_calls(port):
    stats = redis_client.Redis(port=port).info("commandstats")
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


def test_sentinel_finds_master_and_follows_failover(make_stack, tmp_path):
    master = Redis(os.path.join(str(tmp_path), "master")).start()
    replica = Redis(os.path.join(str(tmp_path), "replica"), args=[
        "--replicaof", "127.0.0.1", str(master.port)]).start()
    sentinel = None
    try:
        sentinel = Sentinel(os.path.join(str(tmp_path), "sentinel"),
                            master.port).start()
        scli = redis_client.Redis(port=sentinel.port)

        stack = make_stack(
            scheme="none", redis_address="sentinel:mymaster",
            redis_options="sentinel=127.0.0.1:%d timeout=300ms "
                          "connect_timeout=500ms" % sentinel.port,
            limits=(LIMIT % "",))
        clinic = ready_clinic(stack)
        wait_store(stack, clinic, "redis")
        assert evalsha_calls(master.port) > 0
        assert evalsha_calls(replica.port) == 0

        # the Sentinel must know the replica before it can promote it
        wait("the Sentinel to see the replica", lambda: any(
            r["port"] == replica.port and "s_down" not in r["flags"]
            and r.get("master-link-status") == "ok"
            for r in scli.sentinel_slaves("mymaster")))
        scli.execute_command("SENTINEL", "FAILOVER", "mymaster")
        wait("the failover", lambda: int(scli.sentinel_get_master_addr_by_name(
            "mymaster")[1]) == replica.port)
        wait("the old master to become a replica", lambda: redis_client.Redis(
            port=master.port).info("replication")["role"] == "slave")

        # the gateway follows: its scripts now run on the new master
        def on_new_master():
            r = send(stack, envelope(clinic), timeout=10)
            assert r.status == 200, r.body
            return (access(stack)[-1]["store"] == "redis"
                    and evalsha_calls(replica.port) > 0)
        wait("the gateway to use the new master", on_new_master)

        logs = harness.error_log_text(stack)
        assert "yibao: redis mymaster (127.0.0.1:%d) is up" % master.port \
            in logs, logs
        assert "yibao: redis mymaster (127.0.0.1:%d) is up" % replica.port \
            in logs, logs
        assert "is down" in logs
    finally:
        for server in (sentinel, replica, master):
            if server is not None:
                server.stop()


def test_sentinel_unknown_master_is_store_down(make_stack, tmp_path):
    master = Redis(os.path.join(str(tmp_path), "master")).start()
    sentinel = Sentinel(os.path.join(str(tmp_path), "sentinel"),
                        master.port).start()
    try:
        stack = make_stack(
            scheme="none", redis_address="sentinel:nosuchmaster",
            redis_options="sentinel=127.0.0.1:%d timeout=300ms "
                          "connect_timeout=500ms" % sentinel.port,
            limits=(LIMIT % " on_error=closed",))
        clinic = ready_clinic(stack)
        r = send(stack, envelope(clinic), timeout=10)
        assert r.status == 503, r.body
        assert access(stack)[-1]["store"] == "down"
        logs = harness.error_log_text(stack)
        assert "the Sentinel does not know the master" in logs, logs
    finally:
        sentinel.stop()
        master.stop()


def test_sentinel_config_errors(make_stack):
    for line, words in [
            ("yibao_redis sentinel:;", ["needs the master's name"]),
            ("yibao_redis sentinel:m;", ["needs at least one"]),
            ("yibao_redis 127.0.0.1:6379 sentinel=127.0.0.1:26379;",
             ["needs \"sentinel:NAME\""]),
            ("yibao_redis sentinel:m sentinel=bad:host:x;",
             ["invalid Sentinel address"])]:
        stack = make_stack(start=False, limits=(), http_extra=line)
        rc, out = stack.test_config()
        assert rc != 0 and "nginx.conf:" in out, out
        for word in words:
            assert word in out, out
