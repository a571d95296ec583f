"""End-to-end tests: the five services and the gateway run as their own
processes (as `make run` starts them), and tests speak HTTP to the gateway."""
import os

import pymongo
import pytest
import requests

from deploy import local
from gateway.auth import create_key
from tests.conftest import RUN_ID


@pytest.fixture(scope="package")
def system(make_vhost, mongo_uri, drop_databases, tmp_path_factory):
    prefix = f"e2e{RUN_ID}"
    drop_databases.append(prefix)
    env = {**os.environ, "AMQP_URI": make_vhost("e2e"), "MONGO_URI": mongo_uri,
           "PRAXIS_DB_PREFIX": prefix, "PRAXIS_RPC_TIMEOUT": "10",
           "PRAXIS_DEADLINE_SCAN_SECONDS": "1",
           # the role matrix calls every operation without a key at once (hundreds of routes)
           "PRAXIS_UNAUTHENTICATED_PER_MINUTE": "6000",
           # LMS platforms and webhook receivers of the tests listen on the loopback, over http
           "PRAXIS_ALLOW_LOOPBACK_HTTP": "1", "PRAXIS_WEBHOOK_FIRST_RETRY_SECONDS": "0.2",
           # the role matrix calls every operation without a key from one address: more than
           # the default burst (100) now that there are over 100 operations
           "PRAXIS_UNAUTHENTICATED_PER_MINUTE": "6000"}
    running = local.System(tmp_path_factory.mktemp("system"), env=env,
                           gateway_port=local.free_port())
    try:
        running.start()
    except RuntimeError as exc:
        logs = running.var_dir / "log"
        tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))
        running.stop()
        pytest.fail(f"the system did not start: {exc}\n{tails}")
    yield running
    running.stop()


@pytest.fixture(scope="package")
def gateway_db(system):
    client = pymongo.MongoClient(system.env["MONGO_URI"])
    yield client[f"{system.env['PRAXIS_DB_PREFIX']}_gateway"]
    client.close()


class Client:
    """A requests session bound to the gateway and one API key."""

    def __init__(self, base_url, key=None):
        self.base_url = base_url
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def acting(self, person):
        """The same key acting for ``person`` (``student:<id>`` or ``staff:<id>``) in X-Acting-User."""
        other = Client(self.base_url)
        other.session.headers.update(self.session.headers)
        other.session.headers["X-Acting-User"] = person
        return other

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="package")
def client_for(system, gateway_db):
    """``client_for(school, role, partner=None, acting=None)``: a Client with a fresh real API key
    (acting: the X-Acting-User it sends, e.g. ``staff:registrar`` for the LMS acting for staff)."""
    def make(school, role, partner=None, acting=None):
        client = Client(system.base_url, create_key(school, role, partner_id=partner, db=gateway_db))
        return client.acting(acting) if acting else client
    return make


@pytest.fixture(scope="package")
def anonymous(system):
    return Client(system.base_url)
