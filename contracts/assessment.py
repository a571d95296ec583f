"""Contracts of the assessment service (quizzes, homework, tests, grades)."""
from marshmallow import fields, validate

from contracts.base import ID, StrictSchema
from contracts.events import define

SOURCE = "assessment"

ASSESSMENT_KINDS = ("quiz", "homework", "rules_quiz", "competition")
STUDENT_ID = dict(validate=validate.Length(min=1, max=128))


class QuizScoredPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    quiz_id = fields.String(required=True, **ID)
    kind = fields.String(load_default="rules_understanding",
                         validate=validate.OneOf(["rules_understanding", "module_test"]))
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100),
                         metadata={"description": "Percent of the quiz's points"})
    # minor v1 additions (optional): which attempt and submission gave the score
    module = fields.String(load_default=None, allow_none=True)
    attempt = fields.Integer(load_default=None, allow_none=True)
    submission_id = fields.String(load_default=None, allow_none=True)


class _AssessmentRef(StrictSchema):
    """What every assessment event names: the programme, the assessment, its kind and module."""
    program_id = fields.String(required=True, **ID)
    assessment_id = fields.String(required=True, **ID)
    assessment_kind = fields.String(required=True, validate=validate.OneOf(ASSESSMENT_KINDS))
    module = fields.String(required=True)


class AssessmentPublishedPayload(_AssessmentRef):
    title = fields.String(required=True)
    tracks = fields.List(fields.String(), required=True,
                         metadata={"description": "Track keys it is for; empty: all tracks"})
    opens_at = fields.AwareDateTime(required=True)
    deadline = fields.AwareDateTime(required=True)
    max_attempts = fields.Integer(required=True)
    weight = fields.Float(required=True, metadata={"description": "Weight in the gradebook"})
    max_score = fields.Float(required=True)
    late_accepted = fields.Boolean(required=True)
    late_penalty_per_day = fields.Float(required=True, metadata={"description": "Percent per day started"})
    late_penalty_cap = fields.Float(required=True, metadata={"description": "Percent, at most"})
    partner_id = fields.String(load_default=None, allow_none=True,
                               metadata={"description": "The partner that proposed it, if any"})


class _StudentWork(_AssessmentRef):
    student_id = fields.String(required=True, **STUDENT_ID)
    team_id = fields.String(load_default=None, allow_none=True)
    track = fields.String(load_default=None, allow_none=True)
    deadline = fields.AwareDateTime(required=True)


class _Submission(_StudentWork):
    submission_id = fields.String(required=True, **ID)
    attempt = fields.Integer(required=True, validate=validate.Range(min=1))
    submitted_at = fields.AwareDateTime(required=True)
    late = fields.Boolean(required=True)
    days_late = fields.Integer(required=True, metadata={"description": "Days started after the deadline; 0 on time"})
    on_time = fields.Boolean(required=True)


class SubmissionReceivedPayload(_Submission):
    pass


class SubmissionGradedPayload(_Submission):
    score = fields.Float(required=True, metadata={"description": "Points after the late penalty"})
    raw_score = fields.Float(required=True, metadata={"description": "Points before the late penalty"})
    max_score = fields.Float(required=True)
    percent = fields.Float(required=True, metadata={"description": "score / max_score * 100"})
    late_penalty = fields.Float(required=True, metadata={"description": "Percent taken off for lateness"})
    graded_at = fields.AwareDateTime(required=True)
    graded_by = fields.String(required=True, metadata={"description": "'auto' for quizzes, else the grader"})
    counted_percent = fields.Float(required=True,
                                   metadata={"description": "The student's counted score now (best or last attempt)"})


class SubmissionReturnedPayload(_Submission):
    returned_at = fields.AwareDateTime(required=True)
    returned_by = fields.String(required=True)
    comment = fields.String(required=True)


class DeadlineMissedPayload(_StudentWork):
    max_score = fields.Float(required=True)
    weight = fields.Float(required=True)


class CompetitionScoreRecordedPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    assessment_id = fields.String(required=True, **ID)
    assessment_kind = fields.String(load_default="competition", validate=validate.OneOf(ASSESSMENT_KINDS))
    module = fields.String(required=True)
    run_id = fields.String(required=True, metadata={"description": "The simulation platform's run id"})
    entry_id = fields.String(required=True, **ID)
    team_id = fields.String(load_default=None, allow_none=True)
    student_id = fields.String(load_default=None, allow_none=True)
    student_ids = fields.List(fields.String(), required=True,
                              metadata={"description": "The student, or the team's members when recorded"})
    track = fields.String(load_default=None, allow_none=True)
    score = fields.Float(required=True)
    max_score = fields.Float(required=True)
    percent = fields.Float(required=True)
    revision = fields.Integer(required=True, metadata={"description": "1, then +1 per correction"})
    corrected = fields.Boolean(required=True)
    previous_score = fields.Float(load_default=None, allow_none=True)
    partner_id = fields.String(load_default=None, allow_none=True)
    recorded_at = fields.AwareDateTime(required=True)


class GradeOverriddenPayload(_AssessmentRef):
    student_id = fields.String(required=True, **STUDENT_ID)
    team_id = fields.String(load_default=None, allow_none=True)
    track = fields.String(load_default=None, allow_none=True)
    computed_percent = fields.Float(load_default=None, allow_none=True,
                                    metadata={"description": "The computed score; null when missing"})
    override_percent = fields.Float(required=True)
    reason = fields.String(required=True)
    overridden_by = fields.String(required=True)
    overridden_at = fields.AwareDateTime(required=True)


QUIZ_SCORED = define(
    SOURCE, "quiz.scored", 1, QuizScoredPayload,
    "A student's quiz was scored. Key: (program_id, student_id, quiz_id). For enrollment "
    "(the rules-understanding quiz is the selection score); the latest score counts, so score "
    "is the student's counted score (best or last attempt, as the quiz says).")
ASSESSMENT_PUBLISHED = define(
    SOURCE, "assessment.published", 1, AssessmentPublishedPayload,
    "An assessment became visible to students (created by the school, or a partner's proposal "
    "approved). Key: assessment_id. For supervision (what is due when) and incentives (weights).")
SUBMISSION_RECEIVED = define(
    SOURCE, "submission.received", 1, SubmissionReceivedPayload,
    "A student handed in an attempt (a quiz attempt or homework), on time or late. Key: submission_id. "
    "For supervision (funnel: submitting; lateness) and incentives (on-time credit).")
SUBMISSION_GRADED = define(
    SOURCE, "submission.graded", 1, SubmissionGradedPayload,
    "A submission got its score (quizzes at once by the server, homework by a rubric grader). "
    "Key: submission_id (a regrade publishes again; the latest graded_at counts). "
    "For incentives (grade credit) and supervision (progress, grading delays).")
SUBMISSION_RETURNED = define(
    SOURCE, "submission.returned", 1, SubmissionReturnedPayload,
    "A grader returned a homework submission for revision (once per submission). Key: submission_id. "
    "For supervision (students to follow up) and incentives.")
DEADLINE_MISSED = define(
    SOURCE, "deadline.missed", 1, DeadlineMissedPayload,
    "An assessment's deadline passed and an admitted student of its tracks had handed in nothing; "
    "emitted once per student and assessment. Key: assessment_id + student_id. "
    "For supervision (alerts, missing work) and incentives (penalties).")
COMPETITION_SCORE_RECORDED = define(
    SOURCE, "competition_score.recorded", 1, CompetitionScoreRecordedPayload,
    "The partner posted a simulation platform result for a team or a student (new, or a "
    "correction of the same run: revision > 1). Key: entry_id + revision. "
    "For incentives (competition credit) and supervision (platform activity).")
GRADE_OVERRIDDEN = define(
    SOURCE, "grade.overridden", 1, GradeOverriddenPayload,
    "Staff overrode a student's score for an assessment, with a reason (the computed score is "
    "kept beside it). Key: assessment_id + student_id + overridden_at. For incentives and supervision.")
