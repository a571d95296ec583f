"""Programme RPCs of the enrollment service, with an in-memory repository."""
from datetime import date, timedelta

import pytest
from nameko.testing.services import worker_factory

from contracts.enrollment import PROGRAM_CREATED
from contracts.errors import InvalidInput, NotFound
from contracts.events import parse_event
from services.enrollment.service import EnrollmentService

CALLER = {"school_id": "jufe", "actor": "admin:k1", "correlation_id": "req-1", "role": "admin"}


class FakeProgramRepository:
    def __init__(self):
        self.programs, self.outbox = {}, []

    def add(self, program, events=()):
        if program["id"] not in self.programs:
            self.programs[program["id"]] = dict(program)
            self.outbox.extend(events)
        return self.programs[program["id"]]

    def get(self, school_id, program_id):
        program = self.programs.get(program_id)
        return program if program and program["school_id"] == school_id else None

    def list(self, school_id, season=None, limit=50, offset=0):
        found = [p for p in self.programs.values()
                 if p["school_id"] == school_id and season in (None, p["season"])]
        return sorted(found, key=lambda p: p["created_at"], reverse=True)[offset:offset + limit]


START = date.today()


def body(**extra):
    return {"name": "Platinum Cup 2026", "season": "2026", "starts_on": START.isoformat(),
            "ends_on": (START + timedelta(days=120)).isoformat(),
            "tracks": [{"key": "undergraduate", "name": "Undergraduate", "platform": "X-Mall",
                        "simulation": "Amazon", "capacity": 40}], **extra}


@pytest.fixture
def service():
    return worker_factory(EnrollmentService, programs=FakeProgramRepository())


def test_creating_a_programme_stores_it_with_its_event_in_one_write(service):
    program = service.create_program(CALLER, body())
    assert program["school_id"] == "jufe" and program["created_by"] == "admin:k1"
    assert program["team_size"] == {"min": 3, "max": 5}  # defaults filled in
    [envelope] = service.programs.outbox
    event = parse_event(envelope, expected=PROGRAM_CREATED)
    assert event.payload["program_id"] == program["id"]
    assert event.school_id == "jufe" and event.correlation_id == "req-1"


def test_a_retried_operation_creates_the_programme_once(service):
    caller = {**CALLER, "operation_id": "op-42"}
    first = service.create_program(caller, body())
    second = service.create_program(caller, body())
    assert first["id"] == second["id"] == "op-42"
    assert len(service.programs.programs) == 1 and len(service.programs.outbox) == 1


def test_an_invalid_programme_is_refused_with_the_field_errors_and_nothing_stored(service):
    with pytest.raises(InvalidInput) as refused:
        service.create_program(CALLER, body(status="open", school_id="other"))
    assert set(refused.value.errors) == {"status", "school_id"}  # server-owned fields
    with pytest.raises(InvalidInput) as refused:
        service.create_program(CALLER, body(ends_on=(START - timedelta(days=1)).isoformat()))
    assert set(refused.value.errors) == {"ends_on"}


def test_a_programme_that_is_over_already_is_refused_with_the_reason(service):
    past = {"starts_on": (START - timedelta(days=200)).isoformat(), "ends_on": (START - timedelta(days=1)).isoformat(),
            "season": "2025"}
    with pytest.raises(InvalidInput) as refused:
        service.create_program(CALLER, body(**past))
    assert "in the past" in refused.value.errors["ends_on"][0]
    assert service.programs.programs == {}
    assert service.programs.programs == {} and service.programs.outbox == []


def test_duplicate_track_keys_are_refused(service):
    data = body()
    data["tracks"] = data["tracks"] * 2
    with pytest.raises(InvalidInput) as refused:
        service.create_program(CALLER, data)
    assert "tracks" in refused.value.errors


def test_another_schools_programme_is_not_found(service):
    program = service.create_program(CALLER, body())
    with pytest.raises(NotFound):
        service.get_program({**CALLER, "school_id": "other"}, program["id"])
    assert service.list_programs({**CALLER, "school_id": "other"}) == {
        "items": [], "limit": 50, "offset": 0, "has_more": False}


def test_programmes_are_listed_by_season(service):
    service.create_program(CALLER, body(season="2025"))
    service.create_program(CALLER, body(season="2026"))
    assert [p["season"] for p in service.list_programs(CALLER, {"season": "2025"})["items"]] == ["2025"]
    with pytest.raises(InvalidInput):
        service.list_programs(CALLER, {"limit": 0})
