"""/submissions/{id}/grade, /submissions/{id}/return, /programs/{id}/grading-queue:
the team's mentor or tutor (and school staff) grade homework with its rubric.

A partner key names its mentor (``X-Acting-User: staff:<mentor id>``); the LMS names
a tutor or member of staff. Graders see only their own teams' work."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.assessment import GradeCreateSchema, QueueItemSchema, ReturnCreateSchema, SubmissionSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("grading", __name__, description="Rubric grading, returns for revision and the grading queue")


@blp.route("/submissions/<submission_id>/grade", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(GradeCreateSchema)
@blp.response(200, SubmissionSchema)
def grade(data, submission_id):
    """Pick one level per rubric criterion (comments optional); the total is computed,
    the late penalty taken off; emits submission.graded. Grading again replaces the grade."""
    return reply(call("assessment", "grade", submission_id, data))


@blp.route("/submissions/<submission_id>/return", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(ReturnCreateSchema)
@blp.response(200, SubmissionSchema)
def return_submission(data, submission_id):
    """Return ungraded homework for revision, once, saying what to revise
    (emits submission.returned)."""
    return reply(call("assessment", "return_submission", submission_id, data))


@blp.route("/programs/<program_id>/grading-queue", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(QueueItemSchema))
def grading_queue(query, program_id):
    """Ungraded homework of the grader's own teams (school staff: all), oldest first,
    with how long each has waited."""
    return reply(call("assessment", "grading_queue", program_id, query))
