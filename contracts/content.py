"""Contracts of the content service: the training plan (sessions), courseware
(materials), attendance (check-in codes, roll call, online presence, replays),
questions and answers, feedback and demand polls, and the events it publishes."""
from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import (ID, MAX_OFFSET, DecisionSchema, Integer, LongPageQuerySchema, StrictSchema, acting_person,
                            rule, within_calendar)
from contracts.enrollment import SLUG
from contracts.events import define

SOURCE = "content"

FORMS = ("live_online", "recorded", "offline_lecture", "tour_lecture", "corporate_training", "workshop")
ONLINE_FORMS = ("live_online", "recorded")
CHECKIN_FORMS = tuple(f for f in FORMS if f != "recorded")  # a live audience signs in
REPLAY_FORMS = ("live_online", "recorded")
SESSION_STATUSES = ("draft", "proposed", "scheduled", "rejected", "cancelled")
MATERIAL_KINDS = ("slides", "video", "document", "link", "simulation_task")
REVIEW_STATUSES = ("pending", "approved", "rejected")
ATTENDANCE_STATUSES = ("present", "late", "absent", "excused", "watched_replay")
ATTENDING = ("present", "late", "watched_replay")  # may give feedback, count for response rates
REFUSAL_REASONS = ("no_window", "window_not_open", "window_closed", "wrong_code", "expired_code",
                   "not_admitted", "not_for_track", "session_not_scheduled", "session_ended")

# http/https only; the server stores URLs and never fetches them
WEB_URL = dict(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000))
STUDENT = dict(validate=validate.Length(min=1, max=128))
TEXT = validate.Length(min=1, max=5000)


def _optional_url(**kwargs):
    return fields.Url(load_default=None, allow_none=True, **WEB_URL, **kwargs)


# --- sessions ---------------------------------------------------------------

class InstructorSchema(StrictSchema):
    id = fields.String(required=True, **ID, metadata={"description": "Mentor or teacher id"})
    kind = fields.String(required=True, validate=validate.OneOf(["mentor", "teacher"]),
                         metadata={"description": "enterprise mentor or school teacher"})
    name = fields.String(load_default="", validate=validate.Length(max=200))


class _SessionFields(StrictSchema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    module = fields.String(validate=validate.Length(min=1, max=120),
                           metadata={"description": "The module of the training plan"})
    form = fields.String(validate=validate.OneOf(FORMS))
    starts_at = fields.AwareDateTime(validate=within_calendar)
    ends_at = fields.AwareDateTime(validate=within_calendar)
    place = fields.String(allow_none=True, validate=validate.Length(max=300))
    stream_url = fields.Url(allow_none=True, **WEB_URL)
    replay_url = fields.Url(allow_none=True, **WEB_URL)
    instructor = fields.Nested(InstructorSchema)
    tracks = fields.List(fields.String(validate=SLUG), validate=validate.Length(max=20),
                         metadata={"description": "Track keys the session is for; empty: all tracks"})


def check_session(data):
    """Rules a whole session must satisfy (after create, or after a change)."""
    if data["ends_at"] <= data["starts_at"]:
        raise ValidationError("must be after starts_at", "ends_at")
    if data["form"] == "live_online" and not data.get("stream_url"):
        raise ValidationError("a live online session needs a stream link", "stream_url")
    if data["form"] not in ONLINE_FORMS and not data.get("place"):
        raise ValidationError("an on-site session needs a place", "place")


class SessionCreateSchema(_SessionFields):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    module = fields.String(required=True, validate=validate.Length(min=1, max=120))
    form = fields.String(required=True, validate=validate.OneOf(FORMS))
    starts_at = fields.AwareDateTime(required=True, validate=within_calendar)
    ends_at = fields.AwareDateTime(required=True, validate=within_calendar)
    place = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    stream_url = _optional_url()
    replay_url = _optional_url()
    instructor = fields.Nested(InstructorSchema, required=True)
    tracks = fields.List(fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20))
    partner_id = fields.String(load_default=None, allow_none=True, **ID,
                               metadata={"description": "School staff only: the partner running it"})

    @validates_schema
    @rule("ends_at is after starts_at; a live_online session needs stream_url; an on-site form "
          "(offline_lecture, tour_lecture, corporate_training, workshop) needs a place")
    def _consistent(self, data, **kwargs):
        check_session(data)


class SessionUpdateSchema(_SessionFields):
    """A change (e.g. a reschedule): only the fields sent change."""

    @validates_schema
    @rule("at least one field; form never changes; the session after the change keeps the rules of a new one")
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("send at least one field to change")
        if "form" in data:
            raise ValidationError("the form of a session cannot change; cancel it and create another", "form")


class SessionReviewSchema(DecisionSchema):
    pass


class SessionCancelSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SessionListQuerySchema(LongPageQuerySchema):
    status = fields.String(validate=validate.OneOf(SESSION_STATUSES))
    module = fields.String(validate=validate.Length(min=1, max=120))


class SessionSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    title = fields.String(required=True)
    module = fields.String(required=True)
    form = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    place = fields.String(allow_none=True)
    stream_url = fields.String(allow_none=True)
    replay_url = fields.String(allow_none=True)
    instructor = fields.Nested(InstructorSchema, required=True)
    tracks = fields.List(fields.String(), required=True)
    partner_id = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(SESSION_STATUSES))
    proposed_by = fields.String(required=True, metadata={"description": "The key that created it (<role>:<key id>) or the system step"})
    proposed_by_person = acting_person()
    review_reason = fields.String(allow_none=True)
    reviewed_by = fields.String(allow_none=True, metadata={"description": "The key that reviewed it (<role>:<key id>)"})
    reviewed_by_person = acting_person()
    cancel_reason = fields.String(allow_none=True)
    poll_id = fields.String(allow_none=True, metadata={"description": "The demand poll a follow-up came from"})
    checkin_open = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


# --- materials --------------------------------------------------------------

class _MaterialContent(StrictSchema):
    url = _optional_url(metadata={"description": "http(s) link; stored, never fetched"})
    body = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100_000))

    @validates_schema
    @rule("url or body (or both)")
    def _url_or_body(self, data, **kwargs):
        if not data.get("url") and not data.get("body"):
            raise ValidationError("send a url or a body", "url")


class MaterialCreateSchema(_MaterialContent):
    program_id = fields.String(required=True, **ID)
    module = fields.String(required=True, validate=validate.Length(min=1, max=120))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(MATERIAL_KINDS))


class MaterialVersionCreateSchema(_MaterialContent):
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class MaterialReviewSchema(DecisionSchema):
    version = Integer(required=True, validate=validate.Range(min=1))


class MaterialListQuerySchema(LongPageQuerySchema):
    program_id = fields.String(**ID)
    module = fields.String(validate=validate.Length(min=1, max=120))
    pending_review = fields.Boolean(metadata={"description": "only materials with a version to review"})


class MaterialVersionSchema(StrictSchema):
    version = Integer(required=True)
    url = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    note = fields.String(load_default="")
    status = fields.String(required=True, validate=validate.OneOf(REVIEW_STATUSES))
    reason = fields.String(allow_none=True)
    submitted_by = fields.String(required=True, metadata={"description": "The key (<role>:<key id>)"})
    submitted_by_person = acting_person()
    submitted_at = fields.AwareDateTime(required=True)
    reviewed_by = fields.String(allow_none=True, metadata={"description": "The key (<role>:<key id>)"})
    reviewed_by_person = acting_person()
    reviewed_at = fields.AwareDateTime(allow_none=True)


class MaterialSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    partner_id = fields.String(allow_none=True)
    program_id = fields.String(required=True)
    module = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    published_version = Integer(allow_none=True,
                                       metadata={"description": "The version students see (latest approved)"})
    published = fields.Nested(MaterialVersionSchema, allow_none=True)
    versions = fields.List(fields.Nested(MaterialVersionSchema),
                           metadata={"description": "All versions (staff and the owning partner only)"})
    created_at = fields.AwareDateTime(required=True)


# --- check-in and attendance ---------------------------------------------------

class CheckinWindowSchema(StrictSchema):
    minutes = Integer(load_default=15, validate=validate.Range(min=1, max=240),
                             metadata={"description": "How long the window stays open"})
    period_seconds = Integer(load_default=30, validate=validate.Range(min=10, max=600),
                                    metadata={"description": "The code changes this often"})
    grace_seconds = Integer(load_default=5, validate=validate.Range(min=0, max=60),
                                   metadata={"description": "The previous code is accepted this long after a change"})

    @validates_schema
    @rule("grace_seconds is shorter than period_seconds")
    def _grace_below_period(self, data, **kwargs):
        if data["grace_seconds"] >= data["period_seconds"]:
            raise ValidationError("must be shorter than period_seconds", "grace_seconds")


class CheckinWindowOutSchema(StrictSchema):
    session_id = fields.String(required=True)
    window_id = fields.String(required=True)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)
    period_seconds = Integer(required=True)
    grace_seconds = Integer(required=True)


class CheckinCodeSchema(StrictSchema):
    session_id = fields.String(required=True)
    window_id = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "Show it on the projector or in the stream"})
    valid_until = fields.AwareDateTime(required=True, metadata={"description": "When the next code replaces it"})
    closes_at = fields.AwareDateTime(required=True)


class SignInSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$", error="six digits"))
    device_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64),
                            metadata={"description": "The student's network address as the LMS saw it"})


class HistoryEntrySchema(StrictSchema):
    at = fields.AwareDateTime(required=True)
    by = fields.String(required=True, metadata={"description": "The key (<role>:<key id>)"})
    by_person = acting_person()
    previous = fields.String(allow_none=True)
    status = fields.String(required=True)
    reason = fields.String(required=True)


class AttendanceSchema(StrictSchema):
    session_id = fields.String(required=True)
    student_id = fields.String(required=True)
    program_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    source = fields.String(required=True, metadata={"description": "checkin, roll_call, online, replay or correction"})
    signed_in_at = fields.AwareDateTime(allow_none=True)
    device_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    flags = fields.List(fields.String(), required=True,
                        metadata={"description": "shared_device / shared_address: for staff to look at"})
    minutes_present = fields.Float(allow_none=True)
    replay_share = fields.Float(allow_none=True)
    corrected = fields.Boolean(required=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)
    updated_at = fields.AwareDateTime(required=True)


class RefusalSchema(StrictSchema):
    session_id = fields.String(required=True)
    student_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(REFUSAL_REASONS))
    at = fields.AwareDateTime(required=True)
    device_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)


class RefusalCountSchema(StrictSchema):
    student_id = fields.String(required=True)
    total = Integer(required=True)
    reasons = fields.Dict(keys=fields.String(), values=Integer(), required=True)


class RefusalReportSchema(StrictSchema):
    refusals = fields.List(fields.Nested(RefusalSchema), required=True)
    by_student = fields.List(fields.Nested(RefusalCountSchema), required=True,
                             metadata={"description": "Most refused first: repeated wrong codes stand out"})


class CheckinStatusSchema(StrictSchema):
    session_id = fields.String(required=True)
    window_open = fields.Boolean(required=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    expected = Integer(required=True, metadata={"description": "Admitted students the session is for"})
    signed_in = fields.List(fields.String(), required=True,
                            metadata={"description": "A page of the students signed in (present or late)"})
    not_signed_in = fields.List(fields.String(), required=True,
                                metadata={"description": "A page of the expected students who neither signed in "
                                                         "nor watched the replay"})
    flagged = fields.List(fields.String(), required=True,
                          metadata={"description": "A page of the students whose record is flagged"})
    signed_in_count = Integer(metadata={"description": "All students signed in (present or late)"})
    flagged_count = Integer(metadata={"description": "All flagged records"})
    limit = Integer(metadata={"description": "Each list holds at most this many students"})
    offset = Integer(metadata={"description": "Each list starts after this many"})
    has_more = fields.Boolean(metadata={"description": "A list goes on past this page"})
    watched_replay = fields.List(fields.String(), load_default=list,
                                 metadata={"description": "Students who watched enough of the replay"})
    attended = Integer(metadata={"description": "Signed in or watched the replay"})


MATRIX_CELLS = (*ATTENDANCE_STATUSES, "not_yet")
_TOTALS = dict(keys=fields.String(validate=validate.OneOf(MATRIX_CELLS)), values=Integer(), required=True)


class MatrixSessionSchema(StrictSchema):
    session_id = fields.String(required=True)
    title = fields.String(required=True)
    form = fields.String(required=True, validate=validate.OneOf(FORMS))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    totals = fields.Dict(**_TOTALS, metadata={"description": "Students per status in this session"})


class MatrixRowSchema(StrictSchema):
    student_id = fields.String(required=True)
    track = fields.String(required=True)
    cells = fields.List(fields.String(allow_none=True, validate=validate.OneOf(MATRIX_CELLS)), required=True,
                        metadata={"description": "One status per session, in the order of `sessions`; "
                                                 "null where the session is not for the student's track"})
    totals = fields.Dict(**_TOTALS, metadata={"description": "Sessions per status for this student"})


class AttendanceMatrixSchema(StrictSchema):
    """Students (admitted, by id) x scheduled sessions (by start): present, late,
    absent, excused, watched_replay or not_yet (the session has not ended, or a
    recorded one whose replay may still be watched)."""
    program_id = fields.String(required=True)
    statuses = fields.List(fields.String(), required=True)
    sessions = fields.List(fields.Nested(MatrixSessionSchema), required=True)
    students = fields.List(fields.Nested(MatrixRowSchema), required=True)
    totals = fields.Dict(**_TOTALS)


class StudentSessionSchema(StrictSchema):
    session_id = fields.String(required=True)
    title = fields.String(required=True)
    form = fields.String(required=True, validate=validate.OneOf(FORMS))
    starts_at = fields.AwareDateTime(required=True)
    status = fields.String(required=True, validate=validate.OneOf(MATRIX_CELLS))
    source = fields.String(allow_none=True, metadata={"description": "How the status was recorded"})
    corrected = fields.Boolean(required=True)


class StudentAttendanceSchema(StrictSchema):
    """One student's attendance across the programme's sessions for their track, by start."""
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    track = fields.String(required=True)
    sessions = fields.List(fields.Nested(StudentSessionSchema), required=True)
    totals = fields.Dict(**_TOTALS)


class CheckinStatusQuerySchema(StrictSchema):
    """A page of each list of the check-in status (the counts are always whole)."""
    limit = Integer(load_default=1000, validate=validate.Range(min=1, max=1000))
    offset = Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class RollCallSchema(StrictSchema):
    present = fields.List(fields.String(**STUDENT), required=True, validate=validate.Length(max=5000))
    mark_others_absent = fields.Boolean(load_default=True,
                                        metadata={"description": "Admitted students not listed and without a record become absent"})


class RollCallResultSchema(StrictSchema):
    marked_present = fields.List(fields.String(), required=True)
    marked_absent = fields.List(fields.String(), required=True)
    unknown = fields.List(fields.String(), required=True, metadata={"description": "Listed but not admitted"})


class CorrectionSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class PresenceSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    kind = fields.String(required=True, validate=validate.OneOf(["join", "leave"]))
    at = fields.AwareDateTime(required=True, validate=within_calendar,
                              metadata={"description": "When the meeting platform saw it"})


class ReplayProgressSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    watched_share = fields.Float(required=True, validate=validate.Range(min=0, max=1),
                                 metadata={"description": "Share of the replay watched so far (0-1)"})


# --- questions ----------------------------------------------------------------

class QuestionCreateSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    text = fields.String(required=True, validate=TEXT)


class AnswerCreateSchema(StrictSchema):
    author_id = fields.String(required=True, **ID,
                              metadata={"description": "The instructor's or the team mentor's id"})
    text = fields.String(required=True, validate=TEXT)


class ResolveSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)


class AnswerSchema(StrictSchema):
    author_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["instructor", "mentor"]))
    text = fields.String(required=True)
    at = fields.AwareDateTime(required=True)


class QuestionSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    session_id = fields.String(required=True)
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    team_id = fields.String(allow_none=True)
    mentor_id = fields.String(allow_none=True)
    text = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "answered", "resolved"]))
    asked_at = fields.AwareDateTime(required=True)
    due_at = fields.AwareDateTime(required=True)
    answered_at = fields.AwareDateTime(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean(required=True)
    answers = fields.List(fields.Nested(AnswerSchema), required=True)


# --- feedback -------------------------------------------------------------------

RATING = validate.Range(min=1, max=5)


class FeedbackCreateSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    clarity = Integer(required=True, validate=RATING)
    practical_value = Integer(required=True, validate=RATING)
    pace = Integer(required=True, validate=RATING)
    comment = fields.String(load_default="", validate=validate.Length(max=5000))


class FeedbackSchema(FeedbackCreateSchema):
    session_id = fields.String(required=True)
    instructor_id = fields.String(required=True)
    submitted_at = fields.AwareDateTime(required=True)


class FeedbackSummarySchema(StrictSchema):
    count = Integer(required=True)
    attending = Integer(required=True, metadata={"description": "Students who attended (could answer)"})
    response_rate = fields.Float(allow_none=True)
    averages = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), required=True,
                           metadata={"description": "clarity, practical_value, pace, overall"})


class SessionFeedbackSummarySchema(FeedbackSummarySchema):
    session_id = fields.String(required=True)
    instructor_id = fields.String(required=True)
    comments = fields.List(fields.String(), required=True)


class InstructorScoreSchema(FeedbackSummarySchema):
    instructor_id = fields.String(required=True)
    sessions = Integer(required=True)


# --- polls ----------------------------------------------------------------------

class FollowupSchema(StrictSchema):
    """What the proposed follow-up session is about; staff set the time and approve it."""
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    module = fields.String(required=True, validate=validate.Length(min=1, max=120))
    form = fields.String(load_default="offline_lecture", validate=validate.OneOf(FORMS))
    tracks = fields.List(fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20))
    instructor = fields.Nested(InstructorSchema, required=True)
    place = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300),
                          metadata={"description": "Default: the place of the session the poll follows"})
    stream_url = _optional_url(metadata={"description": "Default: the stream of the session the poll follows"})


class PollCreateSchema(StrictSchema):
    question = fields.String(required=True, validate=validate.Length(min=1, max=500))
    threshold = fields.Float(load_default=0.6, validate=validate.Range(min=0.01, max=1),
                             metadata={"description": "Share of the votes cast that must be yes"})
    quorum = fields.Float(load_default=0.5, validate=validate.Range(min=0, max=1),
                          metadata={"description": "Share of admitted students that must have voted"})
    closes_at = fields.AwareDateTime(load_default=None, allow_none=True, validate=within_calendar, metadata={
        "description": "When the poll closes and decides on its final tally (default: in 7 days)"})
    session_id = fields.String(load_default=None, allow_none=True, **ID,
                               metadata={"description": "The session the poll follows, if any"})
    followup = fields.Nested(FollowupSchema, required=True)


class VoteSchema(StrictSchema):
    student_id = fields.String(required=True, **STUDENT)
    answer = fields.String(required=True, validate=validate.OneOf(["yes", "no"]))


class VoteOutSchema(VoteSchema):
    poll_id = fields.String(required=True)
    at = fields.AwareDateTime(required=True)


class PollSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    question = fields.String(required=True)
    threshold = fields.Float(required=True)
    quorum = fields.Float(required=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    session_id = fields.String(allow_none=True)
    followup = fields.Nested(FollowupSchema, required=True)
    yes = Integer(required=True)
    no = Integer(required=True)
    eligible = Integer(required=True, metadata={"description": "Admitted students now"})
    state = fields.String(validate=validate.OneOf(["open", "decided"]), metadata={
        "description": "open: votes count and may change; decided: the final tally was taken at closes_at"})
    decided_at = fields.AwareDateTime(allow_none=True)
    reached = fields.Boolean(required=True, metadata={"description": "The final tally crossed threshold and quorum"})
    reached_at = fields.AwareDateTime(allow_none=True)
    followup_session_id = fields.String(allow_none=True)
    opened_by = fields.String(allow_none=True, metadata={
        "description": "The key that opened it (<role>:<key id>), or 'content:after-session' (the system, when a session ended)"})
    opened_by_person = acting_person()
    created_at = fields.AwareDateTime(required=True)


# --- events ---------------------------------------------------------------------

class _SessionPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    title = fields.String(required=True)
    module = fields.String(required=True)
    form = fields.String(required=True, validate=validate.OneOf(FORMS))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    instructor_id = fields.String(required=True)
    tracks = fields.List(fields.String(), required=True)
    partner_id = fields.String(load_default=None, allow_none=True)


class SessionScheduledPayload(_SessionPayload):
    pass


class SessionChangedPayload(_SessionPayload):
    changed = fields.List(fields.String(), required=True, metadata={"description": "Names of the changed fields"})


class SessionCancelledPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    reason = fields.String(required=True)


class MaterialPublishedPayload(StrictSchema):
    material_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    module = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MATERIAL_KINDS))
    version = Integer(required=True)
    partner_id = fields.String(load_default=None, allow_none=True)


class CheckinOpenedPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    window_id = fields.String(required=True, **ID)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)


class AttendanceRecordedPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    previous_status = fields.String(load_default=None, allow_none=True)
    source = fields.String(required=True)


class ReplayWatchedPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True)
    watched_share = fields.Float(required=True)


class QuestionPayload(StrictSchema):
    question_id = fields.String(required=True, **ID)
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True)
    team_id = fields.String(load_default=None, allow_none=True)
    mentor_id = fields.String(load_default=None, allow_none=True)
    due_at = fields.AwareDateTime(required=True)


class QuestionAnsweredPayload(QuestionPayload):
    author_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["instructor", "mentor"]))
    answered_at = fields.AwareDateTime(required=True)
    within_sla = fields.Boolean(required=True)


class FeedbackSubmittedPayload(StrictSchema):
    session_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    instructor_id = fields.String(required=True)
    student_id = fields.String(required=True)
    clarity = Integer(required=True, validate=RATING)
    practical_value = Integer(required=True, validate=RATING)
    pace = Integer(required=True, validate=RATING)


class PollThresholdReachedPayload(StrictSchema):
    poll_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    question = fields.String(required=True)
    yes = Integer(required=True)
    no = Integer(required=True)
    eligible = Integer(required=True)


class FollowupProposedPayload(StrictSchema):
    poll_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    session_id = fields.String(required=True, **ID)
    title = fields.String(required=True)
    module = fields.String(required=True)


SESSION_SCHEDULED = define(
    SOURCE, "session.scheduled", 1, SessionScheduledPayload,
    "A session was approved (or created by the school) and students can see it. Key: session_id. "
    "For supervision (attendance per session), incentives.")
SESSION_CHANGED = define(
    SOURCE, "session.changed", 1, SessionChangedPayload,
    "A scheduled session changed (rescheduled, moved, another instructor). Key: session_id. "
    "For the LMS calendar and supervision.")
SESSION_CANCELLED = define(
    SOURCE, "session.cancelled", 1, SessionCancelledPayload,
    "A session was cancelled, with the reason. Key: session_id.")
MATERIAL_PUBLISHED = define(
    SOURCE, "material.published", 1, MaterialPublishedPayload,
    "The school approved a version of a material; students now see that version. "
    "Key: material_id + version.")
CHECKIN_OPENED = define(
    SOURCE, "checkin.opened", 1, CheckinOpenedPayload,
    "Staff opened a check-in window for a session. Key: window_id. For supervision.")
ATTENDANCE_RECORDED = define(
    SOURCE, "attendance.recorded", 1, AttendanceRecordedPayload,
    "A student's attendance record for a session got a (new) status. Key: session_id + student_id. "
    "For incentives (attendance credit), supervision (funnel: trained; attendance per session).")
REPLAY_WATCHED = define(
    SOURCE, "replay.watched", 1, ReplayWatchedPayload,
    "A student who missed the live session watched at least the programme's share of the "
    "replay (their record is then watched_replay). Key: session_id + student_id.")
QUESTION_ASKED = define(
    SOURCE, "question.asked", 1, QuestionPayload,
    "A student asked a question about a session; due_at is the answer deadline. Key: question_id. "
    "For supervision (mentor responsiveness).")
QUESTION_ANSWERED = define(
    SOURCE, "question.answered", 1, QuestionAnsweredPayload,
    "A question got its first answer, from the instructor or the team's mentor. Key: question_id. "
    "For supervision (mentor responsiveness).")
QUESTION_OVERDUE = define(
    SOURCE, "question.overdue", 1, QuestionPayload,
    "A question passed its answer deadline unanswered; emitted once per question. "
    "Key: question_id. For supervision (alerts the mentor / staff).")
FEEDBACK_SUBMITTED = define(
    SOURCE, "feedback.submitted", 1, FeedbackSubmittedPayload,
    "An attending student rated a session (once). Key: session_id + student_id. "
    "For supervision (instructor scores), incentives.")
POLL_THRESHOLD_REACHED = define(
    SOURCE, "poll.threshold_reached", 1, PollThresholdReachedPayload,
    "A demand poll crossed its threshold with its quorum; emitted once per poll. Key: poll_id.")
FOLLOWUP_PROPOSED = define(
    SOURCE, "followup.proposed", 1, FollowupProposedPayload,
    "The content service proposed a draft follow-up session for a poll that crossed its "
    "threshold; staff set its time and approve it. Key: poll_id.")


class ReplayProgressOutSchema(StrictSchema):
    session_id = fields.String(required=True)
    student_id = fields.String(required=True)
    watched_share = fields.Float(required=True, metadata={"description": "The most watched so far"})
    counted = fields.Boolean(required=True, metadata={"description": "The threshold is reached"})
    status = fields.String(allow_none=True, metadata={"description": "The attendance status now"})


class SignInResultSchema(StrictSchema):
    created = fields.Boolean(required=True, metadata={"description": "False: the student had signed in already"})
    record = fields.Nested(AttendanceSchema, required=True)
