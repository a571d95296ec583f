"""Enrollment through the gateway, against the running services: apply, screen
(quiz event or by hand), select, withdraw and promote, teams, mentors and tutors,
the roster and its CSV; roles, tenants and bad input."""
import csv
import io

import pytest

from tests.waiting import eventually
from tests.e2e.enrollment_helpers import (EventTap, application, applications, apply, create_programme,
                                          publish_quiz_score, score, select)

SCHOOL = "enr-school"


@pytest.fixture(scope="module")
def admin(client_for):
    return client_for(SCHOOL, "admin")


@pytest.fixture(scope="module")
def lms(client_for):
    return client_for(SCHOOL, "lms", acting="staff:registrar")


@pytest.fixture
def tap(system):
    events = EventTap(system.env["AMQP_URI"])
    yield events
    events.close()


def status_of(client, application_id):
    return client.get(f"/api/v1/applications/{application_id}").json()["status"]


def test_the_whole_enrollment_journey_through_the_gateway(system, admin, lms, tap):
    program_id = create_programme(admin, capacity_ug=2, capacity_voc=1)
    ug = {s: apply(lms, program_id, s) for s in ("ana", "bo", "cai", "dan")}
    voc = {s: apply(lms, program_id, s, track="vocational") for s in ("eve", "fu")}

    # the rules quiz arrives as assessment's event; one score is recorded by hand
    for student, value in {"ana": 92, "bo": 85, "cai": 70, "eve": 88, "fu": 30}.items():
        publish_quiz_score(system.env["AMQP_URI"], SCHOOL, program_id, student, value)
    eventually(lambda: len(applications(admin, program_id, status="screened")) == 5)
    score(admin, ug["dan"]["id"], 64)

    result = select(admin, program_id)
    decided = {d["student_id"]: d for d in result["decisions"]}
    assert {s: d["decision"] for s, d in decided.items()} == {
        "ana": "admitted", "bo": "admitted", "cai": "waitlisted", "dan": "waitlisted",
        "eve": "admitted", "fu": "rejected"}
    assert decided["cai"]["position"] == 1 and decided["dan"]["position"] == 2
    assert "below the minimum 60" in decided["fu"]["reason"]
    again = select(admin, program_id)
    assert again["decisions"] == [] and again["unchanged"] == 6

    # an admitted student withdraws: the first waitlisted of the track takes the place
    withdrawn = lms.post(f"/api/v1/applications/{ug['bo']['id']}/withdrawal", json={"reason": "internship"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    promoted = admin.get(f"/api/v1/applications/{ug['cai']['id']}").json()
    assert promoted["status"] == "admitted" and promoted["promoted"] is True
    assert status_of(admin, ug["dan"]["id"]) == "waitlisted"

    # a team, a mentor and a tutor
    team = lms.post(f"/api/v1/programs/{program_id}/teams",
                    json={"name": "Falcons", "track": "undergraduate", "members": ["ana", "cai"]})
    assert team.status_code == 201, team.text
    team = team.json()
    mentor = admin.post(f"/api/v1/programs/{program_id}/mentors",
                        json={"name": "Ms Zhao", "partner_id": "xmall", "max_load": 2, "email": "zhao@xmall.example"})
    tutor = admin.post(f"/api/v1/programs/{program_id}/tutors", json={"name": "Dr Wang", "max_load": 3})
    assert mentor.status_code == tutor.status_code == 201
    without = admin.get(f"/api/v1/programs/{program_id}/teams", params={"without": "mentor"}).json()["items"]
    assert [t["id"] for t in without] == [team["id"]]
    assigned = admin.post(f"/api/v1/programs/{program_id}/assignments")
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["without_mentor"] == [] and len(assigned.json()["assigned"]) == 2
    assert admin.get(f"/api/v1/programs/{program_id}/teams", params={"without": "mentor"}).json()["items"] == []

    roster = admin.get(f"/api/v1/programs/{program_id}/roster")
    assert roster.status_code == 200
    rows = {r["student_id"]: r for r in roster.json()["rows"]}
    assert set(rows) == {"ana", "bo", "cai", "eve"}
    assert rows["ana"]["team_name"] == "Falcons" and rows["ana"]["mentor_name"] == "Ms Zhao"
    assert rows["cai"]["tutor_name"] == "Dr Wang" and rows["cai"]["promoted"] is True
    assert rows["bo"]["status"] == "withdrawn" and rows["eve"]["track"] == "vocational"

    exported = lms.get(f"/api/v1/programs/{program_id}/roster.csv")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["student_id"]: r["team_name"] for r in lines} == {"ana": "Falcons", "bo": "", "cai": "Falcons",
                                                                 "eve": ""}
    assert {r["mentor_name"] for r in lines if r["team_name"]} == {"Ms Zhao"}

    # every step was announced, once (events are at-least-once: a publish the relay could
    # not yet mark done is sent again with the same event id, which consumers skip)
    def announced():
        unique = {e["event_id"]: e for e in tap.read() if e["payload"].get("program_id") == program_id}
        kinds = [e["type"] for e in unique.values()]
        return kinds if kinds.count("tutor.assigned.v1") == 1 else None
    kinds = eventually(announced)
    assert kinds.count("application.submitted.v1") == 6
    assert kinds.count("student.admitted.v1") == 4  # three selected, one promoted
    assert kinds.count("student.waitlisted.v1") == 2 and kinds.count("student.rejected.v1") == 1
    assert kinds.count("student.withdrawn.v1") == 1 and kinds.count("team.formed.v1") == 1
    assert kinds.count("mentor.assigned.v1") == 1


def test_a_second_live_application_of_a_student_answers_409(admin, lms):
    program_id = create_programme(admin)
    apply(lms, program_id, "twice")
    second = lms.post(f"/api/v1/programs/{program_id}/applications", json=application("twice", "vocational"))
    assert second.status_code == 409
    assert second.headers["Content-Type"] == "application/problem+json"
    assert len(applications(admin, program_id)) == 1


def test_a_retried_submission_with_one_idempotency_key_creates_one_application(admin, lms):
    program_id = create_programme(admin)
    headers = {"Idempotency-Key": "apply-retry-1"}
    first = lms.post(f"/api/v1/programs/{program_id}/applications", json=application("retry"), headers=headers)
    second = lms.post(f"/api/v1/programs/{program_id}/applications", json=application("retry"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len(applications(admin, program_id)) == 1


def test_applications_are_filtered_by_status_and_track_and_paged(admin, lms):
    program_id = create_programme(admin)
    for i in range(5):
        apply(lms, program_id, f"p{i}")
    v = apply(lms, program_id, "pv", track="vocational")
    score(admin, v["id"], 75)
    page = lms.get(f"/api/v1/programs/{program_id}/applications",
                   params={"track": "undergraduate", "limit": 2, "offset": 2}).json()
    assert [a["student_id"] for a in page["items"]] == ["p2", "p3"] and page["has_more"] is True
    assert [a["student_id"] for a in applications(admin, program_id, status="screened")] == ["pv"]
    assert lms.get(f"/api/v1/programs/{program_id}/applications", params={"status": "nope"}).status_code == 422


def test_a_partner_key_cannot_read_applications_or_the_roster(admin, lms, client_for):
    program_id = create_programme(admin)
    app = apply(lms, program_id, "private")
    partner = client_for(SCHOOL, "partner", partner="xmall")
    for path in (f"/api/v1/programs/{program_id}/applications", f"/api/v1/applications/{app['id']}",
                 f"/api/v1/programs/{program_id}/roster", f"/api/v1/programs/{program_id}/roster.csv"):
        response = partner.get(path)
        assert response.status_code == 403, path
        assert "Student" not in response.text
    assert partner.post(f"/api/v1/programs/{program_id}/applications", json=application("x")).status_code == 403


def test_another_schools_admin_sees_none_of_the_applications(admin, lms, client_for):
    program_id = create_programme(admin)
    app = apply(lms, program_id, "mine")
    other = client_for("other-school", "admin")
    assert other.get(f"/api/v1/applications/{app['id']}").status_code == 404
    assert other.get(f"/api/v1/programs/{program_id}/applications").status_code == 404
    assert other.get(f"/api/v1/programs/{program_id}/roster").status_code == 404
    assert other.post(f"/api/v1/programs/{program_id}/selection", json={}).status_code == 404
    assert other.post(f"/api/v1/applications/{app['id']}/withdrawal", json={}).status_code == 404
    assert client_for("other-school", "lms", acting="staff:registrar").post(
        f"/api/v1/programs/{program_id}/applications", json=application("intruder")).status_code == 404
    assert status_of(admin, app["id"]) == "submitted" and len(applications(admin, program_id)) == 1


def test_an_lms_key_may_apply_and_form_teams_but_not_select_or_manage_mentors(admin, lms):
    program_id = create_programme(admin)
    assert lms.post(f"/api/v1/programs/{program_id}/selection", json={}).status_code == 403
    assert lms.post(f"/api/v1/programs/{program_id}/mentors",
                    json={"name": "X", "partner_id": "p", "max_load": 1}).status_code == 403
    assert lms.post(f"/api/v1/programs/{program_id}/assignments").status_code == 403


@pytest.fixture(scope="module")
def admitted_programme(admin, lms):
    """Five admitted undergraduates (t0..t4), one vocational (tv), one rejected (tlow)."""
    program_id = create_programme(admin, capacity_ug=5, capacity_voc=1)
    for student, track, value in [*[(f"t{i}", "undergraduate", 90 - i) for i in range(5)],
                                  ("tv", "vocational", 80), ("tlow", "undergraduate", 20)]:
        score(admin, apply(lms, program_id, student, track)["id"], value)
    select(admin, program_id)
    return program_id


def teams_of(admin, program_id):
    return admin.get(f"/api/v1/programs/{program_id}/teams").json()["items"]


def test_every_bad_team_is_a_clear_4xx_and_leaves_the_data_as_it_was(admin, lms, admitted_programme):
    pid = admitted_programme
    before = teams_of(admin, pid)
    cases = [
        ({"name": "Big", "track": "undergraduate", "members": ["t0", "t1", "t2", "t3"]}, 422),  # over size
        ({"name": "Tiny", "track": "undergraduate", "members": ["t0"]}, 422),                 # under size
        ({"name": "Mixed", "track": "undergraduate", "members": ["t0", "tv"]}, 409),          # other track (a state: 409)
        ({"name": "Out", "track": "undergraduate", "members": ["t0", "tlow"]}, 409),          # not admitted
        ({"name": "Nowhere", "track": "postgraduate", "members": ["t0", "t1"]}, 422),         # unknown track
        ({"name": "Owned", "track": "undergraduate", "members": ["t0", "t1"], "mentor_id": "m"}, 422),
    ]
    for body, expected in cases:
        response = lms.post(f"/api/v1/programs/{pid}/teams", json=body)
        assert response.status_code == expected, (body, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
    assert lms.post("/api/v1/programs/00000000000000000000000000000000/teams",
                    json={"name": "X", "track": "undergraduate", "members": ["t0", "t1"]}).status_code == 404
    assert teams_of(admin, pid) == before


def test_a_student_in_two_teams_is_refused_with_409(admin, lms, admitted_programme):
    pid = admitted_programme
    first = lms.post(f"/api/v1/programs/{pid}/teams",
                     json={"name": "First", "track": "undergraduate", "members": ["t0", "t1"]})
    assert first.status_code == 201, first.text
    second = lms.post(f"/api/v1/programs/{pid}/teams",
                      json={"name": "Second", "track": "undergraduate", "members": ["t2", "t1"]})
    assert second.status_code == 409
    joined = lms.post(f"/api/v1/teams/{first.json()['id']}/members", json={"student_id": "t2"})
    assert joined.status_code == 200 and joined.json()["members"] == ["t0", "t1", "t2"]
    full = lms.post(f"/api/v1/teams/{first.json()['id']}/members", json={"student_id": "t3"})
    assert full.status_code == 409 and "full" in full.json()["detail"]
    assert [t["members"] for t in teams_of(admin, pid)] == [["t0", "t1", "t2"]]
    left = lms.delete(f"/api/v1/teams/{first.json()['id']}/members/t0")
    assert left.status_code == 200 and left.json()["members"] == ["t1", "t2"]
    disbanded = admin.delete(f"/api/v1/teams/{first.json()['id']}")
    assert disbanded.status_code == 200 and disbanded.json()["status"] == "disbanded"
    assert teams_of(admin, pid) == []


def test_teams_cannot_change_after_the_lock_date(admin, lms):
    pid = create_programme(admin, capacity_ug=3, started_days_ago=10, lock_in_days=-1)
    for i, value in enumerate((90, 80)):
        score(admin, apply(lms, pid, f"late{i}")["id"], value)
    select(admin, pid)
    response = lms.post(f"/api/v1/programs/{pid}/teams",
                        json={"name": "Late", "track": "undergraduate", "members": ["late0", "late1"]})
    assert response.status_code == 409 and "locked" in response.json()["detail"]


def test_a_mentor_at_maximum_load_is_refused_and_a_leaving_mentors_team_is_listed_without(admin, lms):
    pid = create_programme(admin, capacity_ug=4)
    for i in range(4):
        score(admin, apply(lms, pid, f"m{i}")["id"], 90 - i)
    select(admin, pid)
    t1 = lms.post(f"/api/v1/programs/{pid}/teams", json={"name": "A", "track": "undergraduate",
                                                          "members": ["m0", "m1"]}).json()
    t2 = lms.post(f"/api/v1/programs/{pid}/teams", json={"name": "B", "track": "undergraduate",
                                                          "members": ["m2", "m3"]}).json()
    first = admin.post(f"/api/v1/programs/{pid}/mentors", json={"name": "One", "partner_id": "p", "max_load": 1}).json()
    second = admin.post(f"/api/v1/programs/{pid}/mentors", json={"name": "Two", "partner_id": "p", "max_load": 1}).json()
    assert admin.put(f"/api/v1/teams/{t1['id']}/mentor", json={"mentor_id": first["id"]}).status_code == 200
    assert admin.put(f"/api/v1/teams/{t2['id']}/mentor", json={"mentor_id": first["id"]}).status_code == 409
    assert admin.put(f"/api/v1/teams/{t2['id']}/mentor", json={"mentor_id": second["id"]}).status_code == 200
    left = admin.delete(f"/api/v1/mentors/{first['id']}")
    assert left.status_code == 200 and left.json()["unassigned"] == [t1["id"]]
    without = admin.get(f"/api/v1/programs/{pid}/teams", params={"without": "mentor"}).json()["items"]
    assert [t["id"] for t in without] == [t1["id"]]
    loads = {m["name"]: (m["load"], m["active"]) for m in admin.get(f"/api/v1/programs/{pid}/mentors").json()["items"]}
    assert loads == {"One": (0, False), "Two": (1, True)}


def test_the_openapi_document_lists_the_enrollment_routes(anonymous):
    paths = set(anonymous.get("/api/v1/openapi.json").json()["paths"])
    assert {"/api/v1/programs/{program_id}/applications", "/api/v1/applications/{application_id}/withdrawal",
            "/api/v1/programs/{program_id}/selection", "/api/v1/programs/{program_id}/roster.csv",
            "/api/v1/programs/{program_id}/teams", "/api/v1/teams/{team_id}/members/{student_id}",
            "/api/v1/programs/{program_id}/mentors", "/api/v1/programs/{program_id}/assignments"} <= paths
