"""Contracts of the supervision service: platform telemetry, the programme
funnel, idle accounts, alerts, and the events it publishes."""
from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import ID, Integer, LongPageQuerySchema, StrictSchema, page_schema
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
    stages = fields.Dict(keys=fields.String(), values=Integer(allow_none=True), required=True,
                         metadata={"description": "Students who ever reached each stage: "
                                                  + ", ".join(FUNNEL_STAGES)
                                                  + " (trained: took part in at least the programme's minimum share "
                                                    "of sessions, live or by replay; active: a platform login after "
                                                    "the first session). null: the stage has no source yet"})
    notes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict,
                        metadata={"description": "Why a stage is null, e.g. 'not tracked yet'"})
    started_at = fields.AwareDateTime(allow_none=True,
                                      metadata={"description": "null until supervision has heard of the programme"})


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
    idle_days = Integer(load_default=None, allow_none=True,
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


# --- the supervision API (RPC and HTTP bodies) ---------------------------------

PageQuerySchema = LongPageQuerySchema  # supervision's lists take the longer pages


class TelemetryBatchSchema(StrictSchema):
    """The records are checked one by one (bad ones are reported, good ones kept)."""
    records = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH),
                          metadata={"description": f"Up to {MAX_BATCH} activity records: record_id, account_id, "
                                                   "kind (" + ", ".join(ACTIVITY_KINDS) + "), at",
                                    "example": [{"record_id": "xm-000123", "account_id": "xmall-s0001",
                                                 "kind": "login", "at": "2026-03-02T09:30:00+00:00"}]})


class BadRecordSchema(StrictSchema):
    index = Integer(required=True)
    reason = fields.String(required=True)
    errors = fields.Dict(load_default=dict)


class TelemetryAcceptedSchema(StrictSchema):
    batch_id = fields.String(required=True)
    accepted = Integer(required=True, metadata={"description": "Records published for processing"})
    rejected = fields.List(fields.Nested(BadRecordSchema), required=True)


class AccountMappingSchema(StrictSchema):
    account_id = fields.String(required=True, validate=ACCOUNT)
    student_id = fields.String(required=True, validate=STUDENT)


class AccountMappingsSchema(StrictSchema):
    accounts = fields.List(fields.Nested(AccountMappingSchema), required=True,
                           validate=validate.Length(min=1, max=5000))


class AccountSchema(StrictSchema):
    account_id = fields.String(required=True)
    student_id = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=Integer(), required=True)
    last_activity_at = fields.AwareDateTime(allow_none=True)


AccountPageSchema = page_schema(AccountSchema)


class AccountQuerySchema(PageQuerySchema):
    unmapped = fields.Boolean(load_default=False, metadata={"description": "only accounts with no student yet"})


class MappingResultSchema(StrictSchema):
    mapped = Integer(required=True, metadata={"description": "Accounts mapped by this call"})
    unmapped = Integer(required=True, metadata={"description": "Accounts of the programme with no student yet"})


class RulesSchema(StrictSchema):
    idle_days = Integer(load_default=7, validate=validate.Range(min=1, max=365),
                               metadata={"description": "Idle after this many days without platform activity"})
    grace_days = Integer(load_default=3, validate=validate.Range(min=0, max=365),
                                metadata={"description": "Then the account is reclaimed after this many more"})
    min_attendance_share = fields.Float(load_default=0.6, validate=validate.Range(min=0, max=1),
                                        metadata={"description": "Trained / minimum attendance: share of sessions"})
    excused = fields.List(fields.String(validate=STUDENT), load_default=list, validate=validate.Length(max=10_000),
                          metadata={"description": "Students the idle check leaves alone"})
    promote_waitlisted = fields.Boolean(load_default=False,
                                        metadata={"description": "A reclaimed place goes to the track's waitlist"})


class StudentStageSchema(StrictSchema):
    student_id = fields.String(required=True)
    track = fields.String(allow_none=True)
    reached_at = fields.AwareDateTime(allow_none=True)


StagePageSchema = page_schema(StudentStageSchema, name="Stage")


class DayCountsSchema(StrictSchema):
    day = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=Integer(), required=True)


class StudentActivitySchema(StrictSchema):
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    track = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    stages = fields.Dict(keys=fields.String(), values=fields.AwareDateTime(), required=True)
    lms = fields.Dict(keys=fields.String(), values=fields.AwareDateTime(allow_none=True), required=True,
                      metadata={"description": "Last attendance, replay, question, submission"})
    platform = fields.Dict(keys=fields.String(), values=fields.AwareDateTime(allow_none=True), required=True,
                           metadata={"description": "Last platform activity per kind"})
    platform_counts = fields.Dict(keys=fields.String(), values=Integer(), required=True)
    accounts = fields.List(fields.String(), required=True)
    days = fields.List(fields.Nested(DayCountsSchema), required=True)
    idle_since = fields.AwareDateTime(allow_none=True)


IdlePageQuerySchema = PageQuerySchema


class IdleAccountSchema(StrictSchema):
    student_id = fields.String(required=True)
    accounts = fields.List(fields.String(), required=True)
    team_id = fields.String(allow_none=True)
    idle_since = fields.AwareDateTime(required=True)
    spell_id = fields.String(required=True)
    reclaim_requested = fields.Boolean(required=True)


IdlePageSchema = page_schema(IdleAccountSchema, name="Idle")


class AlertSchema(StrictSchema):
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    kind = fields.String(required=True)
    message = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ALERT_STATUSES))
    student_id = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    mentor_id = fields.String(allow_none=True)
    tutor_id = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True)
    raised_at = fields.AwareDateTime(required=True)
    note = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)


AlertPageSchema = page_schema(AlertSchema)


class AlertQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(ALERT_STATUSES))
    mentor_id = fields.String(**ID)


class AlertActionSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["acknowledged", "resolved"]))
    note = fields.String(load_default="", validate=validate.Length(max=2000),
                         metadata={"example": "Called the student; back on the platform this week"})

    @validates_schema
    def _note_for_acknowledgement(self, data, **kwargs):
        if data["status"] == "acknowledged" and not data["note"].strip():
            raise ValidationError("say what is being done", "note")


class ReportRowSchema(StrictSchema):
    student_id = fields.String(required=True)
    track = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    stage = fields.String(allow_none=True, metadata={"description": "The furthest stage reached"})
    attendance_rate = fields.Float(allow_none=True)
    platform_activity = Integer(required=True, metadata={"description": "Platform records counted"})
    last_platform_activity_at = fields.AwareDateTime(allow_none=True)
    submissions = Integer(allow_none=True, metadata={"description": "null: not tracked yet"})
    missing_work = Integer(allow_none=True, metadata={"description": "Deadlines missed; null: not tracked yet"})
    credits = Integer(allow_none=True, metadata={"description": "Credits earned in the programme: the sum of "
                                                                "incentives' credits.awarded, credits.deducted and "
                                                                "credits.reversed entries (the lifetime balance; "
                                                                "spending does not lower it). null: incentives "
                                                                "announced none yet"})
    open_alerts = Integer(required=True)


class ReportSessionSchema(StrictSchema):
    session_id = fields.String(required=True)
    title = fields.String(required=True)
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    attended = Integer(required=True, metadata={"description": "Expected students who attended live or by replay"})
    expected = Integer(required=True, metadata={"description": "Admitted students of the session's tracks"})
    rate = fields.Float(required=True, allow_none=True, metadata={"description": "attended / expected (null: none expected)"})


class ReportAssessmentSchema(StrictSchema):
    assessment_id = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    deadline = fields.String(required=True, metadata={"format": "date-time"})
    submitted = Integer(required=True, metadata={"description": "Students who handed in"})
    missed = Integer(required=True, metadata={"description": "Students who missed the deadline"})


class ReportMentorSchema(StrictSchema):
    mentor_id = fields.String(required=True)
    answered = Integer(required=True, metadata={"description": "Questions answered"})
    median_answer_hours = fields.Float(required=True, allow_none=True,
                                       metadata={"description": "Median time to answer (null: none answered yet)"})
    overdue = Integer(required=True, metadata={"description": "Questions that went past their answer deadline"})


class ReportInstructorSchema(StrictSchema):
    instructor_id = fields.String(required=True)
    score = fields.Float(required=True, metadata={"description": "Mean feedback score, 1-5"})
    responses = Integer(required=True)


class ReportSchema(StrictSchema):
    program_id = fields.String(required=True)
    funnel = fields.Nested(FunnelSchema, required=True)
    students = fields.List(fields.Nested(ReportRowSchema), required=True)
    sessions = fields.List(fields.Nested(ReportSessionSchema), required=True,
                           metadata={"description": "Attendance per session"})
    assessments = fields.List(fields.Nested(ReportAssessmentSchema), required=True,
                              metadata={"description": "Missing work per assessment"})
    mentors = fields.List(fields.Nested(ReportMentorSchema), required=True,
                          metadata={"description": "Each mentor's responsiveness"})
    instructors = fields.List(fields.Nested(ReportInstructorSchema), required=True,
                              metadata={"description": "Each instructor's feedback score"})


class StatementItemSchema(StrictSchema):
    statement = fields.Dict(required=True, metadata={"description": "An xAPI 1.0.3 statement"})
    delivered = fields.Boolean(required=True, metadata={"description": "The LRS holds it"})


StatementPageSchema = page_schema(StatementItemSchema, name="Statement")


class CheckResultSchema(StrictSchema):
    idle = Integer(required=True, metadata={"description": "Idle spells found now (each alerted once)"})
    reclaimed = Integer(required=True, metadata={"description": "Reclaims requested now"})
