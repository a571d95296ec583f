"""/lti: the LMS platforms a school registers (LTI 1.3) and the school's signing keys.

Stored by the webhooks service (the LTI store, services/webhooks/lti_store.py),
reached by RPC like every resource; the LMS-facing endpoints (login, launch,
JWKS, deep linking) live in gateway/lti/routes.py under /lti.
"""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_of, page_schema
from contracts.lti import (ContextSchema, GradePostQuerySchema, GradePostSchema, PlatformCreateSchema,
                           PlatformSchema, PlatformUpdateSchema, RosterSyncCreateSchema, RosterSyncSchema,
                           RotateSchema, ToolKeySchema)
from gateway.auth import roles
from gateway.idempotency import idempotent
from gateway.lti.routes import tool_urls
from gateway.resources import call, reply

blp = Blueprint("lti", __name__, description="LTI 1.3: the school's LMS platforms and Praxis's signing keys")


def _out(record):
    return PlatformSchema().dump({**record, "tool": tool_urls(record["id"])})


@blp.route("/lti/platforms", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(PlatformCreateSchema)
@blp.response(201, PlatformSchema)
def register_platform(data):
    """Register an LMS (issuer, client id, deployment ids, its OIDC auth, token and
    JWKS URLs). The answer says what to enter in the LMS (Praxis's URLs)."""
    return reply(_out(call("webhooks", "register_lti_platform", PlatformCreateSchema().dump(data))), 201)


@blp.route("/lti/platforms", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(PlatformSchema))
def list_platforms(query):
    """The school's registered platforms."""
    return reply(page_of([_out(r) for r in call("webhooks", "list_lti_platforms")], query))


@blp.route("/lti/platforms/<platform_id>", methods=["GET"])
@roles("admin")
@blp.response(200, PlatformSchema)
def get_platform(platform_id):
    """One platform (404 for another school's)."""
    return reply(_out(call("webhooks", "get_lti_platform", platform_id)))


@blp.route("/lti/platforms/<platform_id>", methods=["PATCH"])
@roles("admin")
@idempotent
@blp.arguments(PlatformUpdateSchema)
@blp.response(200, PlatformSchema)
def update_platform(data, platform_id):
    """Change deployment ids or endpoints (issuer and client id name the registration: never changed)."""
    return reply(_out(call("webhooks", "update_lti_platform", platform_id, PlatformUpdateSchema().dump(data))))


@blp.route("/lti/platforms/<platform_id>", methods=["DELETE"])
@roles("admin")
@idempotent
@blp.response(204)
def delete_platform(platform_id):
    """Remove a registration: its launches are refused from now on."""
    call("webhooks", "delete_lti_platform", platform_id)
    return "", 204


@blp.route("/lti/keys", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(ToolKeySchema))
def list_keys(query):
    """The school's published signing keys, the current one last."""
    return reply(page_of(call("webhooks", "list_lti_keys"), query))


@blp.route("/lti/keys/rotation", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(RotateSchema)
@blp.response(201, ToolKeySchema)
def rotate_keys(data):
    """A new signing key from now on; the old one stays in the JWKS for ``overlap_hours``."""
    return reply(call("webhooks", "rotate_lti_keys", RotateSchema().dump(data)), 201)


@blp.route("/lti/grade-posts", methods=["GET"])
@roles("admin")
@blp.arguments(GradePostQuerySchema, location="query")
@blp.response(200, page_schema(GradePostSchema))
def list_grade_posts(query):
    """Scores owed to the LMS (AGS): pending ones with their next attempt, failed ones
    with the platform's last answer, posted ones (newest first)."""
    return reply(call("webhooks", "list_grade_posts", query))


@blp.route("/lti/contexts", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(ContextSchema))
def list_contexts(query):
    """The LMS courses Praxis was launched from, and whether each offers its roster."""
    return reply(page_of(call("webhooks", "list_lti_contexts"), query))


@blp.route("/lti/roster-syncs", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(RosterSyncCreateSchema)
@blp.response(202, RosterSyncSchema)
def start_roster_sync(data):
    """Sync a course's membership into a programme: learners apply to the track,
    instructors become tutors. It runs in the background: follow it with GET."""
    return reply(call("webhooks", "start_roster_sync", RosterSyncCreateSchema().dump(data)), 202)


@blp.route("/lti/roster-syncs/<sync_id>", methods=["GET"])
@roles("admin")
@blp.response(200, RosterSyncSchema)
def get_roster_sync(sync_id):
    """A sync's progress: members listed and processed, what was added and dropped."""
    return reply(call("webhooks", "get_roster_sync", sync_id))


@blp.route("/lti/grade-posts/<post_id>/retry", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, GradePostSchema)
def retry_grade_post(post_id):
    """Post a failed score again now (after the LMS is fixed), with a new day of retries."""
    return reply(call("webhooks", "retry_grade_post", post_id))
