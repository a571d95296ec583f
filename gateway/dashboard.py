"""The staff dashboard: one programme's funnel, attendance per session, idle accounts,
open alerts, mentor responsiveness and instructor scores, as a server-rendered page
that refreshes its numbers by itself (``data.json`` every few seconds).

An admin signs in once with their API key and gets a session cookie (signed, HTTP
only), or follows a signed link with an expiry (``POST /api/v1/programs/{id}/dashboard-link``)
that opens that programme only. The chart library (frappe-charts, MIT) is shipped in
gateway/static/vendor: no CDN, no build step.
"""
import hashlib
import hmac
import os
import secrets
import time
from datetime import timedelta

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for

from contracts.errors import NotFound
from contracts.supervision import FUNNEL_STAGES
from gateway import auth
from gateway.db import get_db
from gateway.resources import call

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
LINK_SECONDS = 7 * 24 * 3600
SESSION_HOURS = 8


def secret():
    """PRAXIS_SECRET_KEY, else one random secret kept in the gateway's database (so every
    gateway worker signs cookies and links alike)."""
    if os.environ.get("PRAXIS_SECRET_KEY"):
        return os.environ["PRAXIS_SECRET_KEY"]
    settings = get_db().settings
    settings.update_one({"_id": "dashboard_secret"}, {"$setOnInsert": {"value": secrets.token_hex(32)}},
                        upsert=True)
    return settings.find_one({"_id": "dashboard_secret"})["value"]


def _signature(key_id, program_id, expires):
    return hmac.new(secret().encode(), f"{key_id}|{program_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def signed_link(key_id, program_id, seconds=LINK_SECONDS):
    expires = int(time.time()) + seconds
    query = f"key={key_id}&exp={expires}&sig={_signature(key_id, program_id, expires)}"
    return f"/dashboard/programs/{program_id}?{query}", expires


@bp.before_request
def _secret_and_session():
    if not current_app.secret_key:
        current_app.secret_key = secret()
        current_app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                                  PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))


def _admin_key(key_id):
    record = auth._lookup(key_id) if key_id else None
    if record is None or record.get("revoked") or record["role"] != "admin":
        return None
    return record


def _caller(record):
    key = f"admin:{record['_id']}"
    return {"key_id": record["_id"], "school_id": record["school_id"], "role": "admin",
            "partner_id": None, "acting": {"kind": None, "id": None}, "actor": f"{key}/dashboard",
            "correlation_id": g.correlation_id}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    target = request.values.get("next", "")
    if not target.startswith("/dashboard/programs/"):
        target = ""
    error = None
    if request.method == "POST":
        parts = request.form.get("key", "").strip().split("_", 2)
        record = _admin_key(parts[1]) if len(parts) == 3 and parts[0] == "prx" else None
        if record is not None and hmac.compare_digest(record["hash"], auth._digest(parts[2])):
            session.clear()
            session.permanent = True
            session["key_id"] = record["_id"]
            return redirect(target or url_for("dashboard.sign_in"))
        error = "That key is unknown, revoked, or not a school admin's."
    return render_template("sign_in.html", error=error, target=target), 401 if error else 200


def _program_caller(program_id):
    """The caller for this page: a signed link (that programme only) or the session."""
    if "sig" in request.args:
        key_id, expires = request.args.get("key", ""), request.args.get("exp", "0")
        valid = (expires.isdigit() and int(expires) > time.time()
                 and hmac.compare_digest(_signature(key_id, program_id, expires), request.args.get("sig", "")))
        record = _admin_key(key_id) if valid else None
        if record is None:
            abort(403)
        session.clear()
        session.permanent = True
        session.update(key_id=key_id, programs=[program_id])
    record = _admin_key(session.get("key_id"))
    if record is None or (session.get("programs") is not None and program_id not in session["programs"]):
        return None
    return _caller(record)


def dashboard_data(program_id):
    try:
        report = call("supervision", "report", program_id)
    except NotFound:  # just created: supervision has not heard of it yet (NotFound if enrollment has none)
        known = call("enrollment", "get_program", program_id)
        return {"program_id": program_id, "funnel": call("supervision", "get_funnel", program_id, known),
                "sessions": [], "idle": [], "alerts": [], "mentors": [], "instructors": [],
                "refreshed_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    alerts = call("supervision", "list_alerts", program_id, {"status": "open", "limit": 200})["items"]
    return {"program_id": program_id, "funnel": report["funnel"], "sessions": report["sessions"],
            "idle": call("supervision", "idle_accounts", program_id, {"limit": 500})["items"], "alerts": alerts,
            "mentors": report["mentors"], "instructors": report["instructors"],
            "refreshed_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


@bp.route("/programs/<program_id>")
def page(program_id):
    caller = _program_caller(program_id)
    if caller is None:
        return redirect(url_for("dashboard.sign_in", next=f"/dashboard/programs/{program_id}"))
    g.caller = caller
    try:
        data = dashboard_data(program_id)
    except NotFound:
        abort(404)
    refresh = min(max(request.args.get("refresh", 10, type=int), 1), 300)
    return render_template("dashboard.html", data=data, refresh=refresh, stages=FUNNEL_STAGES)


@bp.route("/programs/<program_id>/data.json")
def data(program_id):
    caller = _program_caller(program_id)
    if caller is None:
        return jsonify({"title": "Unauthorized", "status": 401}), 401
    g.caller = caller
    try:
        return jsonify(dashboard_data(program_id))
    except NotFound:
        return jsonify({"title": "Not found", "status": 404}), 404


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    session.clear()
    return redirect(url_for("dashboard.sign_in"))
