"""Events are validated on both sides of the bus."""
import pytest

from contracts.enrollment import PROGRAM_CREATED
from contracts.events import InvalidEvent, make_event, parse_event

PAYLOAD = {"program_id": "p1", "name": "Cup", "season": "2026", "starts_on": "2026-03-01",
           "ends_on": "2026-06-30",
           "tracks": [{"key": "ug", "name": "UG", "platform": "X-Mall", "capacity": 1}]}


def test_a_publisher_cannot_build_an_event_with_an_invalid_payload():
    with pytest.raises(InvalidEvent) as refused:
        make_event(PROGRAM_CREATED, {**PAYLOAD, "season": None}, school_id="s", actor="a")
    assert "season" in refused.value.errors


def test_an_event_round_trips_with_its_envelope():
    envelope = make_event(PROGRAM_CREATED, PAYLOAD, school_id="jufe", actor="admin:1",
                          correlation_id="req-9")
    assert envelope["type"] == "program.created.v1" and envelope["source"] == "enrollment"
    event = parse_event(envelope, expected=PROGRAM_CREATED)
    assert event.payload["program_id"] == "p1" and event.correlation_id == "req-9"


@pytest.mark.parametrize("damage, reason", [
    (lambda e: e.pop("event_id"), "envelope"),
    (lambda e: e.update(type="program.exploded.v1"), "unknown event type"),
    (lambda e: e.update(version=2), "version"),
    (lambda e: e["payload"].pop("tracks"), "payload"),
    (lambda e: e.update(occurred_at="yesterday"), "envelope"),
])
def test_a_consumer_refuses_a_damaged_event_and_says_why(damage, reason):
    envelope = make_event(PROGRAM_CREATED, PAYLOAD, school_id="jufe", actor="a")
    damage(envelope)
    with pytest.raises(InvalidEvent) as refused:
        parse_event(envelope)
    assert reason in refused.value.reason


def test_a_non_object_body_is_refused():
    with pytest.raises(InvalidEvent):
        parse_event(["not", "an", "event"])


def test_a_consumer_accepts_optional_fields_a_newer_publisher_added_at_any_level():
    envelope = make_event(PROGRAM_CREATED, PAYLOAD, school_id="jufe", actor="a")
    envelope["payload"]["sponsor"] = "Acme"                  # a new top-level field
    envelope["payload"]["tracks"][0]["mentor_pool"] = ["m1"]  # a new nested field
    event = parse_event(envelope, expected=PROGRAM_CREATED)
    assert "sponsor" not in event.payload
    assert event.payload["tracks"][0]["key"] == "ug"


def test_the_programmes_attendance_rules_travel_with_program_created():
    rules = {"present_share": 0.5, "replay_threshold": 0.9, "late_after_minutes": 5,
             "question_sla_hours": 12, "checkin_lead_minutes": 15}
    event = parse_event(make_event(PROGRAM_CREATED, {**PAYLOAD, "attendance_rules": rules},
                                   school_id="jufe", actor="a"))
    assert event.payload["attendance_rules"] == rules
    older = parse_event(make_event(PROGRAM_CREATED, PAYLOAD, school_id="jufe", actor="a"))
    assert older.payload["attendance_rules"] is None
