"""Questions about a session, answered by the instructor or the team's mentor
within the programme's SLA (content service)."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.content import AnswerCreateSchema, QuestionCreateSchema, QuestionSchema, ResolveSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("questions", __name__, description="Questions and answers per session, with an answer deadline")


@blp.route("/sessions/<session_id>/questions", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(QuestionCreateSchema)
@blp.response(201, QuestionSchema)
def ask_question(data, session_id):
    """A student asks (also after the session); the deadline is the programme's SLA."""
    question = call("content", "ask_question", session_id, data)
    return reply(question, 201, {"Location": url_for("questions.list_questions", session_id=session_id)})


@blp.route("/sessions/<session_id>/questions", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(QuestionSchema))
def list_questions(query, session_id):
    """The session's questions with their answers, in the order they were asked."""
    return reply(call("content", "list_questions", session_id, query))


@blp.route("/questions/<question_id>/answers", methods=["POST"])
@roles("lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(AnswerCreateSchema)
@blp.response(200, QuestionSchema)
def answer_question(data, question_id):
    """The session's instructor or the team's mentor answers."""
    return reply(call("content", "answer_question", question_id, data))


@blp.route("/questions/<question_id>/resolve", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(ResolveSchema)
@blp.response(200, QuestionSchema)
def resolve_question(data, question_id):
    """The student who asked marks the question resolved."""
    return reply(call("content", "resolve_question", question_id, data))


@blp.route("/programs/<program_id>/questions/overdue", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(QuestionSchema))
def overdue_questions(query, program_id):
    """Open questions past their answer deadline (supervision), longest overdue first."""
    return reply(call("content", "overdue_questions", program_id, query))
