"""Recorded shapes of every event payload, so a change that would break existing
consumers fails a test (tests/unit/test_event_compatibility.py).

    python -m contracts.snapshot --write    record the current shapes (new events)

Compatible (a minor change): a new optional field. Breaking (a new major version,
published beside the old one): removing or renaming a field, changing its type,
making it required, or no longer allowing null.
"""
import json
import sys
from pathlib import Path

from marshmallow import fields

from contracts import topology  # noqa: F401  (loads every event definition)
from contracts.events import REGISTRY

SNAPSHOT = Path(__file__).with_name("events.snapshot.json")


def describe_field(field):
    shape = {"type": type(field).__name__, "required": field.required, "allow_none": field.allow_none}
    if isinstance(field, fields.Nested):
        shape["fields"] = describe_schema(field.schema)
    elif isinstance(field, fields.List):
        shape["items"] = describe_field(field.inner)
    return shape


def describe_schema(schema):
    return {name: describe_field(field) for name, field in sorted(schema.fields.items())}


def current():
    return {f"{source}:{type_}": describe_schema(event_type.schema())
            for (source, type_), event_type in sorted(REGISTRY.items())}


def breaking_changes(old, new, path=""):
    problems = []
    for name, was in old.items():
        where = f"{path}{name}"
        now = new.get(name)
        if now is None:
            problems.append(f"{where}: removed")
            continue
        if now["type"] != was["type"]:
            problems.append(f"{where}: type {was['type']} -> {now['type']}")
        if now["required"] and not was["required"]:
            problems.append(f"{where}: became required")
        if was["allow_none"] and not now["allow_none"]:
            problems.append(f"{where}: no longer allows null")
        if "fields" in was and "fields" in now:
            problems += breaking_changes(was["fields"], now["fields"], f"{where}.")
        if "items" in was and "items" in now:
            problems += breaking_changes({"[]": was["items"]}, {"[]": now["items"]}, f"{where}")
    for name, now in new.items():
        if name not in old and now["required"]:
            problems.append(f"{path}{name}: added as required")
    return problems


def recorded():
    return json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--write"]:
        sys.exit(__doc__)
    shapes, old = current(), recorded()
    problems = {key: breaking_changes(old[key], shapes[key]) for key in old if key in shapes}
    problems = {k: v for k, v in problems.items() if v}
    if problems or set(old) - set(shapes):
        sys.exit(f"refusing to record breaking changes: {problems or sorted(set(old) - set(shapes))}")
    SNAPSHOT.write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(shapes)} event types in {SNAPSHOT.name}")


if __name__ == "__main__":
    main()
