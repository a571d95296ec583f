"""/webhooks: a school's HTTPS endpoints for chosen event types, their deliveries,
and redelivery by hand (the webhooks service; deliveries run there, never here)."""
from flask_smorest import Blueprint

from contracts.base import PageQuerySchema, page_of, page_schema
from contracts.webhooks import (DeliveryQuerySchema, DeliverySchema, EventTypeSchema, EndpointCreateSchema, EndpointSchema,
                                EndpointUpdateSchema, deliverable_types)
from gateway.auth import roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("webhooks", __name__, description="Signed webhooks: endpoints, event types and deliveries")


@blp.route("/webhooks/event-types", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(EventTypeSchema))
def event_types(query):
    """The event types an endpoint may choose, in alphabetical order."""
    return reply(page_of([{"type": t} for t in deliverable_types()], query))


@blp.route("/webhooks/endpoints", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(EndpointCreateSchema)
@blp.response(201, EndpointSchema)
def create_endpoint(data):
    """Register an https endpoint for event types. The answer holds the signing
    secret, shown this once (README "Webhooks" says how to verify a delivery)."""
    return reply(call("webhooks", "create_endpoint", EndpointCreateSchema().dump(data)), 201)


@blp.route("/webhooks/endpoints", methods=["GET"])
@roles("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(EndpointSchema))
def list_endpoints(query):
    """The school's endpoints, with their status (disabled ones say why)."""
    return reply(page_of(call("webhooks", "list_endpoints"), query))


@blp.route("/webhooks/endpoints/<endpoint_id>", methods=["GET"])
@roles("admin")
@blp.response(200, EndpointSchema)
def get_endpoint(endpoint_id):
    """One endpoint (404 for another school's)."""
    return reply(call("webhooks", "get_endpoint", endpoint_id))


@blp.route("/webhooks/endpoints/<endpoint_id>", methods=["PATCH"])
@roles("admin")
@idempotent
@blp.arguments(EndpointUpdateSchema)
@blp.response(200, EndpointSchema)
def update_endpoint(data, endpoint_id):
    """Change the URL or event types, or enable (paused deliveries resume) or disable it."""
    return reply(call("webhooks", "update_endpoint", endpoint_id, EndpointUpdateSchema().dump(data)))


@blp.route("/webhooks/endpoints/<endpoint_id>", methods=["DELETE"])
@roles("admin")
@idempotent
@blp.response(204)
def delete_endpoint(endpoint_id):
    """Remove an endpoint; its undelivered events are dropped."""
    call("webhooks", "delete_endpoint", endpoint_id)
    return "", 204


@blp.route("/webhooks/endpoints/<endpoint_id>/deliveries", methods=["GET"])
@roles("admin")
@blp.arguments(DeliveryQuerySchema, location="query")
@blp.response(200, page_schema(DeliverySchema))
def list_deliveries(query, endpoint_id):
    """The endpoint's deliveries, newest first: status, attempts, the last answer."""
    return reply(call("webhooks", "list_deliveries", endpoint_id, query))


@blp.route("/webhooks/deliveries/<delivery_id>/redelivery", methods=["POST"])
@roles("admin")
@idempotent
@blp.response(200, DeliverySchema)
def redeliver(delivery_id):
    """Send a delivery again now (after a fix at the receiver), with a new day of retries."""
    return reply(call("webhooks", "redeliver", delivery_id))
