"""Who consumes which event: the one table from which every consumer queue is
declared. Each service declares *all* queues at start-up, so an event is never
published before its consumers' queues exist, whatever the start order
(nameko publishes with mandatory=False: a message with no queue is dropped)."""
from kombu import Exchange, Queue

from contracts import assessment, content, enrollment  # noqa: F401  (loads the event definitions)
from contracts import supervision as _supervision  # noqa: F401  (supervision events)
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
        durable=True, auto_delete=False,
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

# supervision's whole domain: telemetry (published by the gateway with pika), sessions,
# teams and mentors, replays, questions and feedback (issue 10)
SUBSCRIPTIONS["supervision"] += [
    _supervision.TELEMETRY_INGESTED, STUDENT_WITHDRAWN, TEAM_FORMED, TEAM_CHANGED, MENTOR_ASSIGNED,
    MENTOR_UNASSIGNED, enrollment.TUTOR_ASSIGNED, content.SESSION_SCHEDULED, content.SESSION_CHANGED,
    content.SESSION_CANCELLED, content.REPLAY_WATCHED, content.QUESTION_ASKED, content.QUESTION_ANSWERED,
    content.QUESTION_OVERDUE, content.FEEDBACK_SUBMITTED]
# supervision: submitting / finished, missing work (assessment's events, issue 10)
SUBSCRIPTIONS["supervision"] += [assessment.ASSESSMENT_PUBLISHED, assessment.SUBMISSION_RECEIVED,
                                 assessment.DEADLINE_MISSED, assessment.COMPETITION_SCORE_RECORDED]
