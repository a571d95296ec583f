"""Chaos under writes, asserted with counts. After each blow: every acknowledged
write is stored once, the projections (supervision's funnel, content's roster and
attendance) equal their source, every service is alive and ready again without a
hand restart, and no answer was a 500."""
import time
import uuid

import pytest

from tests.chaos.burst import Burst
from tests.chaos.conftest import RPC_TIMEOUT, gateway_workers, wait_ready
from tests.e2e.enrollment_helpers import application, applications, create_programme
from tests.waiting import eventually

API = "/api/v1"
STUDENTS = 60


def school_of(client_for):
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    return client_for(name, "admin"), client_for(name, "lms")


def application_burst(lms, program_id, count=STUDENTS, threads=8):
    students = [f"s{n:03d}" for n in range(count)]
    writes = [(f"{API}/programs/{program_id}/applications", application(s), f"apply-{program_id}-{s}")
              for s in students]
    return students, Burst(lms, writes, threads=threads).start()


def funnel(admin, program_id):
    response = admin.get(f"{API}/programs/{program_id}/funnel")
    return response.json()["stages"] if response.status_code == 200 else None


def assert_applications_stored_once(admin, program_id, students, burst):
    assert burst.final_statuses() == {201: len(students)}, burst.answers
    assert 500 not in burst.answers, burst.answers
    stored = sorted(a["student_id"] for a in applications(admin, program_id))
    assert stored == students  # each acknowledged application once, none twice
    # supervision's funnel equals enrollment's applications
    eventually(lambda: (funnel(admin, program_id) or {}).get("registered") == len(students), timeout=60)


def test_applications_survive_sigkill_of_enrollment_and_supervision(system, client_for):
    admin, lms = school_of(client_for)
    program_id = create_programme(admin, capacity_ug=100)
    before = system.keeper.restarts()
    students, burst = application_burst(lms, program_id)
    burst.wait_acked(15)
    system.keeper.kill("enrollment")
    burst.wait_acked(30)
    system.keeper.kill("supervision")
    burst.join()
    assert_applications_stored_once(admin, program_id, students, burst)
    wait_ready(system)
    after = system.keeper.restarts()
    assert after["enrollment"] == before["enrollment"] + 1 and after["supervision"] == before["supervision"] + 1
