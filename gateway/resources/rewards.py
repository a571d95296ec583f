"""Enterprise rewards (incentives service): a partner adopted a team's innovation."""
from flask_smorest import Blueprint

from contracts.incentives import EnterpriseRewardCreateSchema, EnterpriseRewardSchema
from gateway.auth import roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("enterprise_rewards", __name__, description="Enterprise rewards shared among a team's members")


@blp.route("/teams/<team_id>/enterprise-rewards", methods=["POST"])
@roles("partner", "admin")
@idempotent
@blp.arguments(EnterpriseRewardCreateSchema)
@blp.response(201, EnterpriseRewardSchema)
def grant(data, team_id):
    """Credits (and optionally money, recorded as data) for a team, split equally or by
    shares; the members' credits add up to the amount exactly (largest remainder). A
    partner rewards only teams of programmes it works with."""
    return reply(call("incentives", "grant_enterprise_reward", team_id, EnterpriseRewardCreateSchema().dump(data)),
                 201)
