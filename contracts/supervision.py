"""Contracts of the supervision service: platform telemetry, the programme
funnel, idle accounts, alerts, and the events it publishes."""
from marshmallow import fields, validate

from contracts.base import ID, StrictSchema
from contracts.events import define

SOURCE = "supervision"

FUNNEL_STAGES = ("registered", "admitted", "trained", "active", "submitting", "finished")
ACTIVITY_KINDS = ("login", "product_listed", "order_handled", "marketing_action", "after_sales_action", "other")
MAX_BATCH = 5000
ALERT_STATUSES = ("open", "acknowledged", "resolved")
# the causes supervision raises alerts for (a new cause is a minor change: kind is free text)
ALERT_KINDS = ("student_idle", "account_reclaim", "attendance_below_minimum", "attendance_minimum_unreachable",
               "deadline_missed", "question_overdue")

STUDENT = validate.Length(min=1, max=128)
ACCOUNT = validate.Length(min=1, max=128)


class FunnelSchema(StrictSchema):
    program_id = fields.String(required=True)
    school_id = fields.String(required=True)
    name = fields.String(required=True)
    season = fields.String(required=True)
    tracks = fields.List(fields.String(), required=True)
    stages = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "Students who ever reached each stage: "
                                                  + ", ".join(FUNNEL_STAGES)
                                                  + " (trained: took part in a session, live or by replay)"})
    started_at = fields.AwareDateTime(required=True)


# --- events ----------------------------------------------------------------

class ActivityRecordSchema(StrictSchema):
    """One activity record of the partner's simulation platform."""
    record_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                              metadata={"description": "The platform's own id of the record (dedupe key)"})
    account_id = fields.String(required=True, validate=ACCOUNT,
                               metadata={"description": "The platform account the record is about"})
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    at = fields.AwareDateTime(required=True, metadata={"description": "When it happened on the platform"})


class TelemetryIngestedPayload(StrictSchema):
    batch_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    partner_id = fields.String(load_default=None, allow_none=True, **ID,
                               metadata={"description": "The partner that posted it (null: school staff)"})
    records = fields.List(fields.Nested(ActivityRecordSchema), required=True,
                          validate=validate.Length(min=1, max=MAX_BATCH),
                          metadata={"description": "The valid records of the batch (bad ones were refused at the gateway)"})


class StageReachedPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=STUDENT)
    stage = fields.String(required=True, validate=validate.OneOf(FUNNEL_STAGES))
    reached_at = fields.AwareDateTime(required=True)
    track = fields.String(load_default=None, allow_none=True)


class StudentIdlePayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=STUDENT)
    team_id = fields.String(load_default=None, allow_none=True, **ID,
                            metadata={"description": "The student's team when supervision knows it"})
    idle_since = fields.AwareDateTime(required=True,
                                      metadata={"description": "Last platform activity (or the start of tracking)"})
    spell_id = fields.String(required=True, validate=validate.Length(min=1, max=200),
                             metadata={"description": "One idle spell; at most one event per spell"})
    account_id = fields.String(load_default=None, allow_none=True, validate=ACCOUNT)
    idle_days = fields.Integer(load_default=None, allow_none=True,
                               metadata={"description": "The programme's rule: idle after this many days"})


class AccountReclaimRequestedPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=STUDENT)
    account_id = fields.String(load_default=None, allow_none=True, validate=ACCOUNT,
                               metadata={"description": "The platform account to release"})
    track = fields.String(load_default=None, allow_none=True)
    spell_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    idle_since = fields.AwareDateTime(required=True)
    promote_waitlisted = fields.Boolean(load_default=False,
                                        metadata={"description": "The programme asks enrollment to admit the "
                                                                 "first waitlisted student of the track"})


class AlertRaisedPayload(StrictSchema):
    alert_id = fields.String(required=True, validate=validate.Length(min=1, max=300),
                             metadata={"description": "Derived from the cause: one alert per cause"})
    program_id = fields.String(required=True, **ID)
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "One of " + ", ".join(ALERT_KINDS) + " (more may come)"})
    message = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    student_id = fields.String(load_default=None, allow_none=True, validate=STUDENT)
    team_id = fields.String(load_default=None, allow_none=True, **ID)
    mentor_id = fields.String(load_default=None, allow_none=True, **ID)
    tutor_id = fields.String(load_default=None, allow_none=True, **ID)
    subject_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                               metadata={"description": "What else it is about: a session, assessment or question"})


class AlertResolvedPayload(StrictSchema):
    alert_id = fields.String(required=True, validate=validate.Length(min=1, max=300))
    program_id = fields.String(required=True, **ID)
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))
    resolved_by = fields.String(required=True, validate=validate.Length(min=1, max=256),
                                metadata={"description": "'system' when the cause went away, or who resolved it"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    student_id = fields.String(load_default=None, allow_none=True, validate=STUDENT)


TELEMETRY_INGESTED = define(
    SOURCE, "telemetry.ingested", 1, TelemetryIngestedPayload,
    "The gateway accepted (202) a partner's batch of simulation-platform activity records for a "
    "programme. Key: batch_id; each record by its record_id. Published by the gateway with publisher "
    "confirms; consumed by supervision (activity projections, funnel stage 'active', idle spells).")
STAGE_REACHED = define(
    SOURCE, "stage.reached", 1, StageReachedPayload,
    "A student reached a funnel stage for the first time (registered, admitted, trained, active, "
    "submitting, finished). Key: (program_id, student_id, stage). For incentives (credits per stage) "
    "and reports.")
STUDENT_IDLE = define(
    SOURCE, "student.idle", 1, StudentIdlePayload,
    "A student's platform account has been idle for the programme's number of days. Key: spell_id "
    "(one event per idle spell). For incentives (applies the programme's credit_rules.idle_penalty once "
    "per spell); the mentor and tutor get an alert.")
ACCOUNT_RECLAIM_REQUESTED = define(
    SOURCE, "account.reclaim_requested", 1, AccountReclaimRequestedPayload,
    "An idle spell outlasted the programme's grace period: the partner should release the platform "
    "account. Key: spell_id. For enrollment (admits the first waitlisted student of the track when "
    "promote_waitlisted) and the partner (reads it through the alerts API).")
ALERT_RAISED = define(
    SOURCE, "alert.raised", 1, AlertRaisedPayload,
    "Supervision raised an alert (once per cause). Key: alert_id. For notifications to the mentor and "
    "tutor named in it, and the staff dashboard.")
ALERT_RESOLVED = define(
    SOURCE, "alert.resolved", 1, AlertResolvedPayload,
    "An alert was resolved, by staff or because its cause went away (activity ended an idle spell). "
    "Key: alert_id. For the same consumers as alert.raised.")
