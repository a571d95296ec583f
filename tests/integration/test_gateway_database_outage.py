"""The gateway's database goes away: requests answer 503 with Retry-After (never
500), and no Idempotency-Key stays stuck afterwards, whether its request failed
with the database or its gateway worker died."""
import threading

import pytest
from flask import jsonify
from nameko.exceptions import RemoteError

from gateway import create_app, db as gateway_db, idempotency
from gateway.auth import _cache as key_cache, create_key
from gateway.idempotency import idempotent
from tests.processes import PrivateDatabase
from tests.waiting import eventually


@pytest.fixture
def database(isolated_environment, tmp_path, monkeypatch):
    database = PrivateDatabase(tmp_path)
    monkeypatch.setenv("MONGO_URI", database.uri)
    monkeypatch.setenv("PRAXIS_JSON_LOGS", "0")
    monkeypatch.setattr(idempotency, "LEASE_SECONDS", 2.0)
    gateway_db.reset()
    key_cache.clear()
    yield database
    gateway_db.reset()
    key_cache.clear()
    database.close()


@pytest.fixture
def app(database):
    app = create_app()
    runs = app.config["test_runs"] = []
    behaviour = app.config["test_behaviour"] = {}

    @idempotent
    def work():
        runs.append(1)
        action = behaviour.pop("next", None)
        if action:
            action()
        return jsonify(run=len(runs)), 201

    app.add_url_rule("/api/v1/test-work", "test_work", work, methods=["POST"])
    return app


def post(client, key, idempotency_key="k1"):
    return client.post("/api/v1/test-work", json={"x": 1}, headers={
        "Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key})


def assert_unavailable(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0


def test_with_the_database_away_requests_answer_503_with_retry_after(app, database):
    key = create_key("jufe", "admin")
    client = app.test_client()
    assert post(client, key, "warm").status_code == 201
    database.kill()
    assert_unavailable(post(client, key, "during"))  # the key is cached: the idempotency record fails
    key_cache.clear()
    assert_unavailable(post(client, key, "during"))  # the key lookup fails
    assert_unavailable(client.get("/api/v1/programs", headers={"Authorization": f"Bearer {key}"}))
    database.start()
    assert eventually(lambda: post(client, key, "during").status_code == 201, timeout=15)


def test_a_request_that_failed_with_the_database_releases_its_key(app, database):
    key = create_key("jufe", "admin")
    client = app.test_client()
    app.config["test_behaviour"]["next"] = lambda: (database.kill(), gateway_db.get_db().command("ping"))
    assert_unavailable(post(client, key))
    database.start()
    answers = []
    eventually(lambda: answers.append(post(client, key).status_code) or answers[-1] == 201, timeout=10)
    assert answers[-1] == 201 and len(app.config["test_runs"]) == 2
    assert post(client, key).headers.get("Idempotent-Replayed") == "true"


def test_a_key_held_by_a_dead_worker_is_taken_over_within_seconds_but_a_live_one_is_not(app, database, monkeypatch):
    key = create_key("jufe", "admin")
    client = app.test_client()
    release = threading.Event()
    app.config["test_behaviour"]["next"] = release.wait
    first = threading.Thread(target=lambda: post(app.test_client(), key))
    first.start()
    try:
        eventually(lambda: app.config["test_runs"])
        # alive (its lease is renewed) for three lease periods: retries wait
        for _ in range(3):
            assert post(client, key).status_code == 409
            threading.Event().wait(idempotency.LEASE_SECONDS)
    finally:
        release.set()
        first.join()
    assert post(client, key).headers.get("Idempotent-Replayed") == "true"

    # a worker that dies mid-request renews nothing: its record is taken over
    monkeypatch.setattr(idempotency._Lease, "_renew", lambda self: None)
    stuck = threading.Event()
    app.config["test_behaviour"]["next"] = stuck.wait
    threading.Thread(target=lambda: post(app.test_client(), key, "k2"), daemon=True).start()
    eventually(lambda: len(app.config["test_runs"]) == 2)
    assert post(client, key, "k2").status_code == 409
    eventually(lambda: post(client, key, "k2").status_code == 201, timeout=10)
    stuck.set()


def test_a_service_whose_database_is_away_answers_503(app, database):
    key = create_key("jufe", "admin")

    class Pool:
        def call(self, service, method, *args, **kwargs):
            raise RemoteError("ServerSelectionTimeoutError", "127.0.0.1:27017: [Errno 111] Connection refused")
    app.extensions["praxis_rpc"] = Pool()
    assert_unavailable(app.test_client().get("/api/v1/programs", headers={"Authorization": f"Bearer {key}"}))
