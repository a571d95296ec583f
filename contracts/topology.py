"""Who consumes which event: the one table from which every consumer queue is
declared. Each service declares *all* queues at start-up, so an event is never
published before its consumers' queues exist, whatever the start order
(nameko publishes with mandatory=False: a message with no queue is dropped)."""
import os

from kombu import Exchange, Queue

from contracts import assessment, content, enrollment  # noqa: F401  (loads the event definitions)
from contracts import incentives  # noqa: F401
from contracts import supervision as _supervision  # noqa: F401  (supervision events)
from contracts.assessment import QUIZ_SCORED
from contracts.content import ATTENDANCE_RECORDED
from contracts.content import FEEDBACK_SUBMITTED, QUESTION_ANSWERED, REPLAY_WATCHED
from contracts.content import SESSION_CHANGED, SESSION_SCHEDULED
from contracts.content import FOLLOWUP_PROPOSED, QUESTION_OVERDUE, SESSION_CANCELLED
from contracts.enrollment import STUDENT_WAITLISTED
from contracts.webhooks import ENDPOINT_DISABLED
from contracts.assessment import DEADLINE_MISSED, GRADE_OVERRIDDEN, SUBMISSION_GRADED, SUBMISSION_RECEIVED
from contracts.supervision import ALERT_RAISED, STUDENT_IDLE
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED,
                                  STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_CHANGED, TEAM_FORMED)
from contracts.enrollment import STUDENT_REJECTED, TUTOR_ASSIGNED

# consumer service -> the event types it handles (one @on_event handler each;
# tests/unit/test_topology.py checks this table against the service classes)
SUBSCRIPTIONS = {
    "supervision": [PROGRAM_CREATED, APPLICATION_SUBMITTED, STUDENT_ADMITTED, ATTENDANCE_RECORDED],
    "enrollment": [QUIZ_SCORED, _supervision.ACCOUNT_RECLAIM_REQUESTED],
    "content": [PROGRAM_CREATED, STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_FORMED, TEAM_CHANGED,
                MENTOR_ASSIGNED, MENTOR_UNASSIGNED],
    "incentives": [PROGRAM_CREATED, MENTOR_ASSIGNED, SESSION_SCHEDULED, ATTENDANCE_RECORDED, REPLAY_WATCHED,
                   FEEDBACK_SUBMITTED, QUESTION_ANSWERED, QUIZ_SCORED, STUDENT_ADMITTED, STUDENT_WITHDRAWN,
                   TEAM_FORMED, TEAM_CHANGED, assessment.SUBMISSION_GRADED, assessment.DEADLINE_MISSED,
                   assessment.COMPETITION_SCORE_RECORDED, assessment.GRADE_OVERRIDDEN, _supervision.STUDENT_IDLE,
                   content.SESSION_CANCELLED],
    "assessment": [PROGRAM_CREATED, APPLICATION_SUBMITTED, STUDENT_ADMITTED, STUDENT_REJECTED, STUDENT_WITHDRAWN,
                   TEAM_FORMED, TEAM_CHANGED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, TUTOR_ASSIGNED,
                   SESSION_SCHEDULED, SESSION_CHANGED],
    # the event types a school may hear at its webhook endpoints
    "webhooks": [PROGRAM_CREATED, APPLICATION_SUBMITTED, STUDENT_ADMITTED, STUDENT_WAITLISTED, STUDENT_REJECTED,
                 STUDENT_WITHDRAWN, TEAM_FORMED, SESSION_SCHEDULED, SESSION_CANCELLED, ATTENDANCE_RECORDED,
                 QUESTION_OVERDUE, FOLLOWUP_PROPOSED, QUIZ_SCORED, ENDPOINT_DISABLED,
                 SUBMISSION_RECEIVED, SUBMISSION_GRADED, GRADE_OVERRIDDEN, DEADLINE_MISSED, STUDENT_IDLE,
                 ALERT_RAISED],
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
# supervision: each student's credits in the programme report (incentives' ledger entries)
SUBSCRIPTIONS["supervision"] += [incentives.CREDITS_AWARDED, incentives.CREDITS_DEDUCTED, incentives.CREDITS_REVERSED]


def queue_arguments():
    """``PRAXIS_QUEUE_TYPE=quorum`` on a RabbitMQ cluster: every consumer queue (and
    every service's RPC queue) is a quorum queue, replicated on the cluster's nodes.
    Unset (the default): classic queues, as on a single broker."""
    kind = os.environ.get("PRAXIS_QUEUE_TYPE")
    return {"x-queue-type": kind} if kind else None
