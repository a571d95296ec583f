"""Fixtures shared by the suite.

Unit tests need nothing from here. Integration and end-to-end tests run against
the real RabbitMQ (AMQP_URI, each in a vhost of its own made for this run) and a
real database server: nx-27017 started on a free port, or the server MONGO_URI
points at (MongoDB 7, say) with database names unique to this run.
"""
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import pymongo
import pytest
import requests

from deploy import local

RUN_ID = uuid.uuid4().hex[:8]
BASE_AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def _vhost_uri(vhost):
    parts = urlparse(BASE_AMQP_URI)
    return urlunparse(parts._replace(path="/" + quote(vhost, safe="")))


def _rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)


def _management_url(path):
    parts = urlparse(BASE_AMQP_URI)
    base = os.environ.get("PRAXIS_RABBIT_MANAGEMENT", f"http://{parts.hostname}:15672")
    return f"{base}/api/{path}", (parts.username or "guest", parts.password or "guest")


def _create_vhost(vhost):
    """A vhost of our own, through rabbitmqctl (local broker) or the management API."""
    user = urlparse(BASE_AMQP_URI).username or "guest"
    if shutil.which("rabbitmqctl") and urlparse(BASE_AMQP_URI).hostname in ("127.0.0.1", "localhost"):
        if _rabbitmqctl("add_vhost", vhost).returncode == 0:
            _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
            return "rabbitmqctl"
    url, auth = _management_url(f"vhosts/{quote(vhost, safe='')}")
    try:
        requests.put(url, auth=auth, timeout=10).raise_for_status()
        url, _ = _management_url(f"permissions/{quote(vhost, safe='')}/{user}")
        requests.put(url, auth=auth, json={"configure": ".*", "write": ".*", "read": ".*"},
                     timeout=10).raise_for_status()
        return "management"
    except requests.RequestException as exc:
        pytest.exit(f"cannot make a test vhost on {BASE_AMQP_URI}: enable rabbitmq_management "
                    f"or run the tests where rabbitmqctl reaches the broker ({exc})", 2)


def _delete_vhost(vhost, how):
    if how == "rabbitmqctl":
        _rabbitmqctl("delete_vhost", vhost)
    else:
        url, auth = _management_url(f"vhosts/{quote(vhost, safe='')}")
        requests.delete(url, auth=auth, timeout=10)


@pytest.fixture(scope="session")
def make_vhost():
    """``make_vhost(name) -> AMQP URI`` of a vhost deleted at the end of the run."""
    made = []

    def make(name):
        vhost = f"praxis-test-{RUN_ID}-{name}"
        made.append((vhost, _create_vhost(vhost)))
        return _vhost_uri(vhost)

    yield make
    for vhost, how in made:
        _delete_vhost(vhost, how)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    """The database server for this run: MONGO_URI if given, else nx-27017."""
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    var = tmp_path_factory.mktemp("nx")
    port = local.free_port()
    process = local.start_database(var / "db", port, var)
    yield f"mongodb://127.0.0.1:{port}/"
    local.stop([process])


@pytest.fixture(scope="session")
def drop_databases(mongo_uri):
    """Every test database prefix handed out is dropped at the end (on a shared server)."""
    prefixes = []
    yield prefixes
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=3000)
    try:
        for name in client.list_database_names():
            if any(name.startswith(prefix + "_") for prefix in prefixes):
                client.drop_database(name)
    finally:
        client.close()
