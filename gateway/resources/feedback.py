"""Feedback on sessions and instructor scores (content service)."""
from flask_smorest import Blueprint

from contracts.content import (FeedbackCreateSchema, FeedbackSchema, InstructorScoreSchema,
                               SessionFeedbackSummarySchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("feedback", __name__, description="Feedback after sessions; instructor scores")


@blp.route("/sessions/<session_id>/feedback", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(FeedbackCreateSchema)
@blp.response(201, FeedbackSchema)
def submit_feedback(data, session_id):
    """An attending student rates the session once, after it ended."""
    return reply(call("content", "submit_feedback", session_id, data), 201)


@blp.route("/sessions/<session_id>/feedback", methods=["GET"])
@roles("admin", "partner")
@blp.response(200, SessionFeedbackSummarySchema)
def feedback_summary(session_id):
    """Count, averages, response rate and comments of a session."""
    return reply(call("content", "feedback_summary", session_id))


@blp.route("/instructors/<instructor_id>/score", methods=["GET"])
@roles("admin")
@blp.response(200, InstructorScoreSchema)
def instructor_score(instructor_id):
    """An instructor's running score over their sessions (school staff)."""
    return reply(call("content", "instructor_score", instructor_id))
