"""/programs/{id}/sessions, /sessions/{id}: the training plan (content service).

The school's own sessions are scheduled at once; a partner's are proposed and
wait for the school's review. Partners see and change only their own; the LMS
(students) sees scheduled sessions only."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.content import (SessionCancelSchema, SessionCreateSchema, SessionListQuerySchema,
                               SessionReviewSchema, SessionSchema, SessionUpdateSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("sessions", __name__, description="Sessions of a programme's training plan")


@blp.route("/programs/<program_id>/sessions", methods=["POST"])
@roles("admin", "partner")
@idempotent
@blp.arguments(SessionCreateSchema)
@blp.response(201, SessionSchema)
def create_session(data, program_id):
    """Create (school staff: scheduled) or propose (partner: waits for review) a session."""
    session = call("content", "create_session", program_id, SessionCreateSchema().dump(data))
    return reply(session, 201, {"Location": url_for("sessions.get_session", session_id=session["id"])})


@blp.route("/programs/<program_id>/sessions", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(SessionListQuerySchema, location="query")
@blp.response(200, page_schema(SessionSchema))
def list_sessions(query, program_id):
    """The programme's sessions by start time (LMS: scheduled only; partner: its own)."""
    return reply(call("content", "list_sessions", program_id, query))


@blp.route("/programs/<program_id>/proposals", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(SessionSchema))
def list_proposals(query, program_id):
    """Sessions waiting for the school's review: partners' proposals and the follow-ups
    that polls proposed (``poll_id`` says which), oldest first (school staff)."""
    return reply(call("content", "list_proposals", program_id, query))


@blp.route("/sessions/<session_id>", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.response(200, SessionSchema)
def get_session(session_id):
    """One session."""
    return reply(call("content", "get_session", session_id))


@blp.route("/sessions/<session_id>", methods=["PATCH"])
@roles("admin", "partner")
@idempotent
@blp.arguments(SessionUpdateSchema)
@blp.response(200, SessionSchema)
def update_session(data, session_id):
    """Change a session (reschedule, move, another instructor); a scheduled one emits session.changed."""
    return reply(call("content", "update_session", session_id, SessionUpdateSchema().dump(data)))


@blp.route("/sessions/<session_id>/review", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(SessionReviewSchema)
@blp.response(200, SessionSchema)
def review_session(data, session_id):
    """Approve (schedule) or reject a proposed or draft session (school staff)."""
    return reply(call("content", "review_session", session_id, data))


@blp.route("/sessions/<session_id>/cancel", methods=["POST"])
@roles("admin", "partner")
@idempotent
@blp.arguments(SessionCancelSchema)
@blp.response(200, SessionSchema)
def cancel_session(data, session_id):
    """Cancel a session, with the reason (emits session.cancelled)."""
    return reply(call("content", "cancel_session", session_id, data))
