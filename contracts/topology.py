"""Who consumes which event: the one table from which every consumer queue is
declared. Each service declares *all* queues at start-up, so an event is never
published before its consumers' queues exist, whatever the start order
(nameko publishes with mandatory=False: a message with no queue is dropped)."""
import os

from kombu import Exchange, Queue

from contracts import assessment, content, enrollment  # noqa: F401  (loads the event definitions)
from contracts.assessment import QUIZ_SCORED
from contracts.content import ATTENDANCE_RECORDED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED,
                                  STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_CHANGED, TEAM_FORMED)

# consumer service -> the event types it handles (one @on_event handler each;
# tests/unit/test_topology.py checks this table against the service classes)
SUBSCRIPTIONS = {
    "supervision": [PROGRAM_CREATED, APPLICATION_SUBMITTED, STUDENT_ADMITTED, ATTENDANCE_RECORDED],
    "enrollment": [QUIZ_SCORED],
    "content": [PROGRAM_CREATED, STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_FORMED, TEAM_CHANGED,
                MENTOR_ASSIGNED, MENTOR_UNASSIGNED],
}


def event_exchange(source):
    # Same arguments as nameko's get_event_exchange, so both declare alike.
    return Exchange(f"{source}.events", type="topic", durable=True, delivery_mode=2)


def consumer_queue(consumer, event_type):
    return Queue(
        f"praxis.{consumer}--{event_type.source}.{event_type.type}",
        exchange=event_exchange(event_type.source),
        routing_key=event_type.type,
        durable=True, auto_delete=False, queue_arguments=queue_arguments(),
    )


def all_queues():
    return [consumer_queue(consumer, et)
            for consumer, event_types in SUBSCRIPTIONS.items() for et in event_types]


def declare_all(connection):
    """Declare every exchange, consumer queue and binding (idempotent)."""
    channel = connection.channel()
    try:
        for queue in all_queues():
            queue.bind(channel).declare()
    finally:
        channel.close()


def subscribed_types():
    """``{(source, type)}`` of every event type that has at least one consumer."""
    return {(et.source, et.type) for event_types in SUBSCRIPTIONS.values() for et in event_types}


def queue_arguments():
    """``PRAXIS_QUEUE_TYPE=quorum`` on a RabbitMQ cluster: every consumer queue (and
    every service's RPC queue) is a quorum queue, replicated on the cluster's nodes.
    Unset (the default): classic queues, as on a single broker."""
    kind = os.environ.get("PRAXIS_QUEUE_TYPE")
    return {"x-queue-type": kind} if kind else None
