import os
import re

import pytest

import harness

# Redis's command timeout where a test does not set its own: the module's
# 100 ms is a production value, and a loaded machine leaves redis-server
# unscheduled for longer now and then (its RDB snapshot forks as well); a
# command that times out opens the circuit (Redis down, by design), and a
# test that is not about that would see a 503 or "store":"down".  The
# tests of timeouts and of a paused Redis set theirs.
REDIS_TIMEOUT = "timeout=10s"


@pytest.fixture
def make_stack(tmp_path):
    """make_stack(**kwargs) starts a Stack (see tools/yibao_stack.py) in
    its own folder; every stack is stopped at teardown and its error log
    must be free of alerts, crits, emergs and sanitizer reports.  With a
    running Redis, the stack is started once every worker is connected
    to it (Stack.wait_redis)."""
    stacks = []

    def make(start=True, **kwargs):
        if (kwargs.get("redis") or kwargs.get("redis_address")) and \
                not re.search(r"(^|\s)timeout=",
                              kwargs.get("redis_options", "")):
            kwargs["redis_options"] = (kwargs.get("redis_options", "")
                                       + " " + REDIS_TIMEOUT).strip()
        stack = harness.Stack(os.path.join(str(tmp_path),
                                           "stack%d" % len(stacks)),
                              **kwargs)
        stacks.append(stack)
        if start:
            stack.start()
        else:
            stack.write_files()
        return stack

    yield make

    problems = []
    for stack in stacks:
        stack.stop()
        problems += harness.log_problems(stack.error_log,
                                         getattr(stack, "allowed_log", ()))
        problems += harness.valgrind_problems(stack)
    assert not problems, "nginx error log:\n" + "\n".join(problems)


@pytest.fixture
def make_redis(tmp_path):
    """make_redis(persist=None|"aof"|"rdb") starts a real redis-server on
    a free loopback port; all are stopped at teardown."""
    servers = []

    def make(**kwargs):
        server = harness.yibao_stack.Redis(
            os.path.join(str(tmp_path), "redis%d" % len(servers)), **kwargs)
        servers.append(server)
        return server.start()

    yield make

    for server in servers:
        server.stop()
