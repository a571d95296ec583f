"""Jobs on the real database server: the selection job (bulk writes) decides
exactly as the synchronous selection on the same applications and takes the
same seats; a job lock holds one selection per programme until
it finishes; a job whose service died is run again by the resume timer."""
import time
from datetime import date, timedelta

import pytest
from mongoengine.connection import get_db
from nameko.testing.services import entrypoint_hook

from contracts.errors import Conflict
from services.common.jobs import STALE_AFTER, JobStore
from services.enrollment.repository import EnrollmentRepository
from services.enrollment.service import EnrollmentService
from tests.waiting import eventually

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-j"}
LMS = {**ADMIN, "role": "lms", "actor": "lms:k2"}
SCORES = [91, 55, 78, 78, 60, 99, 42, 85, 70, 66, 88, 73, 59.5, 95, 81, 64, 77, 90, 61, 58]


@pytest.fixture
def enrollment(container_factory, rabbit_config):
    container = container_factory(EnrollmentService, rabbit_config)
    container.start()
    return container


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def season(container):
    today = date.today()
    program_id = call(container, "create_program", ADMIN, {
        "name": "Cup", "season": "2026", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=120)).isoformat(),
        "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 5},
                   {"key": "vocational", "name": "Voc", "platform": "Our Mall", "capacity": 2}],
        "selection_rules": {"min_quiz_score": 60}})["id"]
    for n, score in enumerate(SCORES):
        app = call(container, "submit_application", LMS, program_id, {
            "student_id": f"s{n:02d}", "name": f"Student {n}", "track": "undergraduate" if n % 3 else "vocational"})
        call(container, "record_screening_score", ADMIN, app["id"], {"score": score})
    return program_id


def comparable(decisions):
    return [(d["student_id"], d["track"], d["decision"], d["reason"], d["position"], d["promoted"]) for d in decisions]


def finished(container, job_id):
    return eventually(lambda: (lambda j: j if j["state"] in ("succeeded", "failed") else None)(
        call(container, "get_job", ADMIN, job_id)))


def test_the_selection_job_decides_as_the_synchronous_selection_and_owes_the_same_events(enrollment):
    sync_pid, job_pid = season(enrollment), season(enrollment)
    expected = call(enrollment, "run_selection", ADMIN, sync_pid, {})
    job = finished(enrollment, call(enrollment, "start_selection", ADMIN, job_pid, {})["id"])
    assert job["state"] == "succeeded", job
    assert comparable(job["result"]["decisions"]) == comparable(expected["decisions"])

    def stored(pid):
        apps = call(enrollment, "list_applications", ADMIN, pid, {"limit": 200})["items"]
        return sorted((a["student_id"], a["status"], a["decision_reason"], a["waitlist_position"]) for a in apps)
    assert stored(job_pid) == stored(sync_pid)

    repository = EnrollmentRepository()
    for track, capacity in (("undergraduate", 5), ("vocational", 2)):
        seats = [repository.seat_counter(pid, track) for pid in (sync_pid, job_pid)]
        assert seats[0]["admitted"] == seats[1]["admitted"] == capacity
        assert len(seats[1]["holders"]) == capacity


def test_one_selection_job_at_a_time_per_programme_until_it_finishes(enrollment):
    store = JobStore(get_db("enrollment"), "enrollment")
    first, created = store.create({**ADMIN, "operation_id": "a1"}, "selection", {}, program_id="p", lock="selection:p")
    assert created and first["_id"] == "enrollment-a1"
    again, created = store.create({**ADMIN, "operation_id": "a1"}, "selection", {}, program_id="p", lock="selection:p")
    assert not created and again["_id"] == first["_id"]
    with pytest.raises(Conflict) as refused:
        store.create({**ADMIN, "operation_id": "a2"}, "selection", {}, program_id="p", lock="selection:p")
    assert refused.value.errors == {"job_id": ["enrollment-a1"]}
    store.finish(first, result={"ok": True})
    second, created = store.create({**ADMIN, "operation_id": "a3"}, "selection", {}, program_id="p",
                                   lock="selection:p")
    assert created and store.get("jufe", "enrollment-a1")["state"] == "succeeded"
    assert store.get("other-school", "enrollment-a1") is None


def test_a_job_left_running_by_a_dead_service_is_run_again(enrollment):
    program_id = season(enrollment)
    store = JobStore(get_db("enrollment"), "enrollment")
    job, _ = store.create({**ADMIN, "operation_id": "dead-1"}, "selection", {"tracks": []}, program_id=program_id,
                          lock=f"selection:{program_id}")
    # as a service that died mid-run leaves it: running, its heartbeat long past
    get_db("enrollment").jobs.update_one({"_id": job["_id"]}, {"$set": {
        "state": "running", "attempt": 1, "heartbeat": time.time() - STALE_AFTER - 5}})
    call(enrollment, "resume_jobs")
    done = finished(enrollment, job["_id"])
    assert done["state"] == "succeeded" and len(done["result"]["decisions"]) == len(SCORES)


def test_seats_for_hundreds_of_admissions_are_taken_together_or_not_at_all(enrollment):
    repository = EnrollmentRepository()
    repository.ensure_counter("jufe", "big", "ug", 1000)
    first = [f"x{i:04d}" for i in range(450)]  # three guarded updates of up to 200
    assert repository.reserve_seats("big", "ug", first, 1000)
    assert repository.seat_counter("big", "ug")["admitted"] == 450
    # one of them holds a place already: nothing of this call is kept
    assert not repository.reserve_seats("big", "ug", [f"y{i:04d}" for i in range(300)] + ["x0001"], 1000)
    assert not repository.reserve_seats("big", "ug", [f"z{i:04d}" for i in range(551)], 1000)  # one too many
    counter = repository.seat_counter("big", "ug")
    assert counter["admitted"] == 450 and sorted(counter["holders"]) == sorted(first)
