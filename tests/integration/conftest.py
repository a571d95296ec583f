"""Integration tests: services run in this process (nameko's container_factory)
against the real broker, in a vhost of this run, and the real database server,
in databases of their own for each test."""
import itertools
import os

import mongoengine
import pytest
from kombu import Connection

from contracts import topology
from services.common.config import SERVICES

_counter = itertools.count()


@pytest.fixture(scope="session")
def integration_amqp_uri(make_vhost):
    return make_vhost("integration")


@pytest.fixture(autouse=True)
def isolated_environment(integration_amqp_uri, mongo_uri, drop_databases, monkeypatch):
    """Fresh databases and empty queues for every test."""
    prefix = f"it{os.getpid()}x{next(_counter)}"
    drop_databases.append(prefix)
    monkeypatch.setenv("AMQP_URI", integration_amqp_uri)
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("PRAXIS_DB_PREFIX", prefix)
    with Connection(integration_amqp_uri) as connection:
        topology.declare_all(connection)
        channel = connection.channel()
        for queue in topology.all_queues():
            queue.bind(channel).purge()
        channel.close()
    yield
    for alias in SERVICES:
        mongoengine.disconnect(alias)


@pytest.fixture
def rabbit_config(integration_amqp_uri):
    """Replaces nameko's fixture (which needs the management plugin)."""
    return {"AMQP_URI": integration_amqp_uri, "serializer": "json", "max_workers": 10}


@pytest.fixture
def supervision():
    """A supervision worker (nameko's worker_factory) on the real repository, with
    programme p1 created: for tests that call its steps directly, in order."""
    from nameko.testing.services import worker_factory
    from services.common.storage import connect
    from services.supervision.repository import SupervisionRepository
    from services.supervision.service import SupervisionService
    from tests.unit.supervision.helpers import program_created
    connect("supervision")
    service = worker_factory(SupervisionService, store=SupervisionRepository())
    service.on_program_created(program_created())
    return service
