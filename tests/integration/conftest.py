import os

import pytest

import harness


@pytest.fixture
def make_stack(tmp_path):
    """make_stack(**kwargs) starts a Stack (see tools/yibao_stack.py) in
    its own folder; every stack is stopped at teardown and its error log
    must be free of alerts, crits, emergs and sanitizer reports."""
    stacks = []

    def make(start=True, **kwargs):
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
