"""The credit exchange (incentives service): the programme's catalogue with stock
and per-student limits, redemptions, cancellations with a refund."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.incentives import (CatalogueItemCreateSchema, CatalogueItemSchema, RedemptionCancelSchema,
                                  RedemptionCreateSchema, RedemptionSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("exchange", __name__, description="Credit exchange: catalogue, redemptions, cancellations")


@blp.route("/programs/<program_id>/catalogue", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(CatalogueItemCreateSchema)
@blp.response(201, CatalogueItemSchema)
def add_item(data, program_id):
    """Publish an item (e.g. 1 academic credit hour for 100 credits) with its stock and per-student limit."""
    return reply(call("incentives", "add_item", program_id, data), 201)


@blp.route("/programs/<program_id>/catalogue", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(CatalogueItemSchema))
def list_items(query, program_id):
    """The programme's catalogue with the stock left, oldest item first."""
    return reply(call("incentives", "list_items", program_id, query))


@blp.route("/redemptions", methods=["POST"])
@roles("admin", "lms")
@acting("student", "staff")
@idempotent
@blp.arguments(RedemptionCreateSchema)
@blp.response(201, RedemptionSchema)
def redeem(data):
    """A student exchanges credits for an item: never oversold, never charged twice
    (409 out of stock; 422 not enough credits or the limit reached)."""
    redemption = call("incentives", "redeem", data)
    return reply(redemption, 201, {"Location": url_for("exchange.get_redemption", redemption_id=redemption["id"])})


@blp.route("/redemptions/<redemption_id>", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, RedemptionSchema)
def get_redemption(redemption_id):
    """One redemption (a student sees only their own)."""
    return reply(call("incentives", "get_redemption", redemption_id))


@blp.route("/redemptions/<redemption_id>/cancellation", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(RedemptionCancelSchema)
@blp.response(200, RedemptionSchema)
def cancel_redemption(data, redemption_id):
    """Staff cancel a redemption: the credits are refunded and the item goes back to stock."""
    return reply(call("incentives", "cancel_redemption", redemption_id, data))
