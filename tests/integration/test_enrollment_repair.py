"""Mentor and tutor loads a crash left behind are repaired on the real database."""
import time
from datetime import datetime, timezone

from services.common.storage import connect
from services.enrollment.models import TeamDoc
from services.enrollment.repository import EnrollmentRepository


def staff(repo, staff_id, max_load=2):
    return repo.insert_staff({
        "id": staff_id, "school_id": "jufe", "program_id": "p1", "kind": "mentor", "partner_id": "acme",
        "name": "M", "email": None, "max_load": max_load, "load": 0, "teams": {}, "active": True,
        "created_at": datetime.now(timezone.utc)})


def test_a_load_counted_for_a_team_that_never_got_the_mentor_is_freed_after_the_grace():
    connect("enrollment")
    repo = EnrollmentRepository()
    staff(repo, "m1")
    TeamDoc._get_collection().insert_many([
        {"_id": "t-mine", "school_id": "jufe", "program_id": "p1", "status": "active", "mentor_id": "m1"},
        {"_id": "t-crashed", "school_id": "jufe", "program_id": "p1", "status": "active", "mentor_id": None},
        {"_id": "t-in-flight", "school_id": "jufe", "program_id": "p1", "status": "active", "mentor_id": None},
    ])
    long_ago = time.time() - 600
    assert repo.reserve_load("m1", "t-mine", 3, now=long_ago)
    assert repo.reserve_load("m1", "t-crashed", 3, now=long_ago)  # the service died right after this
    assert repo.reserve_load("m1", "t-in-flight", 3)                # an assignment still under way
    assert repo.get_staff("jufe", "m1")["load"] == 3

    assert repo.repair_loads("jufe", "p1", "mentor") == 1
    repaired = repo.get_staff("jufe", "m1")
    assert repaired["load"] == 2 and repaired["teams"] == ["t-in-flight", "t-mine"]
    assert repo.repair_loads("jufe", "p1", "mentor") == 0  # nothing more to free
