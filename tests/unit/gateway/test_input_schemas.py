"""Every schema a route loads from a request refuses what the audit found accepted:
fractional integers silently truncated (contracts.base.Integer refuses 2.9), list offsets
past what the database can skip (MAX_OFFSET), dates at the edges of the calendar
(within_calendar), unbounded lists and maps. A route added later is checked too."""
import os

import pytest
from marshmallow import Schema, fields

from contracts.base import MAX_OFFSET, Integer, within_calendar
from gateway import create_app


def _schemas():
    os.environ.setdefault("PRAXIS_JSON_LOGS", "0")
    app = create_app({"TESTING": True})
    for endpoint, view in sorted(app.view_functions.items()):
        for argument in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            schema = argument["schema"]
            yield endpoint, schema() if isinstance(schema, type) else schema


def _fields(schema, prefix=""):
    for name, field in schema.fields.items():
        yield from _field(field, f"{prefix}{name}")


def _field(field, where):
    yield where, field
    if isinstance(field, fields.Nested):
        nested = field.schema
        yield from _fields(nested if isinstance(nested, Schema) else nested(), f"{where}.")
    elif isinstance(field, fields.List):
        yield from _field(field.inner, f"{where}[]")
    elif isinstance(field, fields.Dict) and field.value_field is not None:
        yield from _field(field.value_field, f"{where}{{}}")


@pytest.fixture(scope="module")
def loaded():
    return [(endpoint, where, field) for endpoint, schema in _schemas() for where, field in _fields(schema)]


def test_no_route_truncates_a_fractional_integer(loaded):
    plain = [f"{e}: {w}" for e, w, f in loaded if type(f) is fields.Integer]
    assert not plain, "use contracts.base.Integer:\n" + "\n".join(plain)
    assert Integer().deserialize(3.0) == 3
    with pytest.raises(Exception):
        Integer().deserialize(2.9)


def test_every_offset_has_a_maximum_and_every_date_stays_within_the_calendar(loaded):
    for endpoint, where, field in loaded:
        if where.rsplit(".", 1)[-1] == "offset":
            maxima = [v.max for v in field.validators if getattr(v, "max", None) is not None]
            assert maxima and max(maxima) <= MAX_OFFSET, f"{endpoint}: {where} has no maximum"
        if isinstance(field, (fields.Date, fields.DateTime)) and not field.dump_only:
            assert within_calendar in field.validators, f"{endpoint}: {where} accepts any date"


def test_lists_and_maps_in_requests_are_bounded(loaded):
    unbounded = [f"{e}: {w}" for e, w, f in loaded if isinstance(f, (fields.List, fields.Dict))
                 and not any(getattr(v, "max", None) for v in f.validators)]
    assert not unbounded, "give these a validate.Length(max=...):\n" + "\n".join(unbounded)
