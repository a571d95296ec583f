"""Check-in windows with rotating codes, sign-ins, roll call, corrections,
online presence and replay progress (content service)."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.content import (AttendanceSchema, CheckinCodeSchema, CheckinStatusQuerySchema, CheckinStatusSchema,
                               CheckinWindowOutSchema, CheckinWindowSchema, CorrectionSchema,
                               PresenceSchema, RefusalReportSchema, ReplayProgressOutSchema,
                               ReplayProgressSchema, RollCallResultSchema, RollCallSchema,
                               SignInSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("attendance", __name__, description="Check-in codes, sign-ins, roll call and attendance records")


@blp.route("/sessions/<session_id>/checkin-window", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(CheckinWindowSchema)
@blp.response(201, CheckinWindowOutSchema)
def open_checkin(data, session_id):
    """Open a check-in window now (a new window gets a new secret: older codes die)."""
    return reply(call("content", "open_checkin", session_id, data), 201)


@blp.route("/sessions/<session_id>/checkin-window/close", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.response(200, CheckinWindowOutSchema)
def close_checkin(session_id):
    """Close the open check-in window now."""
    return reply(call("content", "close_checkin", session_id))


@blp.route("/sessions/<session_id>/checkin-code", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("staff")
@blp.response(200, CheckinCodeSchema)
def checkin_code(session_id):
    """The code to show now (projector or stream); it changes every period."""
    return reply(call("content", "checkin_code", session_id))


@blp.route("/sessions/<session_id>/sign-ins", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(SignInSchema)
@blp.response(201, AttendanceSchema)
@blp.alt_response(200, schema=AttendanceSchema, description="Signed in already: the existing record")
def sign_in(data, session_id):
    """A student signs in with the code shown now. Refusals (422) say why and are kept."""
    result = call("content", "sign_in", session_id, data)
    return reply(result["record"], 201 if result["created"] else 200)


@blp.route("/sessions/<session_id>/checkin-status", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("staff")
@blp.arguments(CheckinStatusQuerySchema, location="query")
@blp.response(200, CheckinStatusSchema)
def checkin_status(query, session_id):
    """Live list: who has and who has not signed in, and flagged records (the counts
    whole, the lists a page: ``limit``/``offset``)."""
    return reply(call("content", "checkin_status", session_id, query))


@blp.route("/sessions/<session_id>/checkin-refusals", methods=["GET"])
@roles("admin")
@blp.response(200, RefusalReportSchema)
def checkin_refusals(session_id):
    """Refused sign-ins with their reasons, and counts per student (supervision)."""
    return reply(call("content", "checkin_refusals", session_id))


@blp.route("/sessions/<session_id>/attendance", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(AttendanceSchema))
def list_attendance(query, session_id):
    """The session's attendance records, by student id."""
    return reply(call("content", "list_attendance", session_id, query))


@blp.route("/sessions/<session_id>/roll-call", methods=["POST"])
@roles("admin", "lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(RollCallSchema)
@blp.response(200, RollCallResultSchema)
def roll_call(data, session_id):
    """A teacher's roll call: the students present (others without a record become absent)."""
    return reply(call("content", "roll_call", session_id, data))


@blp.route("/sessions/<session_id>/attendance/<student_id>", methods=["PATCH"])
@roles("admin")
@idempotent
@blp.arguments(CorrectionSchema)
@blp.response(200, AttendanceSchema)
def correct_attendance(data, session_id, student_id):
    """Correct a record (school staff), with the reason; kept in its history."""
    return reply(call("content", "correct_attendance", session_id, student_id, data))


@blp.route("/sessions/<session_id>/presence", methods=["POST"])
@roles("lms", "partner")
@acting("staff")
@idempotent
@blp.arguments(PresenceSchema)
@blp.response(200, AttendanceSchema)
def record_presence(data, session_id):
    """A join or leave from the meeting platform; enough minutes make the student present."""
    return reply(call("content", "record_presence", session_id, PresenceSchema().dump(data)))


@blp.route("/sessions/<session_id>/replay-progress", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(ReplayProgressSchema)
@blp.response(200, ReplayProgressOutSchema)
def replay_progress(data, session_id):
    """How much of the replay a student watched; past the threshold a missed session counts as watched_replay."""
    return reply(call("content", "replay_progress", session_id, data))
