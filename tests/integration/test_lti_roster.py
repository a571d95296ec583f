"""Roster sync (LTI NRPS) from an LMS played by lti1p3platform into a programme
of the enrollment service: learners become applications, instructors tutors, with
progress; a second sync adds the new members and reports the dropped ones
without deleting anything."""
from datetime import date

import pytest
from nameko.testing.services import entrypoint_hook

from contracts.errors import NotFound
from contracts.examples import platinum_cup
from services.enrollment.service import EnrollmentService
from tests.integration.lti_helpers import app, lms, platforms, webhooks  # noqa: F401  (fixtures)
from tests.integration.lti_helpers import admin_headers, launch, whoami
from tests.lti_platform import INSTRUCTOR, LEARNER, MENTOR, TEACHING_ASSISTANT
from tests.waiting import eventually

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-r",
         "acting": {"kind": None, "id": None}}


def member(user_id, role, status="Active"):
    return {"user_id": user_id, "roles": [role], "name": f"Name {user_id}", "status": status,
            "email": f"{user_id}@jufe.edu.cn"}


@pytest.fixture
def services(container_factory, rabbit_config, webhooks):
    enrollment = container_factory(EnrollmentService, rabbit_config)
    enrollment.start()
    return {"enrollment": enrollment, "webhooks": webhooks}


def call(container, method, *args, caller=ADMIN):
    with entrypoint_hook(container, method) as hook:
        return hook(caller, *args)


def sync_done(services, sync_id):
    found = call(services["webhooks"], "get_roster_sync", sync_id)
    return found if found["status"] in ("done", "failed") else None


def test_a_course_roster_becomes_applications_and_tutors_and_a_second_sync_adds_without_deleting(
        app, lms, services):
    program = call(services["enrollment"], "create_program", platinum_cup(starts_on=date.today()))
    launch(app.test_client(), lms, "teacher-1", [INSTRUCTOR], memberships=True)
    [course] = app.test_client().get("/api/v1/lti/contexts", headers=admin_headers("jufe")).get_json()["items"]
    assert course["roster"] and course["context_id"] == "course-1"
    lms.members = [member("s1", LEARNER), member("s2", LEARNER), member("s3", LEARNER, status="Inactive"),
                   member("teacher-1", INSTRUCTOR), member("ta-1", TEACHING_ASSISTANT), member("m-1", MENTOR)]
    body = {"context": course["id"], "program_id": program["id"], "track": "undergraduate"}

    started = call(services["webhooks"], "start_roster_sync", body)
    assert started["status"] == "queued" and started["processed"] == 0
    first = eventually(lambda: sync_done(services, started["id"]), timeout=30)
    assert first["status"] == "done", first
    assert (first["total"], first["processed"], first["applications"], first["staff"], first["skipped"]) == (5, 5, 2, 2, 1)
    assert first["added"] == ["m-1", "s1", "s2", "ta-1", "teacher-1"] and first["dropped"] == []
    applications = call(services["enrollment"], "list_applications", program["id"], {})["items"]
    # each learner applied as the Praxis person the LMS user is: the one their launch acts as
    students = {a["student_id"] for a in applications}
    launched = {}
    for user in ("s1", "s2"):
        browser = app.test_client()
        launch(browser, lms, user, [LEARNER])
        launched[user] = whoami(browser)["acting"]["id"]
    assert students == set(launched.values()) and not students & {"s1", "s2"}
    tutors = call(services["enrollment"], "list_staff", program["id"], "tutor")["items"]
    assert sorted(t["name"] for t in tutors) == ["Name ta-1", "Name teacher-1"]
    # an instructor's tutor record carries the person their launches act as (its id stays the programme's)
    teacher = app.test_client()
    launch(teacher, lms, "teacher-1", [INSTRUCTOR])
    teacher_person = whoami(teacher)["acting"]["id"]
    by_name = {t["name"]: t for t in tutors}
    assert by_name["Name teacher-1"]["person_id"] == teacher_person != by_name["Name teacher-1"]["id"]
    assert by_name["Name ta-1"]["person_id"] not in (None, teacher_person)

    lms.members = [member("s1", LEARNER), member("s4", LEARNER), member("teacher-1", INSTRUCTOR)]
    again = call(services["webhooks"], "start_roster_sync", body)
    second = eventually(lambda: sync_done(services, again["id"]), timeout=30)
    assert second["added"] == ["s4"] and second["dropped"] == ["m-1", "s2", "ta-1"]
    applications = call(services["enrollment"], "list_applications", program["id"], {})["items"]
    assert len(applications) == 3 and students < {a["student_id"] for a in applications}  # none deleted, none twice
    assert len(call(services["enrollment"], "list_staff", program["id"], "tutor")["items"]) == 2


def test_another_schools_staff_cannot_sync_this_schools_course(app, lms, services):
    launch(app.test_client(), lms, "teacher-1", [INSTRUCTOR], memberships=True)
    [course] = app.test_client().get("/api/v1/lti/contexts", headers=admin_headers("jufe")).get_json()["items"]
    other = dict(ADMIN, school_id="other-school")
    with pytest.raises(NotFound):
        call(services["webhooks"], "start_roster_sync",
             {"context": course["id"], "program_id": "p1", "track": "undergraduate"}, caller=other)
    assert app.test_client().get("/api/v1/lti/contexts", headers=admin_headers("other-school")).get_json()["items"] == []


def test_a_sync_that_cannot_reach_enrollment_fails_and_says_why(app, lms, webhooks, monkeypatch):
    monkeypatch.setenv("PRAXIS_RPC_TIMEOUT", "2")  # enrollment is not running
    launch(app.test_client(), lms, "teacher-1", [INSTRUCTOR], memberships=True)
    [course] = app.test_client().get("/api/v1/lti/contexts", headers=admin_headers("jufe")).get_json()["items"]
    lms.members = [member("s1", LEARNER)]
    started = call(webhooks, "start_roster_sync", {"context": course["id"], "program_id": "p1",
                                                   "track": "undergraduate"})
    failed = eventually(lambda: sync_done({"webhooks": webhooks}, started["id"]), timeout=30)
    assert failed["status"] == "failed" and "enrollment" in failed["errors"][0]["reason"]
