"""Telemetry from the partners' simulation platforms: the gateway publishes each
accepted batch itself, with pika and publisher confirms, so that a 202 never waits
for the supervision service (which may be down: the batch waits in its durable
queue, declared here from contracts.topology before the first publish).

One connection and one confirming channel per gateway worker process, shared by
its requests under a lock (a pika channel is not safe to use concurrently), opened
again after a failure. Publishing is ``mandatory``: a batch no queue takes is an
error (503), never a silent drop.
"""
import json
import logging
import os
import threading
import uuid

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from contracts import topology
from contracts.events import make_event
from contracts.supervision import TELEMETRY_INGESTED
from gateway.rpc import ServiceUnavailable
from services.common.config import amqp_uri

log = logging.getLogger("praxis.gateway.telemetry")


class TelemetryPublisher:

    def __init__(self, uri=None, timeout=10.0):
        self.uri = uri or amqp_uri()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connection = self._channel = None
        self._pid = None

    def _open(self):
        params = pika.URLParameters(self.uri)
        params.socket_timeout = self.timeout
        params.blocked_connection_timeout = self.timeout
        params.connection_attempts = 1
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.confirm_delivery()
        for queue in topology.all_queues():  # nothing is published into nothing
            channel.exchange_declare(queue.exchange.name, exchange_type="topic", durable=True)
            channel.queue_declare(queue.name, durable=True)
            channel.queue_bind(queue.name, queue.exchange.name, routing_key=queue.routing_key)
        self._connection, self._channel, self._pid = connection, channel, os.getpid()

    def _close(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a broken connection may fail to close: nothing to keep
                log.debug("closing the telemetry connection failed", exc_info=True)

    def publish(self, envelope):
        """Publish one event and wait for the broker's confirm; ServiceUnavailable
        (503 with Retry-After) when it cannot be confirmed."""
        body = json.dumps(envelope).encode()
        exchange = topology.event_exchange(envelope["source"]).name
        properties = pika.BasicProperties(
            content_type="application/json", content_encoding="utf-8", delivery_mode=2,
            message_id=envelope["event_id"], correlation_id=envelope["correlation_id"])
        with self._lock:
            for attempt in (1, 2):  # a connection the broker dropped while idle is opened again once
                try:
                    if self._channel is None or self._channel.is_closed or self._pid != os.getpid():
                        self._close()
                        self._open()
                    self._channel.basic_publish(exchange, envelope["type"], body, properties, mandatory=True)
                    return
                except (UnroutableError, NackError) as exc:
                    log.error("telemetry batch not confirmed", extra={"event_id": envelope["event_id"],
                                                                      "reason": exc.__class__.__name__})
                    raise ServiceUnavailable("the message broker did not take the batch; retry")
                except (AMQPError, OSError) as exc:
                    self._close()
                    if attempt == 2:
                        log.warning("telemetry publish failed", extra={"reason": repr(exc)})
                        raise ServiceUnavailable("the message broker is unreachable; retry")

    def close(self):
        with self._lock:
            self._close()


def batch_event(caller, program_id, records):
    """The telemetry.ingested event of an accepted batch (records already valid)."""
    batch_id = uuid.uuid4().hex
    return make_event(TELEMETRY_INGESTED, {
        "batch_id": batch_id, "program_id": program_id, "partner_id": caller.get("partner_id"),
        "records": records}, school_id=caller["school_id"], actor=caller["actor"],
        correlation_id=caller.get("correlation_id"))
