"""Contracts of the webhooks service: the HTTPS endpoints a school registers for
chosen event types, the deliveries made to them, and the event it publishes
when an endpoint is disabled after persistent failures.

An event type is named as on the bus, ``<subject>.<past_action>.v<major>``
(``student.admitted.v1``); the types a school may choose are the ones the
webhooks service subscribes to (contracts/topology.py ``SUBSCRIPTIONS["webhooks"]``).
"""
from marshmallow import ValidationError, fields, validate

from contracts.base import ID, Integer, PageQuerySchema, StrictSchema
from contracts.events import define
from contracts.urls import HttpsUrl

SOURCE = "webhooks"
ENDPOINT_STATUSES = ("enabled", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "paused")
SIGNATURE_HEADER = "Praxis-Signature"


def deliverable_types():
    from contracts.topology import SUBSCRIPTIONS  # the topology imports this module
    return sorted({t.type for t in SUBSCRIPTIONS.get(SOURCE, [])})


def _check_types(values):
    unknown = sorted(set(values) - set(deliverable_types()))
    if unknown:
        raise ValidationError(f"unknown event types {unknown}; choose from {deliverable_types()}")
    if len(set(values)) != len(values):
        raise ValidationError("an event type is listed twice")


EVENT_TYPES = dict(validate=[validate.Length(min=1, max=50), _check_types])
EVENT_TYPES_DOC = {"description": "e.g. student.admitted.v1, attendance.recorded.v1 (GET /webhooks/event-types)",
                   "example": ["student.admitted.v1", "attendance.recorded.v1"]}


class EndpointCreateSchema(StrictSchema):
    url = HttpsUrl(required=True, metadata={"description": "Where Praxis POSTs the events (https)"})
    event_types = fields.List(fields.String(), required=True, **EVENT_TYPES, metadata=EVENT_TYPES_DOC)
    description = fields.String(load_default="", validate=validate.Length(max=500))


class EndpointUpdateSchema(StrictSchema):
    url = HttpsUrl()
    event_types = fields.List(fields.String(), **EVENT_TYPES, metadata=EVENT_TYPES_DOC)
    description = fields.String(validate=validate.Length(max=500))
    status = fields.String(validate=validate.OneOf(ENDPOINT_STATUSES),
                           metadata={"description": "enabled again: paused deliveries resume"})


class EndpointSchema(StrictSchema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    event_types = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    status = fields.String(required=True)
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    secret = fields.String(metadata={"description": "The signing secret: shown once, when the endpoint is made"})


class EventTypeSchema(StrictSchema):
    type = fields.String(required=True, metadata={"description": "An event type an endpoint may choose",
                                                 "example": "student.admitted.v1"})


class DeliveryQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class DeliverySchema(StrictSchema):
    id = fields.String(required=True)
    endpoint_id = fields.String(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)
    created_at = fields.String(required=True)


class EndpointDisabledPayload(StrictSchema):
    endpoint_id = fields.String(required=True, **ID)
    url = fields.String(required=True)
    reason = fields.String(required=True)
    failed_deliveries = fields.Integer(required=True)


ENDPOINT_DISABLED = define(
    SOURCE, "webhook_endpoint.disabled", 1, EndpointDisabledPayload,
    "A school's webhook endpoint kept failing (a delivery retried for a whole day) and was "
    "disabled; its undelivered events wait, paused, until staff enable it again. Key: endpoint_id. "
    "For the school (supervision's alerts, when they come).")
