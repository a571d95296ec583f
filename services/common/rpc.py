"""RPC with deadlines, and replies that cannot kill the service.

nameko does not cancel a call whose caller timed out: the request stays queued and
runs later. The gateway sends its deadline (epoch seconds) in the ``deadline``
context header; this entrypoint drops a call whose deadline has passed instead of
running it for nobody.

nameko publishes an RPC's reply from the worker's ``handle_result``; when the
broker went away meanwhile the publish raises, the worker's thread dies with it
and nameko kills the whole container (the service process exits). Here a reply
that cannot be sent is logged and dropped: the caller times out (503 with
Retry-After). The request is acknowledged when the channel still lives (the work
was done; a retry with the same Idempotency-Key finds its effect); when the
connection died with the broker, the broker hands the request back after the
consumer has reconnected, and the deadline drops it if its caller gave up.
"""
import logging
import time

from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer

from contracts import topology
from contracts.errors import PraxisError

log = logging.getLogger("praxis.rpc")

DEADLINE_HEADER = "nameko.deadline"


class SafeQueueConsumer(QueueConsumer):
    """nameko's QueueConsumer, except that acknowledging (or requeueing) a message
    on a connection the broker just dropped is not fatal: nameko only checks that
    the connection object is there, and a ``ConnectionResetError`` from the socket
    then kills the worker's thread and the whole service. The broker hands an
    unacknowledged message out again after the consumer has reconnected."""

    def ack_message(self, message):
        self._surviving(super().ack_message, message, "acknowledge")

    def requeue_message(self, message):
        self._surviving(super().requeue_message, message, "requeue")

    @staticmethod
    def _surviving(action, message, what):
        try:
            action(message)
        except Exception as exc:
            log.warning(f"could not {what} a message; the broker will deliver it again",
                        extra={"error": f"{exc.__class__.__name__}: {exc}"})


class ResilientRpcConsumer(RpcConsumer):
    """nameko's RpcConsumer, except that a failed reply (or ack) is not fatal; its
    queue is a quorum queue when PRAXIS_QUEUE_TYPE says so (a RabbitMQ cluster)."""

    queue_consumer = SafeQueueConsumer()

    def setup(self):
        super().setup()
        if self.queue is not None and topology.queue_arguments():
            self.queue.queue_arguments = topology.queue_arguments()

    def handle_result(self, message, result, exc_info):
        try:
            return super().handle_result(message, result, exc_info)
        except Exception as exc:  # the broker is away (OperationalError, OSError, ...)
            log.error("could not send an RPC reply; the caller will time out", extra={
                "service": self.container.service_name,
                "routing_key": message.delivery_info.get("routing_key"),
                "correlation_id": message.headers.get("nameko.correlation_id"),
                "error": f"{exc.__class__.__name__}: {exc}"})
            try:
                self.queue_consumer.ack_message(message)
            except Exception:  # the channel died with the broker: it is redelivered
                log.debug("could not acknowledge the request either", exc_info=True)
            return result, exc_info


class DeadlineRpc(Rpc):

    rpc_consumer = ResilientRpcConsumer()

    def __init__(self, expected_exceptions=PraxisError, **kwargs):
        # a refusal (404, 409, 422) is an answer, not a service failure: logged as a warning
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_message(self, body, message):
        deadline = message.headers.get(DEADLINE_HEADER)
        if deadline is not None and float(deadline) < time.time():
            log.warning("dropped an RPC whose caller had given up", extra={
                "method": self.method_name,
                "correlation_id": message.headers.get("nameko.correlation_id"),
                "late_by_s": round(time.time() - float(deadline), 3)})
            self.rpc_consumer.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)


rpc = DeadlineRpc.decorator
