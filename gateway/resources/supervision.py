"""Supervision: platform telemetry (published by the gateway itself with pika),
platform accounts, the funnel's students, student activity, rules, idle accounts,
alerts and the programme report (supervision service)."""
import time
from datetime import datetime, timezone

from flask import Response, current_app, g
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields

from contracts.supervision import (AccountMappingsSchema, AccountPageSchema, AccountQuerySchema, ActivityRecordSchema,
                                   AlertActionSchema, CheckResultSchema, IdlePageQuerySchema, IdlePageSchema,
                                   MappingResultSchema,
                                   AlertPageSchema, AlertQuerySchema, AlertSchema,
                                   PageQuerySchema, ReportSchema, RulesSchema, StagePageSchema, StatementPageSchema,
                                   StudentActivitySchema, TelemetryAcceptedSchema, TelemetryBatchSchema)
from contracts.base import StrictSchema
from gateway.auth import acting, roles
from gateway.dashboard import signed_link
from gateway.errors import problem
from gateway.idempotency import idempotent
from gateway.resources import call, reply
from gateway.telemetry import TelemetryPublisher, batch_event
from services.supervision.reports import report_csv

blp = Blueprint("supervision", __name__,
                description="Platform telemetry, the funnel's students, idle accounts, alerts and reports")

_WORKS_WITH_SECONDS = 60
_works_with = {}  # (school, programme, partner) -> (until, bool): a partner works with a programme


def publisher():
    """One publisher (one channel with confirms) per gateway worker process."""
    if "praxis_telemetry" not in current_app.extensions:
        current_app.extensions["praxis_telemetry"] = TelemetryPublisher(timeout=current_app.config["RPC_TIMEOUT"])
    return current_app.extensions["praxis_telemetry"]


def _check_program_access(program_id):
    """404 for a programme of another school; a partner only for programmes it works
    with (one of its mentors is registered there: enrollment's staff list, cached)."""
    caller = g.caller
    key = (caller["school_id"], program_id, caller.get("partner_id"))
    hit = _works_with.get(key)
    if hit is None or hit[0] < time.monotonic():
        call("enrollment", "get_program", program_id)  # NotFound -> 404
        works = caller["role"] != "partner" or any(
            m.get("partner_id") == caller["partner_id"]
            for m in call("enrollment", "list_staff", program_id, "mentor", {"limit": 200})["items"])
        hit = _works_with[key] = (time.monotonic() + _WORKS_WITH_SECONDS, works)
    if not hit[1]:
        return problem(404, "Not found", f"no programme {program_id} this partner works with")
    return None


def _bad(index, errors):
    reason = "; ".join(f"{field}: {msgs[0] if isinstance(msgs, list) else msgs}" for field, msgs in errors.items())
    return {"index": index, "reason": reason, "errors": errors}


@blp.route("/programs/<program_id>/telemetry", methods=["POST"])
@roles("admin", "partner")
@idempotent
@blp.arguments(TelemetryBatchSchema)
@blp.response(202, TelemetryAcceptedSchema)
def post_telemetry(data, program_id):
    """Post a batch of up to 5,000 platform activity records. The good records are
    published at once (202, without waiting for supervision); bad ones are listed by
    index with the reason. Posting records again changes nothing (dedupe on record_id)."""
    refusal = _check_program_access(program_id)
    if refusal is not None:
        return refusal
    schema, good, bad = ActivityRecordSchema(), [], []
    for index, raw in enumerate(data["records"]):
        try:
            good.append(schema.dump(schema.load(raw if isinstance(raw, dict) else {"": raw})))
        except ValidationError as exc:
            bad.append(_bad(index, exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}))
    if not good:
        return problem(422, "Unprocessable entity", "no valid record in the batch",
                       {"records": {str(b["index"]): [b["reason"]] for b in bad[:100]}})
    event = batch_event(g.caller, program_id, good)
    publisher().publish(event)
    return reply({"batch_id": event["payload"]["batch_id"], "accepted": len(good), "rejected": bad}, 202)


@blp.route("/programs/<program_id>/platform-accounts", methods=["POST"])
@roles("admin", "partner")
@idempotent
@blp.arguments(AccountMappingsSchema)
@blp.response(200, MappingResultSchema)
def map_accounts(data, program_id):
    """Map platform accounts to students (bulk, up to 5,000). Records already counted
    for an unmapped account count for the student from now on."""
    refusal = _check_program_access(program_id)
    if refusal is not None:
        return refusal
    return reply(call("supervision", "map_accounts", program_id, AccountMappingsSchema().dump(data)))


@blp.route("/programs/<program_id>/platform-accounts", methods=["GET"])
@roles("admin", "partner")
@blp.arguments(AccountQuerySchema, location="query")
@blp.response(200, AccountPageSchema)
def list_accounts(query, program_id):
    """The programme's platform accounts with their activity counts and student, by
    account id (``unmapped=true``: only those with no student yet)."""
    refusal = _check_program_access(program_id)
    if refusal is not None:
        return refusal
    return reply(call("supervision", "list_accounts", program_id, AccountQuerySchema().dump(query)))


@blp.route("/programs/<program_id>/funnel/<stage>/students", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, StagePageSchema)
def stage_students(query, program_id, stage):
    """The students who reached a funnel stage, by student id (paged)."""
    return reply(call("supervision", "stage_students", program_id, stage, query))


@blp.route("/programs/<program_id>/students/<student_id>/activity", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, StudentActivitySchema)
def student_activity(program_id, student_id):
    """A student's stages, last activity per kind (LMS and platform) and counts per
    day. The LMS acting for a student reads only that student's."""
    return reply(call("supervision", "student_activity", program_id, student_id))


@blp.route("/programs/<program_id>/supervision-rules", methods=["GET"])
@roles("admin")
@blp.response(200, RulesSchema)
def get_rules(program_id):
    """Idle days, grace period, minimum attendance, excused students."""
    return reply(call("supervision", "get_rules", program_id))


@blp.route("/programs/<program_id>/supervision-rules", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(RulesSchema)
@blp.response(200, RulesSchema)
def set_rules(data, program_id):
    """Set the programme's supervision rules (fields left out take their defaults)."""
    return reply(call("supervision", "set_rules", program_id, RulesSchema().dump(data)))


@blp.route("/programs/<program_id>/idle-accounts", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(IdlePageQuerySchema, location="query")
@blp.response(200, IdlePageSchema)
def idle_accounts(query, program_id):
    """Admitted students whose platform account is idle now, with the spell, by student id."""
    return reply(call("supervision", "idle_accounts", program_id, query))


@blp.route("/programs/<program_id>/checks", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, CheckResultSchema)
def run_checks(program_id):
    """Run the idle check and the attendance alerts now (they also run every minute);
    an idle spell still gives one alert, one penalty and one reclaim."""
    return reply(call("supervision", "run_checks", program_id))


@blp.route("/programs/<program_id>/alerts", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertPageSchema)
def list_alerts(query, program_id):
    """The programme's alerts, oldest first; by status, or for one mentor."""
    return reply(call("supervision", "list_alerts", program_id, query))


@blp.route("/alerts/<alert_id>", methods=["PATCH"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(AlertActionSchema)
@blp.response(200, AlertSchema)
def update_alert(data, alert_id):
    """Acknowledge an alert with a note, or resolve it."""
    return reply(call("supervision", "update_alert", alert_id, AlertActionSchema().dump(data)))


@blp.route("/programs/<program_id>/report", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.response(200, ReportSchema)
def report(program_id):
    """The programme report: a row per student (stage, attendance, platform activity,
    open alerts), attendance per session, mentor responsiveness, instructor scores."""
    return reply(call("supervision", "report", program_id))


@blp.route("/programs/<program_id>/report.csv", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.doc(responses={"200": {"description": "One row per student",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def report_as_csv(program_id):
    """The programme report's student rows as CSV."""
    return Response(report_csv(call("supervision", "report", program_id)), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="report-{program_id}.csv"'})


@blp.route("/programs/<program_id>/xapi-statements", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, StatementPageSchema)
def xapi_statements(query, program_id):
    """The programme's learning records as xAPI statements (ids derived from the events),
    oldest first, each saying whether the LRS holds it yet."""
    return reply(call("supervision", "list_statements", program_id, query))


class DashboardLinkSchema(StrictSchema):
    url = fields.String(required=True, metadata={"description": "Relative to the gateway; opens this programme only"})
    expires_at = fields.AwareDateTime(required=True)


@blp.route("/programs/<program_id>/dashboard-link", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(201, DashboardLinkSchema)
def dashboard_link(program_id):
    """A signed link to the programme's staff dashboard, valid for 7 days (no key needed
    to open it; it opens this programme only)."""
    call("supervision", "get_rules", program_id)  # 404 for a programme supervision does not have
    url, expires = signed_link(g.caller["key_id"], program_id)
    return reply({"url": url, "expires_at": datetime.fromtimestamp(expires, timezone.utc).isoformat()}, 201)
