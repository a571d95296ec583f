"""`make run` keeps every process running: one that exits is started again after a
backoff that grows while it keeps dying, and the operator is told."""
import subprocess
import sys

from deploy.local import Supervised


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def crashing():
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])


def test_a_process_that_exits_is_restarted_with_growing_backoff_and_the_operator_is_told():
    clock, said, started = Clock(), [], []

    def start():
        started.append(crashing())
        return started[-1]

    supervised = Supervised("content", start, clock=clock, tell=said.append)
    started[-1].wait()
    supervised.check()
    assert len(started) == 1 and said == ["content exited with code 3; restarting it in 1 s"]
    clock.now = 0.5
    supervised.check()
    assert len(started) == 1  # not before its backoff
    clock.now = 1.0
    supervised.check()
    assert len(started) == 2 and supervised.restarts == 1
    assert said[-1].startswith(f"content restarted (pid {started[-1].pid}")
    started[-1].wait()
    supervised.check()
    assert said[-1] == "content exited with code 3; restarting it in 2 s"
    clock.now = 2.9
    supervised.check()
    assert len(started) == 2
    clock.now = 3.0
    assert supervised.check() is started[-1] and len(started) == 3


def test_a_process_that_stays_up_is_left_alone_and_its_backoff_resets():
    clock = Clock()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        supervised = Supervised("gateway", lambda: None, process=process, clock=clock, tell=print)
        supervised.backoff = 16
        clock.now = 61
        assert supervised.check() is process
        assert supervised.backoff == Supervised.FIRST and supervised.restarts == 0
    finally:
        process.kill()
        process.wait()
