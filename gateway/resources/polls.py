"""Demand polls: crossing the threshold proposes a follow-up session (content service)."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.content import PollCreateSchema, PollSchema, VoteOutSchema, VoteSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("polls", __name__, description="Demand polls and votes")


@blp.route("/programs/<program_id>/polls", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(PollCreateSchema)
@blp.response(201, PollSchema)
def create_poll(data, program_id):
    """Open a poll with a threshold (share of votes yes) and a quorum (share of admitted students voting)."""
    poll = call("content", "create_poll", program_id, PollCreateSchema().dump(data))
    return reply(poll, 201, {"Location": url_for("polls.get_poll", poll_id=poll["id"])})


@blp.route("/programs/<program_id>/polls", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(PollSchema))
def list_polls(query, program_id):
    """The programme's polls, oldest first."""
    return reply(call("content", "list_polls", program_id, query))


@blp.route("/polls/<poll_id>", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, PollSchema)
def get_poll(poll_id):
    """A poll with its tally."""
    return reply(call("content", "get_poll", poll_id))


@blp.route("/polls/<poll_id>/votes", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(VoteSchema)
@blp.response(201, VoteOutSchema)
def vote(data, poll_id):
    """An admitted student votes once."""
    return reply(call("content", "vote", poll_id, data), 201)
