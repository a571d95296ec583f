"""A reply that cannot be published (the broker went away while a service was
answering) must not kill the service: the caller times out, the service lives on
and answers the next call."""
from unittest import mock

import pytest
from kombu.exceptions import OperationalError
from nameko.rpc import Responder
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.exceptions import RpcTimeout

from services.common.rpc import rpc


class EchoService:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


def test_a_reply_that_cannot_be_published_does_not_kill_the_service(container_factory, rabbit_config):
    container = container_factory(EchoService, rabbit_config)
    container.start()
    real_send = Responder.send_response
    failures = []

    def broker_gone_once(self, result, exc_info):
        if not failures:
            failures.append(result)
            raise OperationalError("[Errno 111] ECONNREFUSED")
        return real_send(self, result, exc_info)

    with mock.patch.object(Responder, "send_response", broker_gone_once):
        with ClusterRpcProxy(rabbit_config, timeout=2) as cluster:
            with pytest.raises(RpcTimeout):
                cluster.echo.echo("lost")
        with ClusterRpcProxy(rabbit_config, timeout=5) as cluster:
            assert cluster.echo.echo("next") == "next"
    assert failures == ["lost"]
    assert not container._died.ready()  # the container (the service process) lives on


def test_an_ack_on_a_connection_the_broker_dropped_does_not_kill_the_service(container_factory, rabbit_config):
    from kombu.message import Message
    from nameko.amqp.publish import Publisher

    from contracts import topology
    from contracts.enrollment import PROGRAM_CREATED
    from tests.integration.test_reliable_events import CountingService, count_of, program_created
    from tests.waiting import eventually

    CountingService.transient_failures, CountingService.broken_ids = 0, set()
    container = container_factory(CountingService, rabbit_config)
    container.start()
    real_ack, failures = Message.ack, []

    def reset_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise ConnectionResetError(104, "Connection reset by peer")
        return real_ack(self, *args, **kwargs)

    def publish(program_id):
        Publisher(rabbit_config["AMQP_URI"]).publish(
            program_created(program_id), exchange=topology.event_exchange("enrollment"),
            routing_key=PROGRAM_CREATED.type)

    with mock.patch.object(Message, "ack", reset_once):
        publish("p-ack-1")
        eventually(lambda: failures and count_of("p-ack-1") == 1)
    publish("p-ack-2")  # the service still consumes
    eventually(lambda: count_of("p-ack-2") == 1, timeout=10)
    assert not container._died.ready()
