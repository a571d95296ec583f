"""The supervision service starts a programme's funnel from program.created."""
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.enrollment import PROGRAM_CREATED
from contracts.errors import NotFound
from contracts.events import make_event, parse_event
from services.supervision.service import SupervisionService


class FakeFunnelRepository:
    def __init__(self):
        self.funnels = {}

    def start(self, funnel):
        self.funnels.setdefault(funnel["program_id"], funnel)

    def get(self, school_id, program_id):
        funnel = self.funnels.get(program_id)
        return funnel if funnel and funnel["school_id"] == school_id else None


def program_created(program_id="p1", school_id="jufe"):
    envelope = make_event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup 2026", "season": "2026",
        "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}],
    }, school_id=school_id, actor="admin:k1",
        occurred_at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    return parse_event(envelope)


@pytest.fixture
def service():
    return worker_factory(SupervisionService, funnels=FakeFunnelRepository())


def test_a_new_programme_gets_an_empty_funnel_for_its_school(service):
    service.on_program_created(program_created())
    funnel = service.get_funnel({"school_id": "jufe"}, "p1")
    assert funnel["tracks"] == ["undergraduate"]
    assert set(funnel["stages"]) == {"registered", "admitted", "trained", "active", "submitting", "finished"}
    assert sum(funnel["stages"].values()) == 0
    assert funnel["started_at"].startswith("2026-02-01")


def test_the_funnel_of_another_school_is_not_found(service):
    service.on_program_created(program_created())
    with pytest.raises(NotFound):
        service.get_funnel({"school_id": "other"}, "p1")
