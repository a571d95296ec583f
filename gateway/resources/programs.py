"""/programs: a school's training programmes (stored by the enrollment service)."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.enrollment import ProgramCreateSchema, ProgramListQuerySchema, ProgramSchema
from contracts.errors import NotFound
from contracts.supervision import FunnelSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("programs", __name__, description="Training programmes with tracks, capacity and rules")


@blp.route("/programs", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(ProgramCreateSchema)
@blp.response(201, ProgramSchema)
def create_program(data):
    """Create a programme (school staff)."""
    program = call("enrollment", "create_program", ProgramCreateSchema().dump(data))
    return reply(program, 201, {"Location": url_for("programs.get_program", program_id=program["id"])})


@blp.route("/programs", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(ProgramListQuerySchema, location="query")
@blp.response(200, page_schema(ProgramSchema))
def list_programs(query):
    """The school's programmes, newest first."""
    return reply(call("enrollment", "list_programs", query))


@blp.route("/programs/<program_id>", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.response(200, ProgramSchema)
def get_program(program_id):
    """One programme (404 for another school's)."""
    return reply(call("enrollment", "get_program", program_id))


@blp.route("/programs/<program_id>/funnel", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.response(200, FunnelSchema)
def get_funnel(program_id):
    """The programme's funnel: registered, admitted, trained, active, submitting, finished
    (null with a note for a stage that has no source yet). A programme supervision has
    not heard of yet (just created) has an empty funnel, not 404."""
    try:
        return reply(call("supervision", "get_funnel", program_id))
    except NotFound:
        program = call("enrollment", "get_program", program_id)  # 404 when there is none
        return reply(call("supervision", "get_funnel", program_id, program))
