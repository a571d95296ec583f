"""The event envelope and the small schema helpers every contract uses."""
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

ID = dict(validate=validate.Length(min=1, max=64))
MAX_OFFSET = 1_000_000  # list pages start at most this far (a database skip past 2**63 fails)
PERSON = "The person the key acted for (student:<id> or staff:<id>), if any"


class Integer(fields.Integer):
    """An integer that refuses 2.9 (422) instead of truncating it to 2; 3.0 is 3."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


def within_calendar(value):
    """Dates and times the system computes with: years 1970-2200 (a year 1 or 9999 would
    overflow the arithmetic on them, e.g. a check-in lead time before a start)."""
    if not 1970 <= value.year <= 2200:
        raise ValidationError("must be between the years 1970 and 2200")


class StrictSchema(Schema):
    """Unknown fields are an error: no mass assignment of server-owned fields."""

    class Meta:
        unknown = RAISE


class EnvelopeSchema(StrictSchema):
    event_id = fields.String(required=True, validate=validate.Length(min=8, max=64))
    source = fields.String(required=True, **ID)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]+)+\.v\d+$"))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso", default_timezone=None)
    school_id = fields.String(required=True, **ID)
    actor = fields.String(required=True, validate=validate.Length(min=1, max=256))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    payload = fields.Dict(required=True)


def rule(text):
    """Name the cross-field rule a ``@validates_schema`` method checks: the OpenAPI
    document lists it in the schema's description (gateway.openapi)."""
    def mark(method):
        method.praxis_rule = text
        return method
    return mark


def rules_of(schema_cls):
    """The documented rules of a schema and of the schemas it extends."""
    found = []
    for klass in reversed(schema_cls.__mro__):
        for value in vars(klass).values():
            text = getattr(value, "praxis_rule", None)
            if text and text not in found:
                found.append(text)
    return found


def acting_person():
    """The ``<verb>_by_person`` beside a ``<verb>_by`` key: who the key acted for."""
    return fields.String(allow_none=True, metadata={"description": PERSON})


class DecisionSchema(StrictSchema):
    """Approve or reject, with the reason. A subclass may name the two decisions
    otherwise (``decision``); the second is always ``reject``."""
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    @rule("a rejection needs a reason")
    def _reason_for_rejection(self, data, **kwargs):
        if data["decision"] == "reject" and not data["reason"].strip():
            raise ValidationError("say why", "reason")


class PageQuerySchema(StrictSchema):
    """``limit`` and ``offset`` of a list route (each list documents its order)."""
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class LongPageQuerySchema(PageQuerySchema):
    """A list of longer pages: up to 500 items, 100 unless told."""
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=500))


_PAGES = {}


def page_schema(item_schema, name=None):
    """The one shape of every list: ``{items, limit, offset, has_more}``, named
    ``<name>PageSchema`` (``name``: the item schema's name without "Schema")."""
    if (item_schema, name) not in _PAGES:
        _PAGES[item_schema, name] = _page_schema(item_schema, name)
    return _PAGES[item_schema, name]


def _page_schema(item_schema, page_name=None):
    name = item_schema.__name__.removesuffix("Schema")
    return type(f"{page_name or name}PageSchema", (StrictSchema,), {
        "__doc__": f"A page of {name} items, in the order the route documents",
        "items": fields.List(fields.Nested(item_schema), required=True),
        "limit": Integer(required=True),
        "offset": Integer(required=True),
        "has_more": fields.Boolean(required=True, metadata={"description": "More items follow this page"}),
    })


def page(found, query):
    """A page from ``found``: what the store returned for ``query``'s offset when
    asked for one more than ``limit`` (``more(query)``)."""
    return {"items": found[:query["limit"]], "limit": query["limit"], "offset": query["offset"],
            "has_more": len(found) > query["limit"]}


def page_of(items, query):
    """A page cut from the whole (bounded) list ``items``."""
    start = query["offset"]
    return page(items[start:start + query["limit"] + 1], query)


def more(query):
    """``query`` asking the store for one item more than the page (to know has_more)."""
    return {**query, "limit": query["limit"] + 1}


_SCHEMAS = {}


def schema_of(schema_cls, **kwargs):
    """One instance per schema class and options, built on first use (building a
    schema costs far more than using it; load and dump keep no state in it)."""
    key = (schema_cls, tuple(sorted((k, tuple(v) if isinstance(v, (list, set)) else v)
                                    for k, v in kwargs.items())))
    try:
        return _SCHEMAS[key]
    except KeyError:
        return _SCHEMAS.setdefault(key, schema_cls(**kwargs))
    except TypeError:  # an unhashable option: build it for this call
        return schema_cls(**kwargs)


def load(schema_cls, data, **kwargs):
    """Validate ``data`` at a boundary; raise InvalidInput with the field errors."""
    from contracts.errors import InvalidInput
    try:
        return schema_of(schema_cls, **kwargs).load(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidInput("request failed validation", exc.messages) from exc


def dump(schema_cls, obj, **kwargs):
    return schema_of(schema_cls, **kwargs).dump(obj)
