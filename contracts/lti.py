"""Contracts of Praxis as an LTI 1.3 tool: the platforms (LMS registrations) a
school's staff register, the tool's signing keys, the items an instructor picks
for deep linking, and what the gateway tells the LTI store of a launch. The store
(registrations, keys, people, course links) is the webhooks service's; the
gateway serves the HTTP side (gateway/lti/, gateway/resources/lti.py) over RPC."""
from marshmallow import fields, validate

from contracts.base import Integer, PageQuerySchema, StrictSchema
from contracts.urls import HttpsUrl

DEPLOYMENT_ID = validate.Length(min=1, max=255)


class PlatformCreateSchema(StrictSchema):
    name = fields.String(load_default="", validate=validate.Length(max=200),
                         metadata={"description": "What staff call this LMS (\"Moodle 4.3\")"})
    issuer = HttpsUrl(required=True, metadata={"description": "The platform's issuer (iss)"})
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=255),
                              metadata={"description": "The client id the platform gave Praxis"})
    deployment_ids = fields.List(fields.String(validate=DEPLOYMENT_ID), required=True,
                                 validate=validate.Length(min=1, max=50))
    auth_login_url = HttpsUrl(required=True, metadata={"description": "The platform's OIDC auth endpoint"})
    auth_token_url = HttpsUrl(required=True, metadata={"description": "The platform's OAuth2 token endpoint"})
    key_set_url = HttpsUrl(required=True, metadata={"description": "The platform's JWKS URL"})
    auth_audience = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                  metadata={"description": "aud of the token request, when not the token URL"})


class PlatformUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(max=200))
    deployment_ids = fields.List(fields.String(validate=DEPLOYMENT_ID), validate=validate.Length(min=1, max=50))
    auth_login_url = HttpsUrl()
    auth_token_url = HttpsUrl()
    key_set_url = HttpsUrl()
    auth_audience = fields.String(allow_none=True, validate=validate.Length(max=2000))


class PlatformSchema(PlatformCreateSchema):
    id = fields.String(dump_only=True)
    school_id = fields.String(dump_only=True)
    created_at = fields.String(dump_only=True)
    tool = fields.Dict(dump_only=True, metadata={
        "description": "What to enter in the LMS: login, launch, deep-linking and JWKS URLs"})


class ToolKeySchema(StrictSchema):
    kid = fields.String(dump_only=True)
    created_at = fields.String(dump_only=True)
    retires_at = fields.String(dump_only=True, allow_none=True,
                               metadata={"description": "After this the key leaves the JWKS; null: current"})


class RotateSchema(StrictSchema):
    overlap_hours = Integer(load_default=72, validate=validate.Range(min=0, max=24 * 90),
                                   metadata={"description": "How long the old key stays in the JWKS"})


DEEP_LINK_KINDS = ("program", "session", "assessment")


class DeepLinkItemSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(DEEP_LINK_KINDS))
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    score_maximum = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100000),
                                 metadata={"description": "An assessment's maximum: the LMS makes a line item"})


class DeepLinkResponseSchema(StrictSchema):
    launch_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    items = fields.List(fields.Nested(DeepLinkItemSchema), required=True, validate=validate.Length(min=1, max=50))


GRADE_POST_STATUSES = ("pending", "posted", "failed")


class GradePostQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(GRADE_POST_STATUSES))


class GradePostSchema(StrictSchema):
    id = fields.String(required=True)
    platform_id = fields.String(required=True)
    assessment_id = fields.String(required=True)
    student_id = fields.String(required=True)
    lineitem = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(GRADE_POST_STATUSES))
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    posted_at = fields.String(allow_none=True)
    created_at = fields.String(required=True)


class ContextSchema(StrictSchema):
    id = fields.String(required=True, metadata={"description": "Praxis's key of the course: give it to a roster sync"})
    platform_id = fields.String(required=True)
    context_id = fields.String(required=True, metadata={"description": "The course's id in the LMS"})
    title = fields.String(required=True)
    roster = fields.Boolean(required=True, metadata={"description": "The LMS offers its membership (NRPS)"})


class RosterSyncCreateSchema(StrictSchema):
    context = fields.String(required=True, validate=validate.Length(min=1, max=64),
                            metadata={"description": "The course's id from GET /lti/contexts"})
    program_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    track = fields.String(required=True, validate=validate.Length(min=1, max=40),
                          metadata={"description": "The track learners apply to"})
    tutor_max_load = Integer(load_default=5, validate=validate.Range(min=1, max=100),
                                    metadata={"description": "Instructors become tutors with this load"})


class RosterSyncSchema(StrictSchema):
    id = fields.String(required=True)
    context = fields.String(required=True)
    program_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["queued", "running", "done", "failed"]))
    total = fields.Integer(required=True, metadata={"description": "Members the LMS listed (active ones)"})
    processed = fields.Integer(required=True)
    applications = fields.Integer(required=True, metadata={"description": "Learners with an application"})
    staff = fields.Integer(required=True, metadata={"description": "Instructors registered as tutors"})
    skipped = fields.Integer(required=True, metadata={"description": "Members with no role Praxis syncs"})
    added = fields.List(fields.String(), required=True, metadata={"description": "New since the last sync"})
    dropped = fields.List(fields.String(), required=True,
                          metadata={"description": "Listed last time, not now (nothing is deleted)"})
    errors = fields.List(fields.Dict(), required=True)
    created_at = fields.String(required=True)


class LaunchContextSchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    title = fields.String(load_default="", validate=validate.Length(max=1000))


class LaunchAgsSchema(StrictSchema):
    lineitem = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    lineitems = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    scope = fields.List(fields.String(validate=validate.Length(max=300)), load_default=list,
                        validate=validate.Length(max=20))


class LaunchNrpsSchema(StrictSchema):
    context_memberships_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class LaunchedSchema(StrictSchema):
    """A launch the gateway validated, as the LTI store records it (RPC
    ``webhooks.lti_launched``): the LMS user, the course and its AGS/NRPS endpoints,
    the link's target. The answer is the Praxis person the user is."""
    sub = fields.String(required=True, validate=validate.Length(min=1, max=120))
    name = fields.String(load_default="", validate=validate.Length(max=300))
    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=320))
    context = fields.Nested(LaunchContextSchema, load_default=None, allow_none=True)
    ags = fields.Nested(LaunchAgsSchema, load_default=None, allow_none=True)
    nrps = fields.Nested(LaunchNrpsSchema, load_default=None, allow_none=True)
    target = fields.String(load_default="", validate=validate.Length(max=200))
