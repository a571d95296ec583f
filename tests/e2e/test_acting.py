"""Who acts is verified, not claimed (issue 7, point 1): X-Acting-User is a validated
identity; the LMS acting for a student touches and reads only that student's records and
never sees a check-in code, others' attendance, device ids or addresses; audit fields keep
the key and the person apart; a partner answers only as its own mentor or instructor."""
import pytest

from contracts.enrollment import MENTOR_ASSIGNED, TEAM_FORMED
from tests.e2e.enrollment_helpers import apply, create_programme, score
from tests.e2e.test_content import (API, admit, code_of, create_session, make_school, open_window, publish,
                                    sign_in, student)
from tests.waiting import eventually


@pytest.fixture(scope="module")
def school(client_for, system):
    school = make_school(client_for, system)
    admit(school, ["ann", "bob"])
    return school


def key_id(client):
    return client.session.headers["Authorization"].split("_")[1]


@pytest.mark.parametrize("header", ["ann", "admin:k1", "student:", "student:a b", "student:" + "x" * 121,
                                    "staff:\u00e9t\u00e9"])
def test_a_malformed_acting_user_answers_400_with_the_reason(school, header):
    response = school.lms.session.request(
        "GET", f"{school.lms.base_url}{API}/programs/{school.program_id}",
        headers={"X-Acting-User": header.encode("utf-8", "surrogatepass")})
    assert response.status_code == 400 and "X-Acting-User" in response.json()["errors"]


def test_the_lms_must_say_who_acts_and_admin_or_partner_keys_never_act_as_a_student(school):
    anonymous_lms = school.lms.acting("staff:x")
    anonymous_lms.session.headers.pop("X-Acting-User")
    assert anonymous_lms.get(f"{API}/programs/{school.program_id}").status_code == 400
    assert school.admin.acting("student:ann").get(f"{API}/programs/{school.program_id}").status_code == 403
    assert school.partner.acting("student:ann").get(f"{API}/programs").status_code == 403


def test_a_student_never_gets_the_code_never_signs_in_another_and_never_runs_a_roll_call(school):
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    ann = student(school, "ann")
    for method, path, body in (("GET", "checkin-code", None), ("GET", "checkin-status", None),
                               ("POST", "checkin-window", {}), ("POST", "checkin-window/close", None),
                               ("POST", "roll-call", {"present": ["ann", "bob"]})):
        response = ann.request(method, f"{API}/sessions/{session['id']}/{path}", json=body)
        assert response.status_code == 403, (path, response.text)
    forged = ann.post(f"{API}/sessions/{session['id']}/sign-ins",
                      json={"student_id": "bob", "code": code_of(school, session["id"])})
    assert forged.status_code == 403
    assert school.admin.get(f"{API}/sessions/{session['id']}/attendance").json() == []


def test_a_student_reads_only_their_own_attendance_without_devices_or_addresses(school):
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    for who in ("ann", "bob"):
        assert sign_in(school, session["id"], who, device_id=f"phone-{who}", address="10.1.1.1").status_code == 201
    mine = student(school, "ann").get(f"{API}/sessions/{session['id']}/attendance").json()
    assert [(r["student_id"], r["device_id"], r["address"], r["flags"]) for r in mine] == [("ann", None, None, [])]
    staff_view = {r["student_id"]: r for r in school.lms.get(f"{API}/sessions/{session['id']}/attendance").json()}
    assert staff_view["bob"]["device_id"] == "phone-bob" and staff_view["bob"]["flags"] == ["shared_address"]


def test_a_student_asks_votes_rates_and_resolves_only_in_their_own_name(school):
    session = create_session(school, school.admin)
    url = f"{API}/sessions/{session['id']}"
    ann = student(school, "ann")
    assert ann.post(f"{url}/questions", json={"student_id": "bob", "text": "?"}).status_code == 403
    asked = student(school, "bob").post(f"{url}/questions", json={"student_id": "bob", "text": "Which carrier?"}).json()
    assert ann.post(f"{API}/questions/{asked['id']}/resolve", json={"student_id": "bob"}).status_code == 403
    assert ann.post(f"{API}/questions/{asked['id']}/resolve", json={"student_id": "ann"}).status_code == 403
    assert ann.get(f"{url}/questions").json() == []  # bob's question is bob's
    assert school.admin.get(f"{url}/questions").json()[0]["status"] == "open"
    assert ann.post(f"{url}/feedback", json={"student_id": "bob", "clarity": 1, "practical_value": 1,
                                             "pace": 1}).status_code == 403
    assert ann.post(f"{url}/replay-progress", json={"student_id": "bob", "watched_share": 1}).status_code == 403
    poll = school.admin.post(f"{API}/programs/{school.program_id}/polls", json={
        "question": "Again?", "followup": {"title": "Again", "module": "m",
                                           "instructor": {"id": "teacher-li", "kind": "teacher"}}}).json()
    assert ann.post(f"{API}/polls/{poll['id']}/votes", json={"student_id": "bob", "answer": "no"}).status_code == 403
    shown = school.admin.get(f"{API}/polls/{poll['id']}").json()
    assert (shown["yes"], shown["no"]) == (0, 0)


def test_a_student_withdraws_and_leaves_teams_only_in_their_own_name(client_for):
    name = "acting-enrollment"
    admin, lms = client_for(name, "admin"), client_for(name, "lms")
    program_id = create_programme(admin, capacity_ug=3)
    apps = {s: apply(lms.acting(f"student:{s}"), program_id, s) for s in ("amy", "ben", "cy")}
    assert lms.acting("student:amy").post(f"{API}/programs/{program_id}/applications", json={
        "student_id": "dee", "name": "Dee", "track": "undergraduate"}).status_code == 403
    for n, app in enumerate(apps.values()):
        score(admin, app["id"], 90 - n)
    admin.post(f"{API}/programs/{program_id}/selection", json={})
    amy = lms.acting("student:amy")
    assert amy.get(f"{API}/applications/{apps['ben']['id']}").status_code == 404
    assert amy.post(f"{API}/applications/{apps['ben']['id']}/withdrawal", json={}).status_code == 404
    listed = amy.get(f"{API}/programs/{program_id}/applications").json()["items"]
    assert [a["student_id"] for a in listed] == ["amy"]
    team = lms.acting("student:ben").post(f"{API}/programs/{program_id}/teams", json={
        "name": "Blue", "track": "undergraduate", "members": ["ben", "cy"]})
    assert team.status_code == 201, team.text
    assert amy.post(f"{API}/programs/{program_id}/teams", json={
        "name": "Red", "track": "undergraduate", "members": ["ben", "cy"]}).status_code == 403
    team_id = team.json()["id"]
    assert amy.delete(f"{API}/teams/{team_id}/members/cy").status_code == 403
    assert amy.get(f"{API}/teams/{team_id}").status_code == 404
    assert admin.get(f"{API}/applications/{apps['ben']['id']}").json()["status"] == "admitted"
    assert admin.get(f"{API}/teams/{team_id}").json()["members"] == ["ben", "cy"]
    assert lms.acting("student:cy").delete(f"{API}/teams/{team_id}/members/cy").status_code == 200


def test_audit_fields_record_the_key_and_the_person_separately(school):
    trainer = school.partner.acting("staff:xmall-trainer")
    proposed = create_session(school, trainer, form="workshop", instructor={"id": "xmall-trainer", "kind": "mentor"})
    assert (proposed["proposed_by"], proposed["proposed_by_person"]) == (
        f"partner:{key_id(school.partner)}", "staff:xmall-trainer")
    reviewed = school.admin.acting("staff:dean").post(f"{API}/sessions/{proposed['id']}/review",
                                                      json={"decision": "approve"}).json()
    assert (reviewed["reviewed_by"], reviewed["reviewed_by_person"]) == (f"admin:{key_id(school.admin)}", "staff:dean")
    material = {"program_id": school.program_id, "module": "m", "title": "Checklist", "kind": "document", "body": "1."}
    # a partner names only its own people that the programme knows (here: its session's instructor)
    assert school.partner.acting("staff:teacher-li").post(f"{API}/materials", json=material).status_code == 403
    posted = trainer.post(f"{API}/materials", json=material)
    assert posted.status_code == 201, posted.text
    version = posted.json()["versions"][0]
    assert version["submitted_by"] == f"partner:{key_id(school.partner)}"
    assert version["submitted_by_person"] == "staff:xmall-trainer"
    session = create_session(school, school.admin)
    school.lms.post(f"{API}/sessions/{session['id']}/roll-call", json={"present": ["ann"]})
    corrected = school.admin.acting("staff:registrar").patch(f"{API}/sessions/{session['id']}/attendance/ann",
                                                             json={"status": "excused", "reason": "clinic"}).json()
    assert (corrected["history"][0]["by"], corrected["history"][0]["by_person"]) == (
        f"admin:{key_id(school.admin)}", "staff:registrar")
    created = school.admin.post(f"{API}/programs/{school.program_id}/sessions", json={
        "title": "x", "module": "m", "form": "workshop", "place": "Lab", "proposed_by": "admin:other",
        "starts_at": session["starts_at"], "ends_at": session["ends_at"],
        "instructor": {"id": "teacher-li", "kind": "teacher"}})
    assert created.status_code == 422 and "proposed_by" in created.json()["errors"]
    assert session["proposed_by"] == f"admin:{key_id(school.admin)}" and session["proposed_by_person"] is None


def test_a_partner_answers_only_as_its_own_mentor_or_instructor(school):
    team_id = f"team-{school.name}"
    admit(school, ["uma"])
    publish(school, TEAM_FORMED, {"team_id": team_id, "program_id": school.program_id,
                                  "track": "undergraduate", "name": "Blue", "members": ["uma"]})
    publish(school, MENTOR_ASSIGNED, {"team_id": team_id, "program_id": school.program_id,
                                      "mentor_id": "mentor-zhao", "partner_id": "xmall"})
    session = create_session(school, school.admin)  # the school's own, taught by teacher-li

    def asked_with_mentor():
        question = student(school, "uma").post(f"{API}/sessions/{session['id']}/questions",
                                               json={"student_id": "uma", "text": "Which carrier?"}).json()
        return question if question["mentor_id"] == "mentor-zhao" else None
    question = eventually(asked_with_mentor)
    url = f"{API}/questions/{question['id']}/answers"
    # the mentor's partner may not answer as the school's instructor
    assert school.partner.post(url, json={"author_id": "teacher-li", "text": "x"}).status_code == 403
    # the other partner may not answer as xmall's mentor, nor name xmall's mentor
    assert school.other_partner.post(url, json={"author_id": "mentor-zhao", "text": "x"}).status_code == 404
    assert school.other_partner.acting("staff:mentor-zhao").get(
        f"{API}/sessions/{school.probe['id']}").status_code in (403, 404)
    # the LMS acting for staff answers as the school's teacher only, as that teacher
    assert school.lms.acting("staff:mentor-zhao").post(url, json={"author_id": "mentor-zhao", "text": "x"}).status_code == 403
    assert school.lms.acting("staff:someone").post(url, json={"author_id": "teacher-li", "text": "x"}).status_code == 403
    assert school.admin.get(f"{API}/sessions/{session['id']}/questions").json()[0]["answers"] == []
    answered = school.partner.acting("staff:mentor-zhao").post(url, json={"author_id": "mentor-zhao", "text": "DHL"})
    assert answered.status_code == 200 and answered.json()["answers"][0]["role"] == "mentor"
