"""Leaderboards per programme, track and team (incentives service), read from the balances."""
from flask_smorest import Blueprint

from contracts.incentives import (LeaderboardPreferenceSchema, LeaderboardQuerySchema, LeaderboardSchema,
                                  LeaderboardSettingsSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("leaderboards", __name__, description="Leaderboards: full, relative or anonymous; opt-out")


@blp.route("/programs/<program_id>/leaderboard", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(LeaderboardQuerySchema, location="query")
@blp.response(200, LeaderboardSchema)
def leaderboard(query, program_id):
    """Ranks by lifetime credits (ties by id), in the programme's mode."""
    return reply(call("incentives", "leaderboard", program_id, query))


@blp.route("/programs/<program_id>/leaderboard-settings", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(LeaderboardSettingsSchema)
@blp.response(200, LeaderboardSettingsSchema)
def settings(data, program_id):
    """The mode (full, relative, anonymous), the neighbours shown in relative mode, team score (sum or mean)."""
    return reply(call("incentives", "set_leaderboard", program_id, data))


@blp.route("/students/<student_id>/leaderboard-preference", methods=["PUT"])
@roles("admin", "lms")
@acting("student", "staff")
@idempotent
@blp.arguments(LeaderboardPreferenceSchema)
@blp.response(200, LeaderboardPreferenceSchema)
def preference(data, student_id):
    """A student opts out of appearing by name (they still see their own rank)."""
    return reply(call("incentives", "set_preference", student_id, data))
