"""A change to an event payload that would break existing consumers fails here
(the openedx-events practice): compare the contracts with their recorded shapes."""
import pytest

from contracts import snapshot

RECORDED = snapshot.recorded()
CURRENT = snapshot.current()


@pytest.mark.parametrize("event", sorted(RECORDED))
def test_a_recorded_event_is_still_defined_and_compatible(event):
    assert event in CURRENT, f"{event} was removed: publish a new major version beside it instead"
    assert snapshot.breaking_changes(RECORDED[event], CURRENT[event]) == []


def test_every_defined_event_is_recorded():
    missing = sorted(set(CURRENT) - set(RECORDED))
    assert not missing, f"record them with `python -m contracts.snapshot --write`: {missing}"


def test_removing_a_field_or_making_it_required_counts_as_breaking():
    old = {"a": {"type": "String", "required": True, "allow_none": False},
           "b": {"type": "String", "required": False, "allow_none": True}}
    assert snapshot.breaking_changes(old, old) == []
    assert snapshot.breaking_changes(old, {"b": old["b"]}) == ["a: removed"]
    made_required = {**old, "b": {**old["b"], "required": True}}
    assert snapshot.breaking_changes(old, made_required) == ["b: became required"]
    optional_added = {**old, "c": {"type": "Integer", "required": False, "allow_none": False}}
    assert snapshot.breaking_changes(old, optional_added) == []
    assert snapshot.breaking_changes(old, {**old, "a": {**old["a"], "type": "Integer"}}) == [
        "a: type String -> Integer"]
