"""The gateway's pooled RPC client against the real broker: deadlines turn into
503 with Retry-After, never a hang; proxies are reused, not opened per request."""
import eventlet
import pytest
from nameko.testing.services import entrypoint_waiter  # noqa: F401  (nameko.testing in use)

from gateway import create_app, db as gateway_db
from gateway.auth import create_key
from gateway.rpc import RpcPool, ServiceUnavailable
from services.common.rpc import rpc


class SlowService:
    name = "slow"
    calls = []

    @rpc
    def wait(self, caller, seconds):
        SlowService.calls.append(seconds)
        eventlet.sleep(seconds)
        return seconds


@pytest.fixture
def pool(rabbit_config):
    pool = RpcPool(rabbit_config, size=4, timeout=1.0)
    yield pool
    pool.close()


def test_a_call_past_its_deadline_raises_service_unavailable_instead_of_hanging(container_factory, rabbit_config, pool):
    container_factory(SlowService, rabbit_config).start()
    assert pool.call("slow", "wait", {}, 0) == 0
    with pytest.raises(ServiceUnavailable) as unavailable:
        pool.call("slow", "wait", {}, 3)
    assert unavailable.value.retry_after > 0
    assert pool.call("slow", "wait", {}, 0) == 0  # the pool still works afterwards


def test_proxies_are_reused_between_calls(container_factory, rabbit_config, pool):
    container_factory(SlowService, rabbit_config).start()
    for _ in range(5):
        pool.call("slow", "wait", {}, 0)
    assert pool._idle.qsize() == 1  # one open proxy served all five sequential calls


def test_a_service_that_is_not_running_answers_503_with_retry_after(rabbit_config, monkeypatch):
    monkeypatch.setenv("PRAXIS_JSON_LOGS", "0")
    gateway_db.reset()
    app = create_app({"RPC_TIMEOUT": 2.0})
    app.extensions["praxis_rpc"] = RpcPool(rabbit_config, size=2, timeout=2.0)
    key = create_key("jufe", "admin")
    response = app.test_client().get("/api/v1/programs", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert "enrollment" in response.get_json()["detail"]
    gateway_db.reset()
