"""Contracts of the assessment service (quizzes, homework, tests, grades)."""
from marshmallow import fields, validate

from contracts.base import ID, StrictSchema
from contracts.events import define

SOURCE = "assessment"


class QuizScoredPayload(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    quiz_id = fields.String(required=True, **ID)
    kind = fields.String(load_default="rules_understanding",
                         validate=validate.OneOf(["rules_understanding", "module_test"]))
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100),
                         metadata={"description": "Percent of the quiz's points"})


QUIZ_SCORED = define(
    SOURCE, "quiz.scored", 1, QuizScoredPayload,
    "A student's quiz was scored. Key: (program_id, student_id, quiz_id). For enrollment "
    "(the rules-understanding quiz is the selection score); the latest score counts.")
