"""RPC with deadlines.

nameko does not cancel a call whose caller timed out: the request stays queued and
runs later. The gateway sends its deadline (epoch seconds) in the ``deadline``
context header; this entrypoint drops a call whose deadline has passed instead of
running it for nobody.
"""
import logging
import time

from nameko.rpc import Rpc

from contracts.errors import PraxisError

log = logging.getLogger("praxis.rpc")

DEADLINE_HEADER = "nameko.deadline"


class DeadlineRpc(Rpc):

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

