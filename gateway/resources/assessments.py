"""/programs/{id}/assessments, /assessments/{id}: quizzes, homework, the rules quiz
and competitions of a programme (assessment service).

The school's own assessments are published at once; a partner's are proposed and
wait for the school's review. Students (the LMS acting ``student:<id>``) see the
published ones of their track, without the quiz's question pool."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.assessment import (AssessmentCreateSchema, AssessmentListQuerySchema, AssessmentReviewSchema,
                                  AssessmentSchema, AssessmentUpdateSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("assessments", __name__, description="Assessments: quizzes, homework, the rules quiz, competitions")


@blp.route("/programs/<program_id>/assessments", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(AssessmentCreateSchema)
@blp.response(201, AssessmentSchema)
def create_assessment(data, program_id):
    """Create (school staff: published, emits assessment.published) or propose (partner:
    waits for review) an assessment. A quiz names questions of the programme's bank."""
    created = call("assessment", "create_assessment", program_id, AssessmentCreateSchema().dump(data))
    return reply(created, 201, {"Location": url_for("assessments.get_assessment", assessment_id=created["id"])})


@blp.route("/programs/<program_id>/assessments", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(AssessmentListQuerySchema, location="query")
@blp.response(200, page_schema(AssessmentSchema))
def list_assessments(query, program_id):
    """The programme's assessments by deadline (students: published ones of their
    track; partner: published ones and its own proposals)."""
    return reply(call("assessment", "list_assessments", program_id, query))


@blp.route("/assessments/<assessment_id>", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.response(200, AssessmentSchema)
def get_assessment(assessment_id):
    """One assessment."""
    return reply(call("assessment", "get_assessment", assessment_id))


@blp.route("/assessments/<assessment_id>", methods=["PATCH"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(AssessmentUpdateSchema)
@blp.response(200, AssessmentSchema)
def update_assessment(data, assessment_id):
    """Change times, late policy, attempts, tracks or weight (school staff; a partner
    its own proposal before review). A published one emits assessment.published again."""
    return reply(call("assessment", "update_assessment", assessment_id, AssessmentUpdateSchema().dump(data)))


@blp.route("/assessments/<assessment_id>", methods=["DELETE"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.response(200, AssessmentSchema)
def cancel_assessment(assessment_id):
    """Cancel an assessment (school staff): it leaves the lists and the gradebook."""
    return reply(call("assessment", "cancel_assessment", assessment_id))


@blp.route("/assessments/<assessment_id>/review", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(AssessmentReviewSchema)
@blp.response(200, AssessmentSchema)
def review_assessment(data, assessment_id):
    """Approve (publish) or reject a partner's proposal (school staff)."""
    return reply(call("assessment", "review_assessment", assessment_id, data))
