"""The supervision service keeps each programme's funnel from the events of the others."""
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.content import ATTENDANCE_RECORDED
from contracts.enrollment import APPLICATION_SUBMITTED, PROGRAM_CREATED, STUDENT_ADMITTED
from contracts.errors import NotFound
from contracts.events import make_event, parse_event
from services.supervision.service import SupervisionService


class FakeFunnelRepository:
    def __init__(self):
        self.funnels, self.stages = {}, {}

    def start(self, funnel):
        self.funnels.setdefault(funnel["program_id"], funnel)

    def get(self, school_id, program_id):
        funnel = self.funnels.get(program_id)
        return funnel if funnel and funnel["school_id"] == school_id else None

    def reach(self, school_id, program_id, student_id, stage):
        self.stages.setdefault((program_id, student_id), {})[stage] = True

    def students(self, program_id):
        return [flags for (program, _), flags in self.stages.items() if program == program_id]


def event(event_type, payload, school_id="jufe"):
    return parse_event(make_event(event_type, payload, school_id=school_id, actor="test",
                                  occurred_at=datetime(2026, 2, 1, tzinfo=timezone.utc)))


def program_created(program_id="p1", school_id="jufe"):
    return event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup 2026", "season": "2026",
        "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}],
    }, school_id)


def student_event(event_type, student_id, **extra):
    payload = {"program_id": "p1", "student_id": student_id, **extra}
    if event_type in (APPLICATION_SUBMITTED, STUDENT_ADMITTED):
        payload.update(application_id=f"a-{student_id}", track="undergraduate")
    if event_type is APPLICATION_SUBMITTED:
        payload.update(name=student_id)
    if event_type is STUDENT_ADMITTED:
        payload.update(reason="rank 1")
    if event_type is ATTENDANCE_RECORDED:
        payload.update(session_id="s1", source="sign_in")
    return event(event_type, payload)


@pytest.fixture
def service():
    svc = worker_factory(SupervisionService, funnels=FakeFunnelRepository())
    svc.on_program_created(program_created())
    return svc


def test_a_new_programme_gets_an_empty_funnel_for_its_school(service):
    funnel = service.get_funnel({"school_id": "jufe"}, "p1")
    assert funnel["tracks"] == ["undergraduate"]
    assert funnel["stages"] == {"registered": 0, "admitted": 0, "trained": 0, "active": 0,
                                "submitting": 0, "finished": 0}
    assert funnel["started_at"].startswith("2026-02-01")


def test_the_funnel_counts_who_registered_was_admitted_and_took_part(service):
    for student in ("ann", "bob", "cat", "dan"):
        service.on_application_submitted(student_event(APPLICATION_SUBMITTED, student))
    for student in ("ann", "bob"):
        service.on_student_admitted(student_event(STUDENT_ADMITTED, student))
    service.on_attendance_recorded(student_event(ATTENDANCE_RECORDED, "ann", status="present"))
    service.on_attendance_recorded(student_event(ATTENDANCE_RECORDED, "ann", status="present"))  # 2nd session
    service.on_attendance_recorded(student_event(ATTENDANCE_RECORDED, "bob", status="absent"))
    stages = service.get_funnel({"school_id": "jufe"}, "p1")["stages"]
    assert (stages["registered"], stages["admitted"], stages["trained"]) == (4, 2, 1)


def test_the_funnel_of_another_school_is_not_found(service):
    with pytest.raises(NotFound):
        service.get_funnel({"school_id": "other"}, "p1")
