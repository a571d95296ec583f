"""The public LTI endpoints (outside /api/v1: the LMS and the browser call them
without an API key):

``/lti/login``                       OIDC third-party initiated login
``/lti/launch``                      the id_token POST (resource link or deep linking)
``/lti/platforms/<id>/jwks.json``    the school's public keys, for that platform
``/lti/session``                     who the launch session is (JSON)
``/lti/deep-linking``                the instructor's picks, back to the LMS, signed
``/lti/app/...``                     the pages a launch opens (gateway/lti/pages.py)
"""
import hmac
import logging
import os
import re
from urllib.parse import quote

from flask import Blueprint, jsonify, redirect, request
from marshmallow import ValidationError
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem

from contracts.lti import DeepLinkResponseSchema
from gateway.errors import problem
from gateway.lti import registry, session, tool

log = logging.getLogger("praxis.lti")
bp = Blueprint("lti_tool", __name__, url_prefix="/lti")

CUSTOM_CLAIM = tool.CUSTOM_CLAIM
TARGET = re.compile(r"(session|assessment|program):([A-Za-z0-9_-]{1,64})|credits|dashboard")


def base_url():
    return (os.environ.get("PRAXIS_PUBLIC_URL") or request.url_root).rstrip("/")


def tool_urls(platform_id):
    """What staff enter in the LMS for this registration."""
    base = base_url()
    return {"login_url": f"{base}/lti/login", "launch_url": f"{base}/lti/launch",
            "deep_linking_url": f"{base}/lti/launch", "jwks_url": f"{base}/lti/platforms/{platform_id}/jwks.json"}


def _refused(exc, what, platform=None, user=None):
    platform = platform or getattr(exc, "platform", None)
    user = user or getattr(exc, "user", None)
    log.warning("lti %s refused", what, extra={
        "platform_id": (platform or {}).get("_id"), "school_id": (platform or {}).get("school_id"),
        "issuer": getattr(exc, "issuer", None) or (platform or {}).get("issuer"),
        "user": user, "outcome": "refused", "reason": exc.reason})
    return problem(exc.status, "LTI launch refused", exc.reason)


@bp.route("/login", methods=["GET", "POST"])
def login():
    try:
        response, platform = tool.oidc_login(f"{base_url()}/lti/launch")
    except tool.LaunchRefused as exc:
        return _refused(exc, "login")
    log.info("lti login", extra={"platform_id": platform["_id"], "school_id": platform["school_id"],
                                 "outcome": "redirected"})
    return response


def target_page(person, body, launch):
    """The page a launch opens: the link's target (custom ``praxis_target``, set by
    deep linking), else the person's home (a student's credits, the staff dashboard)."""
    me = quote(person["acting"]["id"], safe="")
    if launch.is_deep_link_launch():
        return f"/lti/app/deep-linking?launch={launch.get_launch_id()}"
    target = str((body.get(CUSTOM_CLAIM) or {}).get("praxis_target") or "")
    match = TARGET.fullmatch(target)
    student = person["lti_role"] == "student"
    if match and match.group(1):
        kind, item = match.groups()
        if kind == "session":
            return f"/lti/app/sessions/{item}/checkin" if student else f"/lti/app/sessions/{item}"
        return f"/lti/app/{kind}s/{item}"
    if target == "dashboard" and not student:
        return "/lti/app/dashboard"
    return f"/lti/app/students/{me}/credits" if student else "/lti/app/dashboard"


@bp.route("/launch", methods=["POST"])
def launch():
    try:
        message, platform, body = tool.validate_launch()
    except tool.LaunchRefused as exc:
        return _refused(exc, "launch")
    try:
        person = tool.person_of(platform, body, lambda claims: registry.launched(platform["_id"], claims))
        if message.is_deep_link_launch() and person["lti_role"] == "student":
            raise tool.LaunchRefused("only staff pick Praxis items for a course (deep linking)", 403)
    except tool.LaunchRefused as exc:
        return _refused(exc, "launch", platform, body.get("sub"))
    page = target_page(person, body, message)
    response = redirect(page, 302)
    session.issue(response, dict(person, launch_id=message.get_launch_id()))
    log.info("lti launch", extra={"platform_id": platform["_id"], "school_id": platform["school_id"],
                                  "user": person["lms_user_id"], "person": person["acting"]["id"],
                                  "role": person["lti_role"],
                                  "outcome": "accepted", "page": page})
    return response


@bp.route("/platforms/<platform_id>/jwks.json", methods=["GET"])
def jwks(platform_id):
    found = registry.jwks(platform_id)
    if found is None:
        return problem(404, "Not found", "no such platform")
    response = jsonify(found)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _session_or_401():
    current = session.current()
    if current is None:
        return None, problem(401, "Unauthorized", "no launch session: open Praxis from the LMS")
    return current, None


@bp.route("/session", methods=["GET"])
def whoami():
    current, refusal = _session_or_401()
    if refusal is not None:
        return refusal
    return jsonify({k: current.get(k) for k in ("school_id", "platform_id", "role", "acting", "lti_role",
                                                 "lms_user_id", "name", "context_id", "csrf")})


@bp.route("/deep-linking", methods=["POST"])
def deep_linking():
    """The instructor's picks go back to the LMS as LTI resource links, in an
    LtiDeepLinkingResponse signed with the school's key (an auto-submitting form)."""
    current, refusal = _session_or_401()
    if refusal is not None:
        return refusal
    if not hmac.compare_digest(request.headers.get(session.CSRF_HEADER, ""), current["csrf"]):
        return problem(403, "Forbidden", f"send the launch session's {session.CSRF_HEADER}")
    if current["lti_role"] == "student":
        return problem(403, "Forbidden", "only staff pick Praxis items for a course")
    try:
        data = DeepLinkResponseSchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        return problem(422, "Unprocessable entity", "request failed validation", exc.messages)
    try:
        message, platform = tool.restore_launch(data["launch_id"])
    except tool.LaunchRefused as exc:
        return problem(exc.status, "Not found", exc.reason)
    body = message.get_launch_data()
    if (platform["_id"] != current["platform_id"] or body.get("sub") != current.get("lms_user_id")
            or not message.is_deep_link_launch()):
        return problem(404, "Not found", "no such deep-linking launch in this session")
    launch_url = f"{base_url()}/lti/launch"
    resources = []
    for item in data["items"]:
        resource = (DeepLinkResource().set_url(launch_url).set_title(item["title"])
                    .set_custom_params({"praxis_target": f"{item['kind']}:{item['id']}"}))
        if item["kind"] == "assessment" and item["score_maximum"]:
            resource.set_lineitem(LineItem().set_label(item["title"]).set_score_maximum(item["score_maximum"])
                                  .set_resource_id(item["id"]).set_tag("praxis-assessment"))
        resources.append(resource)
    deep_link = message.get_deep_link()
    # the school's key signs it in the LTI store (the private key never leaves it)
    form = deep_link.get_response_form_html(
        registry.sign_deep_linking_response(platform["_id"], deep_link.get_message_jwt(resources)))
    log.info("lti deep linking response", extra={
        "platform_id": platform["_id"], "school_id": platform["school_id"], "user": current.get("lms_user_id"),
        "outcome": "signed", "items": len(resources)})
    return form, 200, {"Content-Type": "text/html; charset=utf-8"}
