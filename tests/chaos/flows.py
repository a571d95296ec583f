"""Bursts of writes through the gateway, and what must hold after a blow."""
import uuid

from tests.chaos.burst import Burst
from tests.chaos.conftest import wait_ready
from tests.e2e.enrollment_helpers import application, applications, create_programme, select
from tests.waiting import eventually

API = "/api/v1"
STUDENTS = 60


def school_of(client_for):
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    return client_for(name, "admin"), client_for(name, "lms")


def application_burst(lms, program_id, count=STUDENTS, threads=8):
    students = [f"s{n:03d}" for n in range(count)]
    writes = [(f"{API}/programs/{program_id}/applications", application(s), f"apply-{program_id}-{s}", as_student(s))
              for s in students]
    return students, Burst(lms, writes, threads=threads).start()


def as_student(student_id):
    """The headers of a call the LMS makes for this student."""
    return {"X-Acting-User": f"student:{student_id}"}


def funnel(admin, program_id):
    response = admin.get(f"{API}/programs/{program_id}/funnel")
    return response.json()["stages"] if response.status_code == 200 else None


def funnel_reaches(admin, program_id, stage, count, timeout=60):
    """Wait until supervision's funnel counts ``count`` students at ``stage``; the funnel."""
    seen = []

    def check():
        response = admin.get(f"{API}/programs/{program_id}/funnel")
        seen[:] = [response.status_code, response.text[:2000]]
        return response.status_code == 200 and response.json()["stages"].get(stage) == count and response.json()
    try:
        return eventually(check, timeout=timeout, interval=0.2)["stages"]
    except AssertionError:
        raise AssertionError(f"the funnel never counted {count} {stage}: last answer {seen}") from None


def assert_applications_stored_once(system, admin, program_id, students, burst):
    assert burst.final_statuses() == {201: len(students)}, (burst.answers, {
        key: response.text for key, response in burst.final.items() if response.status_code != 201})
    assert 500 not in burst.answers, burst.answers
    wait_ready(system, timeout=60)
    stored = sorted(a["student_id"] for a in read(admin, f"{API}/programs/{program_id}/applications?limit=200",
                                                   "items"))
    assert stored == students  # each acknowledged application once, none twice
    # supervision's funnel equals enrollment's applications
    funnel_reaches(admin, program_id, "registered", len(students))


def applications_under(system, client_for, blow, count=STUDENTS, threads=8):
    """A burst of applications with ``blow(burst, admin, program_id)`` dealt in its
    middle; afterwards each acknowledged application is stored once and the funnel
    counts each once."""
    admin, lms = school_of(client_for)
    program_id = create_programme(admin, capacity_ug=200)
    students, burst = application_burst(lms, program_id, count=count, threads=threads)
    blow(burst, admin, program_id)
    burst.join()
    assert_applications_stored_once(system, admin, program_id, students, burst)
    return burst


def assert_no_process_died(system, before):
    assert system.keeper.restarts() == before, "a process exited and had to be restarted"
    assert all(p.poll() is None for p in system.processes)


def admitted_programme(admin, lms, count):
    """A programme running now whose ``count`` applicants were all admitted by selection."""
    program_id = create_programme(admin, capacity_ug=count)
    students, burst = application_burst(lms, program_id, count=count)
    burst.join()
    for item in applications(admin, program_id):
        assert admin.put(f"{API}/applications/{item['id']}/screening-score", json={"score": 80}).status_code == 200
    result = select(admin, program_id)  # a job: 202, then followed until it has finished
    assert sorted(a["student_id"] for a in applications(admin, program_id, status="admitted")) == students, result
    return program_id, students


def read(client, path, field=None):
    """GET as a client does: a 503 (with Retry-After) is tried again."""
    response = eventually(lambda: (lambda r: r if r.status_code != 503 else None)(client.get(path)),
                          timeout=30, interval=0.5)
    assert response.status_code == 200, response.text
    return response.json()[field] if field else response.json()
