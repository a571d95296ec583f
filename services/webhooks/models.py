"""Documents of the webhooks service (database praxis_webhooks), read and written
as plain dicts through pymongo by the repository.

Natural keys are ``_id``s: a delivery is ``f"{endpoint_id}:{event_id}"``, so one
event reaches one endpoint through one delivery however often it is consumed.
Times are epoch numbers (``due_ts``), which nx-27017 compares reliably.
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "webhooks"
_META = {"db_alias": ALIAS, "strict": False}


class EndpointDoc(OutboxDocument):
    """_id: endpoint id. A school's URL, its event types, its signing secret, and
    webhook_endpoint.disabled owed when it is disabled."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    meta = {**_META, "collection": "endpoints", "indexes": ["school_id"]}


class DeliveryDoc(me.Document):
    """_id: f"{endpoint_id}:{event_id}". The exact body sent, status, attempts, due_ts."""
    id = me.StringField(primary_key=True)
    endpoint_id = me.StringField()
    status = me.StringField()
    due_ts = me.FloatField()
    meta = {**_META, "collection": "deliveries", "indexes": [("status", "due_ts"), ("endpoint_id", "status")]}


class AttemptDoc(me.Document):
    """_id: f"{delivery_id}:{n}". One HTTP attempt: when, the status code or error."""
    id = me.StringField(primary_key=True)
    delivery_id = me.StringField()
    meta = {**_META, "collection": "attempts", "indexes": ["delivery_id"]}


class GradePostDoc(me.Document):
    """_id: grades.post_id(line item, student, grading). A score owed to an LMS line item."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    status = me.StringField()
    due_ts = me.FloatField()
    meta = {**_META, "collection": "grade_posts", "indexes": [("status", "due_ts"), ("school_id", "status")]}


class LtiPlatformDoc(me.Document):
    """_id: platforms.platform_id(issuer, client id). An LMS registration of a school."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    issuer = me.StringField()
    meta = {**_META, "collection": "lti_platforms", "indexes": ["school_id", "issuer"]}


class LtiPersonDoc(me.Document):
    """_id: people.person_key(school, issuer, sub). The Praxis person an LMS user is."""
    id = me.StringField(primary_key=True)
    person_id = me.StringField()
    meta = {**_META, "collection": "lti_people", "indexes": [{"fields": ["person_id"], "unique": True}]}


class LtiContextDoc(me.Document):
    """_id: links.context_key(platform, context). An LMS course and its NRPS/AGS URLs."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    meta = {**_META, "collection": "lti_contexts", "indexes": ["school_id"]}


class LtiLineItemDoc(me.Document):
    """_id: links.lineitem_id(platform, line item). An assessment's line item in an LMS course."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    assessment_id = me.StringField()
    meta = {**_META, "collection": "lti_lineitems", "indexes": [("school_id", "assessment_id")]}


# the school's signing keys (lti_keys, _id = school) and cached tokens (lti_tokens) need no index
DOCUMENTS = [EndpointDoc, DeliveryDoc, AttemptDoc, GradePostDoc, LtiPlatformDoc, LtiPersonDoc, LtiContextDoc,
             LtiLineItemDoc]
OUTBOX_DOCUMENTS = [EndpointDoc]
