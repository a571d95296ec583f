"""/programs/{id}/mentors, /programs/{id}/tutors, /mentors/{id}, /tutors/{id},
/programs/{id}/assignments: enterprise mentors and school tutors with a maximum
load, assigned to teams automatically or by hand (enrollment service)."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.enrollment import (AssignmentResultSchema, MentorCreateSchema, StaffLeaveResultSchema,
                                  StaffSchema, TutorCreateSchema)
from gateway.auth import roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("mentors", __name__, description="Enterprise mentors and school tutors of a programme")


@blp.route("/programs/<program_id>/mentors", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(MentorCreateSchema)
@blp.response(201, StaffSchema)
def register_mentor(data, program_id):
    """Register an enterprise mentor (with their partner) and their maximum load."""
    return reply(call("enrollment", "register_staff", program_id, "mentor", data), 201)


@blp.route("/programs/<program_id>/tutors", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(TutorCreateSchema)
@blp.response(201, StaffSchema)
def register_tutor(data, program_id):
    """Register a school tutor and their maximum load."""
    return reply(call("enrollment", "register_staff", program_id, "tutor", data), 201)


@blp.route("/programs/<program_id>/mentors", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(StaffSchema))
def list_mentors(query, program_id):
    """The programme's mentors with their load, in the order they were registered."""
    return reply(call("enrollment", "list_staff", program_id, "mentor", query))


@blp.route("/programs/<program_id>/tutors", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(StaffSchema))
def list_tutors(query, program_id):
    """The programme's tutors with their load, in the order they were registered."""
    return reply(call("enrollment", "list_staff", program_id, "tutor", query))


@blp.route("/mentors/<mentor_id>", methods=["DELETE"])
@roles("admin")
@idempotent
@blp.response(200, StaffLeaveResultSchema)
def remove_mentor(mentor_id):
    """A mentor leaves: their teams are reassigned to the others, balancing load;
    teams nobody has room for are left without a mentor (and listed)."""
    return reply(call("enrollment", "remove_staff", mentor_id, "mentor"))


@blp.route("/tutors/<tutor_id>", methods=["DELETE"])
@roles("admin")
@idempotent
@blp.response(200, StaffLeaveResultSchema)
def remove_tutor(tutor_id):
    """A tutor leaves: their teams are reassigned, as for mentors."""
    return reply(call("enrollment", "remove_staff", tutor_id, "tutor"))


@blp.route("/programs/<program_id>/assignments", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, AssignmentResultSchema)
def assign_staff(program_id):
    """Give every team without a mentor (or tutor) one automatically: always the
    least loaded, never over a maximum. Lists the teams still without."""
    return reply(call("enrollment", "assign_staff", program_id))
