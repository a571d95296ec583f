"""Contracts of the assessment service (quizzes, homework, tests, grades)."""
from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import (ID, DecisionSchema, Integer, LongPageQuerySchema, StrictSchema, acting_person,
                            within_calendar)
from contracts.enrollment import SLUG
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
    "approved), or a published one changed (published again with the new times, weight...). "
    "Key: assessment_id; the latest counts. For supervision (what is due when) and incentives (weights).")
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


# --- the assessment API (RPC and HTTP bodies) ----------------------------------

QUESTION_KINDS = ("single_choice", "multiple_choice", "true_false", "numeric", "short_text")
CHOICE_KINDS = ("single_choice", "multiple_choice")
ASSESSMENT_STATUSES = ("proposed", "published", "rejected", "cancelled")
SUBMISSION_STATUSES = ("submitted", "graded", "returned")
GRADE_STATES = ("not_due", "missing", "ungraded", "returned", "graded", "late", "overridden")
KEY = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                      error="1-64 letters, digits, '_', '-', '.', ':' (starting with a letter or digit)")
TOTAL_RULE = ("sum(weight x percent) / sum(weight) over the student's assessments that are due "
              "(deadline passed) or already scored; missing work after the deadline counts as 0; "
              "ungraded and returned work is left out until graded; an override replaces the "
              "computed percent; null when nothing counts yet.")


class OptionSchema(StrictSchema):
    id = fields.String(required=True, validate=KEY)
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    correct = fields.Boolean(load_default=False)


class BankQuestionSchema(StrictSchema):
    """A question of the programme's bank.

    Scoring: single choice and true/false, all or nothing. Multiple choice, partial
    credit: points x max(0, (right options chosen - wrong options chosen) / right
    options), so choosing every option earns nothing unless every option is right.
    Numeric: right when |given - value| <= tolerance. Short text: right when it
    matches an accepted answer ignoring case and all spaces.
    """
    id = fields.String(required=True, validate=KEY, metadata={"description": "Unique within the programme"})
    kind = fields.String(required=True, validate=validate.OneOf(QUESTION_KINDS))
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    module = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    points = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=1000, min_inclusive=False))
    options = fields.List(fields.Nested(OptionSchema), load_default=list, validate=validate.Length(max=20),
                          metadata={"description": "Choice questions: the options, the right ones marked correct"})
    answer = fields.Boolean(load_default=None, allow_none=True, metadata={"description": "True/false: the answer"})
    value = fields.Float(load_default=None, allow_none=True, metadata={"description": "Numeric: the answer"})
    tolerance = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0),
                             metadata={"description": "Numeric: |given - value| <= tolerance is right (0: exact)"})
    accepted = fields.List(fields.String(validate=validate.Length(min=1, max=500)), load_default=list,
                           validate=validate.Length(max=50),
                           metadata={"description": "Short text: the accepted answers"})

    @validates_schema
    def _well_formed(self, data, **kwargs):
        kind = data["kind"]
        if kind in CHOICE_KINDS:
            options = data["options"]
            if len(options) < 2:
                raise ValidationError("a choice question needs at least two options", "options")
            ids = [o["id"] for o in options]
            if len(ids) != len(set(ids)):
                raise ValidationError("option ids must be unique", "options")
            right = sum(1 for o in options if o["correct"])
            if right == 0:
                raise ValidationError("a choice question needs a correct option", "options")
            if kind == "single_choice" and right != 1:
                raise ValidationError("a single choice question has exactly one correct option", "options")
        elif kind == "true_false" and data["answer"] is None:
            raise ValidationError("a true/false question needs its answer", "answer")
        elif kind == "numeric":
            if data["value"] is None:
                raise ValidationError("a numeric question needs its value", "value")
            if data["tolerance"] is None:
                raise ValidationError("a numeric question needs a tolerance (0 for exact)", "tolerance")
        elif kind == "short_text" and not any(a.strip() for a in data["accepted"]):
            raise ValidationError("a short text question needs at least one accepted answer", "accepted")


def _duplicates(ids):
    return sorted({i for i in ids if ids.count(i) > 1})


class QuestionBankCreateSchema(StrictSchema):
    questions = fields.List(fields.Nested(BankQuestionSchema), required=True, validate=validate.Length(min=1, max=500))

    @validates_schema
    def _unique(self, data, **kwargs):
        duplicates = _duplicates([q["id"] for q in data["questions"]])
        if duplicates:
            raise ValidationError(f"duplicate question ids: {', '.join(duplicates)}", "questions")


class BankQuestionOutSchema(BankQuestionSchema):
    program_id = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class QuestionListQuerySchema(LongPageQuerySchema):
    module = fields.String(validate=validate.Length(min=1, max=120))


class LatePolicySchema(StrictSchema):
    accept = fields.Boolean(load_default=False, metadata={"description": "false: refused after the deadline"})
    penalty_per_day = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=100),
                                   metadata={"description": "Percent off per day started after the deadline"})
    penalty_cap = fields.Float(load_default=100.0, validate=validate.Range(min=0, max=100),
                               metadata={"description": "The penalty never exceeds this percent"})


class QuizSpecSchema(StrictSchema):
    question_ids = fields.List(fields.String(validate=KEY), required=True, validate=validate.Length(min=1, max=200),
                               metadata={"description": "Questions of the bank: the paper, or the pool it draws from"})
    draw = Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=200),
                          metadata={"description": "Draw this many per student and attempt (seeded: a reload shows "
                                                   "the same paper); null: every question, in order"})

    @validates_schema
    def _consistent(self, data, **kwargs):
        duplicates = _duplicates(data["question_ids"])
        if duplicates:
            raise ValidationError(f"duplicate question ids: {', '.join(duplicates)}", "question_ids")
        if data["draw"] is not None and data["draw"] > len(data["question_ids"]):
            raise ValidationError("cannot draw more questions than the pool holds", "draw")


class LevelSchema(StrictSchema):
    id = fields.String(required=True, validate=KEY)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    points = fields.Float(required=True, validate=validate.Range(min=0, max=1000))


class CriterionSchema(StrictSchema):
    id = fields.String(required=True, validate=KEY)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    levels = fields.List(fields.Nested(LevelSchema), required=True, validate=validate.Length(min=2, max=10),
                         metadata={"description": "From the lowest to the highest, points strictly rising"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        if _duplicates([level["id"] for level in data["levels"]]):
            raise ValidationError("level ids must be unique", "levels")
        points = [level["points"] for level in data["levels"]]
        if any(b <= a for a, b in zip(points, points[1:])):
            raise ValidationError("levels must go from the lowest to the highest points, strictly rising", "levels")


class RubricSchema(StrictSchema):
    criteria = fields.List(fields.Nested(CriterionSchema), required=True, validate=validate.Length(min=1, max=30))

    @validates_schema
    def _unique(self, data, **kwargs):
        if _duplicates([c["id"] for c in data["criteria"]]):
            raise ValidationError("criterion ids must be unique", "criteria")


class _AssessmentFields(StrictSchema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=5000))
    opens_at = fields.AwareDateTime(validate=within_calendar)
    deadline = fields.AwareDateTime(validate=within_calendar)
    late_policy = fields.Nested(LatePolicySchema)
    max_attempts = Integer(validate=validate.Range(min=1, max=20))
    tracks = fields.List(fields.String(validate=SLUG), validate=validate.Length(max=20),
                         metadata={"description": "Track keys it is for; empty: all tracks"})
    weight = fields.Float(validate=validate.Range(min=0, max=1000), metadata={"description": "Weight in the gradebook"})


class AssessmentCreateSchema(_AssessmentFields):
    kind = fields.String(required=True, validate=validate.OneOf(ASSESSMENT_KINDS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    module = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    opens_at = fields.AwareDateTime(required=True, validate=within_calendar)
    deadline = fields.AwareDateTime(required=True, validate=within_calendar)
    late_policy = fields.Nested(LatePolicySchema, load_default=lambda: LatePolicySchema().load({}))
    max_attempts = Integer(load_default=1, validate=validate.Range(min=1, max=20))
    scoring = fields.String(load_default="best", validate=validate.OneOf(["best", "last"]),
                            metadata={"description": "Which attempt (or competition run) counts"})
    tracks = fields.List(fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20))
    weight = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=1000))
    quiz = fields.Nested(QuizSpecSchema, load_default=None, allow_none=True,
                         metadata={"description": "quiz and rules_quiz: the questions"})
    rubric = fields.Nested(RubricSchema, load_default=None, allow_none=True,
                           metadata={"description": "homework: the rubric"})
    max_score = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False),
                             metadata={"description": "competition: the platform's best possible score"})
    partner_id = fields.String(load_default=None, allow_none=True, **ID,
                               metadata={"description": "School staff only: the partner running it"})

    @validates_schema
    def _consistent(self, data, **kwargs):
        if data["deadline"] <= data["opens_at"]:
            raise ValidationError("must be after opens_at", "deadline")
        kind = data["kind"]
        if kind in ("quiz", "rules_quiz") and not data.get("quiz"):
            raise ValidationError("a quiz needs its questions", "quiz")
        if kind == "homework" and not data.get("rubric"):
            raise ValidationError("homework needs a rubric", "rubric")
        if kind == "competition" and not data.get("max_score"):
            raise ValidationError("a competition needs the platform's max_score", "max_score")
        for name, kinds in (("quiz", ("quiz", "rules_quiz")), ("rubric", ("homework",))):
            if data.get(name) and kind not in kinds:
                raise ValidationError(f"only for {' or '.join(kinds)}", name)


class AssessmentUpdateSchema(_AssessmentFields):
    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("send at least one field to change")


class AssessmentReviewSchema(DecisionSchema):
    pass


class AssessmentListQuerySchema(LongPageQuerySchema):
    kind = fields.String(validate=validate.OneOf(ASSESSMENT_KINDS))
    status = fields.String(validate=validate.OneOf(ASSESSMENT_STATUSES))
    module = fields.String(validate=validate.Length(min=1, max=120))


class AssessmentSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    module = fields.String(required=True)
    description = fields.String(required=True)
    opens_at = fields.AwareDateTime(required=True)
    deadline = fields.AwareDateTime(required=True)
    late_policy = fields.Nested(LatePolicySchema, required=True)
    max_attempts = Integer(required=True)
    scoring = fields.String(required=True)
    tracks = fields.List(fields.String(), required=True)
    weight = fields.Float(required=True)
    max_score = fields.Float(required=True)
    quiz = fields.Nested(QuizSpecSchema, allow_none=True,
                         metadata={"description": "Not shown to students (the paper endpoint serves them)"})
    rubric = fields.Nested(RubricSchema, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(ASSESSMENT_STATUSES))
    partner_id = fields.String(allow_none=True)
    proposed_by = fields.String(required=True)
    proposed_by_person = acting_person()
    review_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class PaperQuerySchema(StrictSchema):
    attempt = Integer(validate=validate.Range(min=1, max=20),
                             metadata={"description": "Default: the student's next attempt"})


class PaperOptionSchema(StrictSchema):
    id = fields.String(required=True)
    text = fields.String(required=True)


class PaperQuestionSchema(StrictSchema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    text = fields.String(required=True)
    points = fields.Float(required=True)
    options = fields.List(fields.Nested(PaperOptionSchema), required=True)


class PaperSchema(StrictSchema):
    assessment_id = fields.String(required=True)
    student_id = fields.String(required=True)
    attempt = Integer(required=True)
    attempts_left = Integer(required=True)
    deadline = fields.AwareDateTime(required=True)
    questions = fields.List(fields.Nested(PaperQuestionSchema), required=True)


_LINKS = fields.List(fields.Url(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000)),
                     load_default=list, validate=validate.Length(max=20),
                     metadata={"description": "Homework: http(s) links (stored, never fetched)"})


class SubmissionCreateSchema(StrictSchema):
    attempt = Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=20),
                             metadata={"description": "The attempt (from the paper); resending it is stored once. "
                                                      "Default: the next attempt"})
    answers = fields.Dict(keys=fields.String(validate=KEY), values=fields.Raw(allow_none=True), load_default=dict,
                          validate=validate.Length(max=200),
                          metadata={"description": "Quizzes: question id -> option id (single choice), option ids "
                                                   "(multiple), true/false, a number, or text"})
    text = fields.String(load_default="", validate=validate.Length(max=100_000),
                         metadata={"description": "Homework: the answer"})
    links = _LINKS


class RevisionSchema(StrictSchema):
    text = fields.String(load_default="", validate=validate.Length(max=100_000))
    links = _LINKS

    @validates_schema
    def _something(self, data, **kwargs):
        if not data["text"].strip() and not data["links"]:
            raise ValidationError("send the revised text or links", "text")


class GradeCreateSchema(StrictSchema):
    levels = fields.Dict(keys=fields.String(validate=KEY), values=fields.String(validate=KEY), required=True,
                         validate=validate.Length(max=30),
                         metadata={"description": "criterion id -> the level picked (every criterion)"})
    comments = fields.Dict(keys=fields.String(validate=KEY), values=fields.String(validate=validate.Length(max=5000)),
                           load_default=dict, validate=validate.Length(max=30), metadata={"description": "criterion id -> comment"})
    comment = fields.String(load_default="", validate=validate.Length(max=5000))


class ReturnCreateSchema(StrictSchema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=5000),
                            metadata={"description": "What to revise"})


class QuestionResultSchema(StrictSchema):
    question_id = fields.String(required=True)
    given = fields.Raw(allow_none=True)
    points = fields.Float(required=True)
    max_points = fields.Float(required=True)
    correct = fields.Raw(allow_none=True, metadata={"description": "The answer key"})


class SubmissionSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    assessment_id = fields.String(required=True)
    assessment_kind = fields.String(required=True)
    module = fields.String(required=True)
    student_id = fields.String(required=True)
    team_id = fields.String(allow_none=True)
    track = fields.String(allow_none=True)
    attempt = Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SUBMISSION_STATUSES))
    submitted_at = fields.AwareDateTime(required=True)
    late = fields.Boolean(required=True)
    days_late = Integer(required=True)
    late_penalty = fields.Float(required=True)
    text = fields.String(allow_none=True)
    links = fields.List(fields.String(), required=True)
    revision = Integer(required=True, metadata={"description": "1; 2 after a return for revision"})
    max_score = fields.Float(required=True)
    raw_score = fields.Float(allow_none=True)
    score = fields.Float(allow_none=True, metadata={"description": "After the late penalty"})
    percent = fields.Float(allow_none=True)
    levels = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    comments = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    comment = fields.String(allow_none=True)
    graded_by = fields.String(allow_none=True)
    graded_by_person = acting_person()
    graded_at = fields.AwareDateTime(allow_none=True)
    returned_by = fields.String(allow_none=True)
    returned_by_person = acting_person()
    returned_at = fields.AwareDateTime(allow_none=True)
    return_comment = fields.String(allow_none=True)
    results = fields.List(fields.Nested(QuestionResultSchema), allow_none=True,
                          metadata={"description": "Quizzes: per question, with the key; a student sees it only "
                                                   "after the deadline"})


class SubmissionResultSchema(StrictSchema):
    created = fields.Boolean(required=True, metadata={"description": "false: this attempt was already stored"})
    submission = fields.Nested(SubmissionSchema, required=True)


class SubmissionListQuerySchema(LongPageQuerySchema):
    student_id = fields.String(validate=validate.Length(min=1, max=128))
    status = fields.String(validate=validate.OneOf(SUBMISSION_STATUSES))


class QueueItemSchema(SubmissionSchema):
    waited_seconds = Integer(required=True, metadata={"description": "Since it was (re)submitted"})
    assessment_title = fields.String(required=True)


class CompetitionResultSchema(StrictSchema):
    run_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    team_id = fields.String(load_default=None, allow_none=True, **ID)
    student_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    score = fields.Float(required=True, validate=validate.Range(min=0))

    @validates_schema
    def _one_subject(self, data, **kwargs):
        if bool(data["team_id"]) == bool(data["student_id"]):
            raise ValidationError("name a team_id or a student_id (one of them)", "team_id")


class CompetitionScoresCreateSchema(StrictSchema):
    results = fields.List(fields.Nested(CompetitionResultSchema), required=True,
                          validate=validate.Length(min=1, max=500))


class ScoreHistorySchema(StrictSchema):
    score = fields.Float(required=True)
    recorded_at = fields.AwareDateTime(required=True)
    recorded_by = fields.String(required=True)
    recorded_by_person = acting_person()


class CompetitionEntrySchema(StrictSchema):
    id = fields.String(required=True)
    assessment_id = fields.String(required=True)
    program_id = fields.String(required=True)
    run_id = fields.String(required=True)
    team_id = fields.String(allow_none=True)
    student_id = fields.String(allow_none=True)
    score = fields.Float(required=True)
    max_score = fields.Float(required=True)
    percent = fields.Float(required=True)
    revision = Integer(required=True)
    history = fields.List(fields.Nested(ScoreHistorySchema), required=True,
                          metadata={"description": "Earlier scores of this run, oldest first"})
    partner_id = fields.String(allow_none=True)
    recorded_by = fields.String(required=True)
    recorded_by_person = acting_person()
    recorded_at = fields.AwareDateTime(required=True)


class CompetitionOutcomeSchema(StrictSchema):
    run_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(["recorded", "unchanged", "corrected"]))
    entry = fields.Nested(CompetitionEntrySchema, required=True)


class CompetitionPostResultSchema(StrictSchema):
    results = fields.List(fields.Nested(CompetitionOutcomeSchema), required=True)


class GradebookQuerySchema(LongPageQuerySchema):
    track = fields.String(validate=SLUG)


class GradebookColumnSchema(StrictSchema):
    assessment_id = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    module = fields.String(required=True)
    weight = fields.Float(required=True)
    deadline = fields.AwareDateTime(required=True)


class GradeItemSchema(StrictSchema):
    assessment_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(GRADE_STATES),
                          metadata={"description": "not_due (nothing yet, before the deadline), missing, ungraded, "
                                                   "returned, graded, late (graded, handed in late), overridden"})
    percent = fields.Float(allow_none=True, metadata={"description": "What counts (the override if any)"})
    computed_percent = fields.Float(allow_none=True)
    override_percent = fields.Float(allow_none=True)
    override_reason = fields.String(allow_none=True)
    late = fields.Boolean(required=True)


class GradebookRowSchema(StrictSchema):
    student_id = fields.String(required=True)
    track = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    items = fields.List(fields.Nested(GradeItemSchema), required=True)
    total = fields.Float(allow_none=True, metadata={"description": TOTAL_RULE})


class GradebookSchema(StrictSchema):
    program_id = fields.String(required=True)
    columns = fields.List(fields.Nested(GradebookColumnSchema), required=True)
    rows = fields.List(fields.Nested(GradebookRowSchema), required=True)
    total_rows = Integer(required=True)
    limit = Integer(required=True)
    offset = Integer(required=True)
    total_rule = fields.String(required=True)


class OverrideCreateSchema(StrictSchema):
    student_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    assessment_id = fields.String(required=True, **ID)
    percent = fields.Float(required=True, validate=validate.Range(min=0, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OverrideHistorySchema(StrictSchema):
    percent = fields.Float(required=True)
    reason = fields.String(required=True)
    overridden_by = fields.String(required=True)
    overridden_by_person = acting_person()
    overridden_at = fields.AwareDateTime(required=True)


class OverrideSchema(StrictSchema):
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    assessment_id = fields.String(required=True)
    student_id = fields.String(required=True)
    percent = fields.Float(required=True)
    computed_percent = fields.Float(allow_none=True)
    reason = fields.String(required=True)
    overridden_by = fields.String(required=True)
    overridden_by_person = acting_person()
    overridden_at = fields.AwareDateTime(required=True)
    history = fields.List(fields.Nested(OverrideHistorySchema), required=True,
                          metadata={"description": "Earlier overrides, oldest first"})
