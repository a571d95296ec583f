"""/programs/{id}/question-bank: the programme's quiz questions with their keys
(school staff; a partner adds and sees its own for the quizzes it proposes; students
see questions only on their papers)."""
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.assessment import BankQuestionOutSchema, QuestionBankCreateSchema, QuestionListQuerySchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("question_bank", __name__, description="The question bank of a programme's quizzes")


@blp.route("/programs/<program_id>/question-bank", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(QuestionBankCreateSchema)
@blp.response(201, BankQuestionOutSchema(many=True))
def add_questions(data, program_id):
    """Add questions (all or none). Kinds: single choice, multiple choice, true/false,
    numeric with tolerance, short text; the scoring rules are those of the Question schema.
    A malformed question is refused with the field and the reason."""
    return reply(call("assessment", "add_questions", program_id, QuestionBankCreateSchema().dump(data)), 201)


@blp.route("/programs/<program_id>/question-bank", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("staff")
@blp.arguments(QuestionListQuerySchema, location="query")
@blp.response(200, page_schema(BankQuestionOutSchema))
def list_questions(query, program_id):
    """The bank's questions with their keys, by id (a partner: those it added)."""
    return reply(call("assessment", "list_questions", program_id, query))
