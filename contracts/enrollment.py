"""Contracts of the enrollment service: programmes, applications, selection
with waitlists, teams, mentors and tutors, the roster; and the events it
publishes (consumed by content, incentives, assessment and supervision)."""
from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import (ID, MAX_OFFSET, Integer, LongPageQuerySchema, PageQuerySchema, StrictSchema, acting_person,
                            page_schema, rule, within_calendar)
from contracts.events import define

SOURCE = "enrollment"

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$",
                       error="use 1-40 lowercase letters, digits, '-' or '_'")


class TrackSchema(StrictSchema):
    key = fields.String(required=True, validate=SLUG,
                        metadata={"description": "Stable id of the track, e.g. 'undergraduate'"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    simulation = fields.String(load_default="", validate=validate.Length(max=120),
                               metadata={"description": "e.g. 'Amazon'"})
    platform = fields.String(required=True, validate=validate.Length(min=1, max=120),
                             metadata={"description": "Simulation platform, e.g. 'X-Mall'"})
    capacity = Integer(required=True, validate=validate.Range(min=0, max=100_000))
    partner_id = fields.String(load_default=None, allow_none=True, **ID,
                               metadata={"description": "The enterprise partner whose platform the track uses"})


class TeamSizeSchema(StrictSchema):
    min = Integer(load_default=3, validate=validate.Range(min=1, max=50))
    max = Integer(load_default=5, validate=validate.Range(min=1, max=50))

    @validates_schema
    @rule("min must not exceed max")
    def _min_le_max(self, data, **kwargs):
        if data["min"] > data["max"]:
            raise ValidationError("min must not exceed max", "min")


class SelectionRulesSchema(StrictSchema):
    min_quiz_score = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=100))
    required_majors = fields.List(fields.String(validate=validate.Length(min=1, max=120)),
                                  load_default=list, validate=validate.Length(max=200))
    required_years = fields.List(Integer(validate=validate.Range(min=1, max=10)),
                                 load_default=list, validate=validate.Length(max=10))


class AttendanceRulesSchema(StrictSchema):
    present_share = fields.Float(load_default=0.75, validate=validate.Range(min=0, max=1),
                                 metadata={"description": "Share of an online session a student must attend"})
    replay_threshold = fields.Float(load_default=0.8, validate=validate.Range(min=0, max=1))
    late_after_minutes = Integer(load_default=10, validate=validate.Range(min=0, max=600))
    question_sla_hours = Integer(load_default=24, validate=validate.Range(min=1, max=24 * 30))
    checkin_lead_minutes = Integer(load_default=30, validate=validate.Range(min=0, max=24 * 60), metadata={
        "description": "How long before a session starts its check-in window may open (it closes at the end)"})


class AssignmentRulesSchema(StrictSchema):
    mentor_from_track_partner = fields.Boolean(load_default=False, metadata={
        "description": "Automatic assignment gives a team only a mentor of its track's partner "
                       "(every track then names its partner_id)"})


class ProgramCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    season = fields.String(required=True, validate=validate.Length(min=1, max=40))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    starts_on = fields.Date(required=True, validate=within_calendar)
    ends_on = fields.Date(required=True, validate=within_calendar)
    team_lock_date = fields.Date(load_default=None, allow_none=True, validate=within_calendar)
    tracks = fields.List(fields.Nested(TrackSchema), required=True,
                         validate=validate.Length(min=1, max=20))
    team_size = fields.Nested(TeamSizeSchema, load_default=lambda: TeamSizeSchema().load({}))
    selection_rules = fields.Nested(SelectionRulesSchema,
                                    load_default=lambda: SelectionRulesSchema().load({}))
    attendance_rules = fields.Nested(AttendanceRulesSchema,
                                     load_default=lambda: AttendanceRulesSchema().load({}))
    assignment_rules = fields.Nested(AssignmentRulesSchema, load_default=lambda: AssignmentRulesSchema().load({}))
    credit_rules = fields.Dict(keys=fields.String(validate=SLUG),
                               values=Integer(validate=validate.Range(min=-10_000, max=10_000)),
                               load_default=dict, validate=validate.Length(max=100),
                               metadata={"description": "Points per rule (at most 100), e.g. {'attendance': 2, 'idle_penalty': -5}"})

    @validates_schema
    @rule("ends_on is not before starts_on (and not in the past: a programme already over is refused); "
          "track keys are unique; team_lock_date lies between starts_on and ends_on; with "
          "assignment_rules.mentor_from_track_partner every track names its partner_id")
    def _consistent(self, data, **kwargs):
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("must not be before starts_on", "ends_on")
        keys = [t["key"] for t in data["tracks"]]
        if len(keys) != len(set(keys)):
            raise ValidationError("track keys must be unique", "tracks")
        lock = data.get("team_lock_date")
        if lock and not data["starts_on"] <= lock <= data["ends_on"]:
            raise ValidationError("must lie between starts_on and ends_on", "team_lock_date")
        if data["assignment_rules"]["mentor_from_track_partner"] and not all(t["partner_id"] for t in data["tracks"]):
            raise ValidationError("every track names its partner_id when mentors come from the track's partner",
                                  "tracks")


class ProgramSchema(ProgramCreateSchema):
    """A programme as services return it (server-owned fields included)."""
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    created_by = fields.String(required=True, metadata={"description": "The key (<role>:<key id>)"})
    created_by_person = acting_person()
    created_at = fields.AwareDateTime(required=True)


class ProgramListQuerySchema(PageQuerySchema):
    season = fields.String(validate=validate.Length(min=1, max=40))


class ProgramCreatedPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    name = fields.String(required=True)
    season = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    tracks = fields.List(fields.Nested(TrackSchema), required=True)
    # optional (a minor addition to v1): the content service takes attendance
    # and Q&A rules from it; consumers of events without it use the defaults
    attendance_rules = fields.Nested(AttendanceRulesSchema, load_default=None, allow_none=True)


PROGRAM_CREATED = define(
    SOURCE, "program.created", 1, ProgramCreatedPayload,
    "A school created a training programme. Key: program_id. "
    "Consumed by supervision (starts the programme's funnel).")


# --- applications, selection, teams (issue: enrollment) ----------------------

class _StudentInProgram(StrictSchema):
    program_id = fields.String(required=True, **ID)
    application_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=validate.Length(min=1, max=128),
                               metadata={"description": "The student's id in the school's LMS"})
    track = fields.String(required=True, validate=SLUG)


class ApplicationSubmittedPayload(_StudentInProgram):
    name = fields.String(required=True)
    major = fields.String(load_default="")
    year_of_study = Integer(load_default=None, allow_none=True)


class StudentAdmittedPayload(_StudentInProgram):
    reason = fields.String(required=True, metadata={"description": "e.g. 'rank 3 of 40 places' or 'promoted from the waitlist'"})
    promoted = fields.Boolean(load_default=False)


class StudentWaitlistedPayload(_StudentInProgram):
    position = Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(required=True)


class StudentRejectedPayload(_StudentInProgram):
    reason = fields.String(required=True)


class StudentWithdrawnPayload(_StudentInProgram):
    previous_status = fields.String(required=True)


class TeamPayload(StrictSchema):
    team_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    track = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True)
    members = fields.List(fields.String(), required=True,
                          metadata={"description": "student ids (LMS ids) after the change"})


class TeamChangedPayload(TeamPayload):
    change = fields.String(required=True, validate=validate.OneOf(["joined", "left", "disbanded", "renamed"]))
    student_id = fields.String(load_default=None, allow_none=True)


class MentorAssignedPayload(StrictSchema):
    team_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    mentor_id = fields.String(required=True, **ID)
    partner_id = fields.String(required=True)
    previous_mentor_id = fields.String(load_default=None, allow_none=True)


class MentorUnassignedPayload(StrictSchema):
    team_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    mentor_id = fields.String(required=True, **ID)
    partner_id = fields.String(required=True)
    reason = fields.String(required=True)


class TutorAssignedPayload(StrictSchema):
    team_id = fields.String(required=True, **ID)
    program_id = fields.String(required=True, **ID)
    tutor_id = fields.String(required=True, **ID)
    previous_tutor_id = fields.String(load_default=None, allow_none=True)
    tutor_person_id = fields.String(load_default=None, allow_none=True, metadata={
        "description": "The Praxis person the tutor is (an LMS roster sync's instructor), else null"})


APPLICATION_SUBMITTED = define(
    SOURCE, "application.submitted", 1, ApplicationSubmittedPayload,
    "A student applied to a programme track through the LMS. Key: application_id. "
    "For supervision (funnel: registered).")
STUDENT_ADMITTED = define(
    SOURCE, "student.admitted", 1, StudentAdmittedPayload,
    "Selection (or a promotion from the waitlist) admitted a student. Key: application_id. "
    "For content (who may sign in), incentives, assessment, supervision (funnel: admitted).")
STUDENT_WAITLISTED = define(
    SOURCE, "student.waitlisted", 1, StudentWaitlistedPayload,
    "Selection put a student on a track's waitlist at a position. Key: application_id.")
STUDENT_REJECTED = define(
    SOURCE, "student.rejected", 1, StudentRejectedPayload,
    "Selection rejected a student, with the reason. Key: application_id.")
STUDENT_WITHDRAWN = define(
    SOURCE, "student.withdrawn", 1, StudentWithdrawnPayload,
    "A student withdrew from a programme. Key: application_id. For content (no more "
    "sign-ins), supervision; enrollment itself promotes the first waitlisted student.")
TEAM_FORMED = define(
    SOURCE, "team.formed", 1, TeamPayload,
    "Admitted students formed a team within a track. Key: team_id. For content (Q&A routing).")
TEAM_CHANGED = define(
    SOURCE, "team.changed", 1, TeamChangedPayload,
    "A team's members changed (joined, left) or it was disbanded. Key: team_id.")
MENTOR_ASSIGNED = define(
    SOURCE, "mentor.assigned", 1, MentorAssignedPayload,
    "A team got an enterprise mentor (automatically or by hand). Key: team_id. "
    "For content (who answers the team's questions) and supervision (mentor responsiveness).")
MENTOR_UNASSIGNED = define(
    SOURCE, "mentor.unassigned", 1, MentorUnassignedPayload,
    "A team lost its mentor and nobody had room to take it over (it is listed as "
    "without a mentor until one is assigned). Key: team_id. For content (the departed "
    "mentor no longer answers the team's questions).")
TUTOR_ASSIGNED = define(
    SOURCE, "tutor.assigned", 1, TutorAssignedPayload,
    "A team got a school tutor. Key: team_id.")


# --- the enrollment API (RPC and HTTP bodies) --------------------------------

STUDENT_ID = validate.Length(min=1, max=128)
APPLICATION_STATUSES = ["submitted", "screened", "admitted", "waitlisted", "rejected", "withdrawn"]
DECISIONS = ["admitted", "waitlisted", "rejected"]


class ApplicationCreateSchema(StrictSchema):
    """What the LMS sends for a student applying to a programme track."""
    student_id = fields.String(required=True, validate=STUDENT_ID,
                               metadata={"description": "The student's id in the school's LMS"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    track = fields.String(required=True, validate=SLUG)
    major = fields.String(load_default="", validate=validate.Length(max=120))
    year_of_study = Integer(load_default=None, allow_none=True,
                                   validate=validate.Range(min=1, max=10))
    prior_courses = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                                load_default=list, validate=validate.Length(max=50),
                                metadata={"description": "Related courses already taken"})
    motivation = fields.String(load_default="", validate=validate.Length(max=2000))


class ApplicationSchema(ApplicationCreateSchema):
    """An application as services return it (server-owned fields included)."""
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    school_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(APPLICATION_STATUSES))
    score = fields.Float(allow_none=True, metadata={"description": "Screening score (quiz or by hand), 0-100"})
    score_source = fields.String(allow_none=True, metadata={"description": "'quiz' or 'manual'"})
    score_note = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    waitlist_position = Integer(allow_none=True,
                                       metadata={"description": "Position when waitlisted (at that time)"})
    promoted = fields.Boolean(load_default=False)
    previous_status = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    submitted_at = fields.AwareDateTime(required=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    submitted_by = fields.String(required=True, metadata={"description": "The key (<role>:<key id>)"})
    submitted_by_person = acting_person()


class ApplicationListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))
    track = fields.String(validate=SLUG)


ApplicationPageSchema = page_schema(ApplicationSchema)


class ScreeningScoreSchema(StrictSchema):
    """A screening score recorded by staff (e.g. from an interview)."""
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class WithdrawalSchema(StrictSchema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class SelectionRunSchema(StrictSchema):
    tracks = fields.List(fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20),
                         metadata={"description": "Only these tracks (default: all)"})


class SelectionDecisionSchema(StrictSchema):
    application_id = fields.String(required=True)
    student_id = fields.String(required=True)
    track = fields.String(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = fields.String(required=True)
    position = Integer(allow_none=True, metadata={"description": "Waitlist position"})
    promoted = fields.Boolean(load_default=False)


class SelectionResultSchema(StrictSchema):
    program_id = fields.String(required=True)
    decisions = fields.List(fields.Nested(SelectionDecisionSchema), required=True,
                            metadata={"description": "Decisions made by this run (earlier ones are kept)"})
    pending = fields.List(fields.String(), required=True,
                          metadata={"description": "Applications still without a screening score"})
    unchanged = Integer(required=True, metadata={"description": "Applications decided before"})


class TeamCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    track = fields.String(required=True, validate=SLUG)
    members = fields.List(fields.String(validate=STUDENT_ID), required=True,
                          validate=validate.Length(min=1, max=50),
                          metadata={"description": "Student ids (LMS ids) of admitted students"})


class TeamSchema(StrictSchema):
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    school_id = fields.String(required=True)
    track = fields.String(required=True)
    name = fields.String(required=True)
    members = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "disbanded"]))
    complete = fields.Boolean(required=True, metadata={"description": "At least the programme's minimum team size"})
    mentor_id = fields.String(allow_none=True)
    tutor_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    created_by = fields.String(metadata={"description": "The key (<role>:<key id>)"})
    created_by_person = acting_person()


class TeamListQuerySchema(LongPageQuerySchema):
    track = fields.String(validate=SLUG)
    without = fields.String(validate=validate.OneOf(["mentor", "tutor"]),
                            metadata={"description": "Only teams without a mentor (or tutor)"})


class TeamMemberSchema(StrictSchema):
    student_id = fields.String(required=True, validate=STUDENT_ID)


class MentorCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None, allow_none=True)
    partner_id = fields.String(required=True, **ID,
                               metadata={"description": "The enterprise partner the mentor works for"})
    max_load = Integer(required=True, validate=validate.Range(min=1, max=100),
                              metadata={"description": "Most teams at once"})


class TutorCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None, allow_none=True)
    max_load = Integer(required=True, validate=validate.Range(min=1, max=100))


class StaffSchema(StrictSchema):
    """A mentor (kind 'mentor', with partner) or a tutor (kind 'tutor')."""
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    school_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["mentor", "tutor"]))
    name = fields.String(required=True)
    email = fields.String(allow_none=True)
    partner_id = fields.String(allow_none=True)
    max_load = Integer(required=True)
    load = Integer(required=True)
    teams = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    person_id = fields.String(allow_none=True, metadata={
        "description": "The Praxis person this is (the LMS user a roster sync registered: the staff "
                       "their launches act as), else null"})


class MentorChoiceSchema(StrictSchema):
    mentor_id = fields.String(required=True, **ID)


class TutorChoiceSchema(StrictSchema):
    tutor_id = fields.String(required=True, **ID)


class AssignmentSchema(StrictSchema):
    team_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["mentor", "tutor"]))
    staff_id = fields.String(required=True)
    previous_staff_id = fields.String(allow_none=True)


class AssignmentResultSchema(StrictSchema):
    assigned = fields.List(fields.Nested(AssignmentSchema), required=True)
    without_mentor = fields.List(fields.String(), required=True,
                                 metadata={"description": "Teams still without a mentor (no capacity left)"})
    without_tutor = fields.List(fields.String(), required=True)


class StaffLeaveResultSchema(StrictSchema):
    staff = fields.Nested(StaffSchema, required=True)
    reassigned = fields.List(fields.Nested(AssignmentSchema), required=True)
    unassigned = fields.List(fields.String(), required=True,
                             metadata={"description": "Teams left without a mentor (or tutor)"})


class RosterRowSchema(StrictSchema):
    application_id = fields.String(required=True)
    student_id = fields.String(required=True)
    name = fields.String(required=True)
    major = fields.String(required=True)
    year_of_study = Integer(allow_none=True)
    track = fields.String(required=True)
    status = fields.String(required=True)
    promoted = fields.Boolean(required=True)
    team_id = fields.String(allow_none=True)
    team_name = fields.String(allow_none=True)
    mentor_id = fields.String(allow_none=True)
    mentor_name = fields.String(allow_none=True)
    tutor_id = fields.String(allow_none=True)
    tutor_name = fields.String(allow_none=True)


class RosterSchema(StrictSchema):
    program_id = fields.String(required=True)
    rows = fields.List(fields.Nested(RosterRowSchema), required=True,
                       metadata={"description": "A page of the roster, by track, name and student id"})
    limit = Integer(metadata={"description": "The page holds at most this many rows"})
    offset = Integer(metadata={"description": "The page starts after this many rows"})
    has_more = fields.Boolean(metadata={"description": "The roster goes on past this page"})


class RosterQuerySchema(StrictSchema):
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                    metadata={"description": "Rows per page: 100 unless asked (at most 1,000)"})
    offset = Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


ROSTER_COLUMNS = ["student_id", "name", "major", "year_of_study", "track", "status", "promoted",
                  "team_name", "team_id", "mentor_name", "mentor_id", "tutor_name", "tutor_id",
                  "application_id"]

# columns of `praxis import applications FILE` (prior_courses separated by ';')
IMPORT_COLUMNS = ["student_id", "name", "track", "major", "year_of_study", "prior_courses", "motivation"]
