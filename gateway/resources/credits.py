"""The credit ledger (incentives service): a student's balances and entries,
staff adjustments and reversals, appeals, and the programme's credit rules."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.incentives import (AdjustmentCreateSchema, AppealCreateSchema, AppealDecisionSchema, AppealSchema,
                                  EntrySchema, LedgerQuerySchema, LedgerSchema, RecomputeSchema,
                                  ReversalCreateSchema, RuleSetCreateSchema, RuleSetSchema)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("credits", __name__, description="The credit ledger: balances, entries, adjustments, "
                                                  "reversals, appeals and the programme's credit rules")


@blp.route("/students/<student_id>/credits", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(LedgerQuerySchema, location="query")
@blp.response(200, LedgerSchema)
def student_credits(query, student_id):
    """A student's balances (spendable, lifetime) per programme and ledger entries, oldest first
    (a student reads only their own)."""
    return reply(call("incentives", "get_ledger", student_id, query))


@blp.route("/credits/adjustments", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(AdjustmentCreateSchema)
@blp.response(201, EntrySchema)
def adjust(data):
    """Staff add or take credits by hand, with the reason (a retry with the same
    Idempotency-Key is stored once; the programme's floor applies)."""
    return reply(call("incentives", "adjust", data), 201)


@blp.route("/credits/entries/<entry_id>/reversal", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(ReversalCreateSchema)
@blp.response(201, EntrySchema)
def reverse(data, entry_id):
    """Staff correct an entry by a reversal entry pointing at it (once: 409 the second time)."""
    return reply(call("incentives", "reverse", entry_id, data), 201)


@blp.route("/credits/entries/<entry_id>/appeal", methods=["POST"])
@roles("lms")
@acting("student")
@idempotent
@blp.arguments(AppealCreateSchema)
@blp.response(201, AppealSchema)
def appeal(data, entry_id):
    """A student appeals one of their entries, once."""
    return reply(call("incentives", "appeal", entry_id, data), 201)


@blp.route("/programs/<program_id>/appeals", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(AppealSchema))
def list_appeals(query, program_id):
    """The programme's appeals, oldest first."""
    return reply(call("incentives", "list_appeals", program_id, query))


@blp.route("/appeals/<appeal_id>/decision", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(AppealDecisionSchema)
@blp.response(200, AppealSchema)
def decide_appeal(data, appeal_id):
    """Staff accept an appeal (the entry is reversed) or reject it with the reason."""
    return reply(call("incentives", "decide_appeal", appeal_id, data))


@blp.route("/programs/<program_id>/credit-rules", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, RuleSetSchema)
def get_rules(program_id):
    """The rules in force (version 0: the defaults)."""
    return reply(call("incentives", "get_rules", program_id))


@blp.route("/programs/<program_id>/credit-rules", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(RuleSetCreateSchema)
@blp.response(201, RuleSetSchema)
def set_rules(data, program_id):
    """A new version of the rules, for events from its start on (versions never overlap)."""
    return reply(call("incentives", "set_rules", program_id, RuleSetCreateSchema().dump(data)), 201)


@blp.route("/programs/<program_id>/credit-rules/preview", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(RuleSetCreateSchema)
@blp.response(200, RecomputeSchema)
def preview_rules(data, program_id):
    """What each balance would be had these rules applied from the start (nothing is stored)."""
    return reply(call("incentives", "preview_rules", program_id, RuleSetCreateSchema().dump(data)))


@blp.route("/programs/<program_id>/credit-rules/recompute-preview", methods=["GET"])
@roles("admin")
@blp.response(200, RecomputeSchema)
def recompute_preview(program_id):
    """What each balance would be had the rules in force applied from the start (nothing is written)."""
    return reply(call("incentives", "recompute", program_id, False))


@blp.route("/programs/<program_id>/credit-rules/recompute", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, RecomputeSchema)
def recompute(program_id):
    """Write the preview's differences as adjustment entries (once per rules version)."""
    return reply(call("incentives", "recompute", program_id, True))
