"""The gateway's RPC deadline holds when the broker freezes: waiting for a free
proxy, opening one and publishing the request all count against it, so every
call ends in ServiceUnavailable (503) within the deadline and a small margin."""
import threading
import time

import pytest

from gateway.rpc import RpcPool, ServiceUnavailable
from services.common.rpc import rpc
from tests.freezer import FreezableRelay
from tests.waiting import eventually

DEADLINE = 2.0
MARGIN = 2.5  # a loaded machine schedules late; a hang is 15 s


class EchoService:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


@pytest.fixture
def relay(rabbit_config):
    relay = FreezableRelay(rabbit_config["AMQP_URI"])
    yield relay
    relay.close()


def answers(pool):
    try:
        return pool.call("echo", "echo", "after") == "after"
    except ServiceUnavailable:
        return False


def timed_failure(pool):
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        pool.call("echo", "echo", "x")
    return time.monotonic() - started


def test_calls_through_a_frozen_broker_fail_within_their_deadline(container_factory, rabbit_config, relay):
    container_factory(EchoService, rabbit_config).start()
    pool = RpcPool({**rabbit_config, "AMQP_URI": relay.uri}, size=2, timeout=DEADLINE)
    try:
        assert pool.call("echo", "echo", "warm") == "warm"  # an open proxy in the pool
        relay.freeze()
        watchdog = threading.Timer(15, relay.thaw)  # without deadlines, the calls hang until then
        watchdog.start()
        # the open proxy (publishing hangs), new proxies (opening hangs), then a
        # saturated pool (waiting for a free proxy): each within its own deadline
        took = [timed_failure(pool) for _ in range(4)]
        assert max(took) < DEADLINE + MARGIN, took
        relay.thaw()
        eventually(lambda: answers(pool), timeout=20)  # the pool heals once the broker thaws
        watchdog.cancel()
        eventually(lambda: pool._slots._value == 2)  # the stuck calls came loose and closed their proxies
    finally:
        relay.thaw()
        pool.close()
