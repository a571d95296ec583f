"""/assessments/{id}/paper, /assessments/{id}/submissions, /submissions/{id}: students
take quizzes and hand in homework (assessment service).

A quiz is scored at once on the server; its answer keys reach the student only after
the deadline. The same attempt sent twice (a double click, two tabs, a retry) is
stored once: the second answer says ``created: false``."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.assessment import (PaperQuerySchema, PaperSchema, RevisionSchema, SubmissionCreateSchema,
                                  SubmissionListQuerySchema, SubmissionResultSchema, SubmissionSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("submissions", __name__, description="Quiz papers, attempts and homework submissions")


@blp.route("/assessments/<assessment_id>/paper", methods=["GET"])
@roles("lms")
@acting("student")
@blp.arguments(PaperQuerySchema, location="query")
@blp.response(200, PaperSchema)
def get_paper(query, assessment_id):
    """The student's quiz paper for an attempt (default: the next one): drawn and
    shuffled per student and attempt, the same on every reload, without keys."""
    return reply(call("assessment", "paper", assessment_id, query))


@blp.route("/assessments/<assessment_id>/submissions", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(SubmissionCreateSchema)
@blp.response(201, SubmissionResultSchema)
def submit(data, assessment_id):
    """Hand in an attempt: quiz answers (scored at once) or homework text and links.
    201 when stored, 200 when this attempt was stored before (nothing changes); 409
    before the opening, after the deadline (late work refused) or past the attempts."""
    result = call("assessment", "submit", assessment_id, SubmissionCreateSchema().dump(data))
    location = url_for("submissions.get_submission", submission_id=result["submission"]["id"])
    return reply(result, 201 if result["created"] else 200, {"Location": location})


@blp.route("/assessments/<assessment_id>/submissions", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(SubmissionListQuerySchema, location="query")
@blp.response(200, page_schema(SubmissionSchema))
def list_submissions(query, assessment_id):
    """The assessment's submissions, oldest first: a student their own, a mentor or
    tutor their teams', school staff all."""
    return reply(call("assessment", "list_submissions", assessment_id, query))


@blp.route("/submissions/<submission_id>", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.response(200, SubmissionSchema)
def get_submission(submission_id):
    """One submission (per-question results for a student after the deadline)."""
    return reply(call("assessment", "get_submission", submission_id))


@blp.route("/submissions/<submission_id>/revision", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(RevisionSchema)
@blp.response(200, SubmissionSchema)
def revise(data, submission_id):
    """The student hands in the revision of homework returned to them."""
    return reply(call("assessment", "revise", submission_id, RevisionSchema().dump(data)))
