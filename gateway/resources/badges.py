"""Badges (incentives service): classes per programme with a condition, awards,
and the public Open Badges documents: 2.0 hosted assertions and 3.0 credentials
(VC-JWT) at stable URLs under /badges, and each school's signing key (JWKS)."""
from flask import Blueprint as FlaskBlueprint, Response, current_app, jsonify, request
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_schema
from contracts.incentives import BadgeAwardSchema, BadgeClassCreateSchema, BadgeClassSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("badges", __name__, description="Badge classes, awards, Open Badges 2.0 and 3.0")
public = FlaskBlueprint("open_badges", __name__)
OB_JSON = "application/ld+json"


def _base():
    return request.host_url.rstrip("/")


@blp.route("/programs/<program_id>/badges", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(BadgeClassCreateSchema)
@blp.response(201, BadgeClassSchema)
def add_badge(data, program_id):
    """A badge class with its condition (all sessions attended, first answered question,
    lifetime credits at least N, top share of a track)."""
    return reply(call("incentives", "add_badge_class", program_id, data), 201)


@blp.route("/programs/<program_id>/badges", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(BadgeClassSchema))
def list_badges(query, program_id):
    """The programme's badge classes, oldest first."""
    return reply(call("incentives", "list_badge_classes", program_id, query))


@blp.route("/programs/<program_id>/badges/evaluation", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, BadgeAwardSchema(many=True))
def evaluate(program_id):
    """Award every badge a student meets now (e.g. the top of each track at the end); returns the new awards."""
    return reply(call("incentives", "evaluate_badges", program_id, _base()))


@blp.route("/students/<student_id>/badges", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(BadgeAwardSchema))
def student_badges(query, student_id):
    """A student's badges with their Open Badges 2.0 and 3.0 URLs, oldest first."""
    return reply(call("incentives", "student_badges", student_id, _base(), query))


# --- public documents (Open Badges verifiers fetch them without a key) ------------------

def _public(method, *args):
    return current_app.extensions["praxis_rpc"].call("incentives", method, *args)


def _ld(document):
    response = jsonify(document)
    response.mimetype = OB_JSON
    return response


@public.get("/badges/issuers/<school_id>")
def ob_issuer(school_id):
    return _ld(_public("ob_issuer", school_id, _base()))


@public.get("/badges/issuers/<school_id>/jwks.json")
def ob_jwks(school_id):
    return jsonify(_public("ob_jwks", school_id))


@public.get("/badges/classes/<badge_id>")
def ob_badge_class(badge_id):
    return _ld(_public("ob_badge_class", badge_id, _base()))


@public.get("/badges/classes/<badge_id>/image.svg")
def ob_badge_image(badge_id):
    return Response(_public("ob_badge_image", badge_id), mimetype="image/svg+xml")


@public.get("/badges/assertions/<assertion_id>")
def ob_assertion(assertion_id):
    return _ld(_public("ob_assertion", assertion_id, _base()))


@public.get("/badges/assertions/<assertion_id>/credential.jwt")
def ob_credential(assertion_id):
    return Response(_public("ob_credential", assertion_id, _base()), mimetype="application/vc+jwt")

