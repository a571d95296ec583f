"""/programs/{id}/teams, /teams/{id}, /teams/{id}/members, /teams/{id}/mentor|tutor:
admitted students form teams within their track (enrollment service)."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import page_schema
from contracts.enrollment import (MentorChoiceSchema, TeamCreateSchema, TeamListQuerySchema,
                                  TeamMemberSchema, TeamSchema, TutorChoiceSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("teams", __name__, description="Teams of admitted students, with a mentor and a tutor each")


@blp.route("/programs/<program_id>/teams", methods=["POST"])
@roles("admin", "lms")
@acting("student", "staff")
@idempotent
@blp.arguments(TeamCreateSchema)
@blp.response(201, TeamSchema)
def form_team(data, program_id):
    """Admitted students of one track form a team (size within the programme's
    limits; a student is in at most one team per programme)."""
    team = call("enrollment", "form_team", program_id, TeamCreateSchema().dump(data))
    return reply(team, 201, {"Location": url_for("teams.get_team", team_id=team["id"])})


@blp.route("/programs/<program_id>/teams", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(TeamListQuerySchema, location="query")
@blp.response(200, page_schema(TeamSchema))
def list_teams(query, program_id):
    """The programme's active teams in the order they were formed; ``without=mentor`` lists teams without a mentor."""
    return reply(call("enrollment", "list_teams", program_id, query))


@blp.route("/teams/<team_id>", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, TeamSchema)
def get_team(team_id):
    """One team."""
    return reply(call("enrollment", "get_team", team_id))


@blp.route("/teams/<team_id>", methods=["DELETE"])
@roles("admin")
@idempotent
@blp.response(200, TeamSchema)
def disband_team(team_id):
    """Disband a team (until the programme's team lock date)."""
    return reply(call("enrollment", "disband_team", team_id))


@blp.route("/teams/<team_id>/members", methods=["POST"])
@roles("admin", "lms")
@acting("student", "staff")
@idempotent
@blp.arguments(TeamMemberSchema)
@blp.response(200, TeamSchema)
def join_team(data, team_id):
    """An admitted student of the team's track joins (409 when the team is full)."""
    return reply(call("enrollment", "join_team", team_id, data))


@blp.route("/teams/<team_id>/members/<student_id>", methods=["DELETE"])
@roles("admin", "lms")
@acting("student", "staff")
@idempotent
@blp.response(200, TeamSchema)
def leave_team(team_id, student_id):
    """A student leaves the team (until the programme's team lock date)."""
    return reply(call("enrollment", "leave_team", team_id, student_id))


@blp.route("/teams/<team_id>/mentor", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(MentorChoiceSchema)
@blp.response(200, TeamSchema)
def assign_mentor(data, team_id):
    """Give the team this mentor by hand (409 when the mentor is at maximum load)."""
    return reply(call("enrollment", "assign_by_hand", team_id, "mentor", data["mentor_id"]))


@blp.route("/teams/<team_id>/tutor", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(TutorChoiceSchema)
@blp.response(200, TeamSchema)
def assign_tutor(data, team_id):
    """Give the team this tutor by hand (409 when the tutor is at maximum load)."""
    return reply(call("enrollment", "assign_by_hand", team_id, "tutor", data["tutor_id"]))
