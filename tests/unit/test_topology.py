"""The subscription table and the services' handlers must agree: a subscription
without a handler fills a queue nobody reads; a handler without a subscription
would miss events published before it first started."""
import importlib

import pytest

from contracts import topology
from services.common.config import SERVICES
from services.common.events import ReliableEventHandler
from deploy.local import SERVICE_CLASSES


def handled_event_types(service_cls):
    found = []
    for attr in vars(service_cls).values():
        for entrypoint in getattr(attr, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ReliableEventHandler):
                found.append(entrypoint.praxis_event_type)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_subscription_has_exactly_one_handler_and_every_handler_a_subscription(service):
    service_cls = getattr(importlib.import_module(f"services.{service}.service"), SERVICE_CLASSES[service])
    handled = handled_event_types(service_cls)
    assert len(handled) == len(set(handled)), "one handler per event type and service"
    assert sorted(map(str, handled)) == sorted(map(str, topology.SUBSCRIPTIONS.get(service, [])))


def test_queue_names_are_unique_and_say_who_consumes_what():
    names = [q.name for q in topology.all_queues()]
    assert len(names) == len(set(names))
    assert "praxis.supervision--enrollment.program.created.v1" in names
