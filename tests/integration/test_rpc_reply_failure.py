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
