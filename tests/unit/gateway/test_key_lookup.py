"""Unauthenticated traffic costs bounded memory: a malformed key is refused before any
lookup, the key cache is bounded, and requests without a valid key are rate-limited per
client address."""
import pytest

from gateway import auth, create_app


class CountingKeys:
    def __init__(self):
        self.lookups = 0

    def find_one(self, query):
        self.lookups += 1
        return None


class FakeDb:
    def __init__(self):
        self.api_keys = CountingKeys()


@pytest.fixture
def db(monkeypatch):
    fake = FakeDb()
    monkeypatch.setattr(auth, "get_db", lambda: fake)
    monkeypatch.setattr(auth, "_cache", auth.OrderedDict())
    return fake


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setenv("PRAXIS_JSON_LOGS", "0")
    return create_app({"UNAUTHENTICATED_PER_MINUTE": 60, "TESTING": True})


def well_formed(n):
    return f"prx_{n:016x}_{'a' * 43}"


def test_a_malformed_key_is_refused_without_a_lookup(app, db):
    client = app.test_client()
    for token in ("prx_" + "a" * 5000 + "_b", "prx_XYZ_" + "a" * 43, "prx_0123456789abcdef_short", "nonsense"):
        response = client.get("/api/v1/programs", headers={"Authorization": f"Bearer {token}"},
                              environ_base={"REMOTE_ADDR": f"10.0.0.{len(token) % 250}"})
        assert response.status_code == 401
    assert db.api_keys.lookups == 0 and len(auth._cache) == 0


def test_the_key_cache_stays_bounded_however_many_unknown_keys_are_tried(app, db, monkeypatch):
    monkeypatch.setattr(auth, "_CACHE_SIZE", 50)
    client = app.test_client()
    for n in range(200):
        client.get("/api/v1/programs", headers={"Authorization": f"Bearer {well_formed(n)}"},
                   environ_base={"REMOTE_ADDR": f"10.1.{n // 250}.{n % 250}"})
    assert db.api_keys.lookups == 200 and len(auth._cache) == 50


def test_requests_without_a_valid_key_are_limited_per_client_address(app, db):
    client = app.test_client()
    statuses = [client.get("/api/v1/programs", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code
                for _ in range(15)]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429  # a burst of ten seconds' worth, then 429
    assert client.get("/api/v1/programs", environ_base={"REMOTE_ADDR": "10.9.9.10"}).status_code == 401
