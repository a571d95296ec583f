"""Events as versioned contracts.

An event is identified by its source service and a type
``<subject>.<past_action>.v<major>`` (the openedx-events convention). Each type is
defined once, as a constant with its payload schema and a note on what it means and
who consumes it. Adding an optional payload field is a minor change; removing,
renaming or tightening one is a new major version, published beside the old one.

``make_event`` refuses to build an invalid event, ``parse_event`` refuses to hand an
invalid one to a consumer: both sides validate.
"""
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from marshmallow import ValidationError, fields

from contracts.base import EnvelopeSchema, schema_of

_envelope = EnvelopeSchema()

# (source, type) -> EventType; filled by define() as the contract modules load.
REGISTRY = {}


@dataclass(frozen=True)
class EventType:
    source: str
    name: str
    version: int
    schema: type
    doc: str

    @property
    def type(self):
        return f"{self.name}.v{self.version}"

    def __str__(self):
        return f"{self.source}:{self.type}"


def define(source, name, version, schema, doc):
    event_type = EventType(source, name, version, schema, doc)
    key = (source, event_type.type)
    if key in REGISTRY:
        raise ValueError(f"event {event_type} defined twice")
    REGISTRY[key] = event_type
    return event_type


class InvalidEvent(Exception):
    """An event that fails its envelope or payload schema."""

    def __init__(self, reason, errors=None):
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or {}


@dataclass(frozen=True)
class Event:
    """A validated event as a consumer sees it (payload already loaded)."""
    event_id: str
    source: str
    type: str
    version: int
    occurred_at: datetime
    school_id: str
    actor: str
    correlation_id: str
    payload: dict


def make_event(event_type, payload, *, school_id, actor, correlation_id=None,
               event_id=None, occurred_at=None):
    """Build the JSON-ready envelope for ``event_type``; raise InvalidEvent if
    the payload does not satisfy its schema (a publisher cannot send it)."""
    schema = schema_of(event_type.schema)
    try:
        loaded = schema.load(payload)
    except ValidationError as exc:
        raise InvalidEvent(f"payload of {event_type} is invalid", exc.messages) from exc
    event_id = event_id or uuid.uuid4().hex
    envelope = {
        "event_id": event_id,
        "source": event_type.source,
        "type": event_type.type,
        "version": event_type.version,
        "occurred_at": (occurred_at or datetime.now(timezone.utc)).isoformat(),
        "school_id": school_id,
        "actor": actor,
        "correlation_id": correlation_id or event_id,
        "payload": schema.dump(loaded),
    }
    try:
        _envelope.load(envelope)
    except ValidationError as exc:
        raise InvalidEvent(f"envelope of {event_type} is invalid", exc.messages) from exc
    return envelope


def parse_event(body, expected=None):
    """Validate a received envelope and its payload; return an Event.

    ``expected`` (an EventType) guards against a message routed to the wrong
    handler. Raises InvalidEvent with the reason.
    """
    if not isinstance(body, dict):
        raise InvalidEvent("event body is not a JSON object")
    try:
        envelope = _envelope.load(body)
    except ValidationError as exc:
        raise InvalidEvent("envelope is invalid", exc.messages) from exc
    event_type = REGISTRY.get((envelope["source"], envelope["type"]))
    if event_type is None:
        raise InvalidEvent(f"unknown event type {envelope['source']}:{envelope['type']}")
    if expected is not None and event_type != expected:
        raise InvalidEvent(f"expected {expected}, got {event_type}")
    if envelope["version"] != event_type.version:
        raise InvalidEvent(f"version {envelope['version']} does not match type {event_type.type}")
    schema = schema_of(event_type.schema)
    try:
        payload = schema.load(_known_only(schema, envelope["payload"]))
    except ValidationError as exc:
        raise InvalidEvent(f"payload of {event_type} is invalid", exc.messages) from exc
    return Event(**{**envelope, "payload": payload})


def _known_only(schema, data):
    """A tolerant reader: drop fields this consumer does not know (a newer
    publisher may add optional ones, a minor change) at every level."""
    if not isinstance(data, dict):
        return data
    by_key = {field.data_key or name: field for name, field in schema.fields.items()}
    return {key: _known_value(by_key[key], value) for key, value in data.items() if key in by_key}


def _known_value(field, value):
    if isinstance(field, fields.Nested):
        nested = field.schema
        if isinstance(value, list):
            return [_known_only(nested, item) for item in value]
        return _known_only(nested, value)
    if isinstance(field, fields.List) and isinstance(value, list):
        return [_known_value(field.inner, item) for item in value]
    return value
