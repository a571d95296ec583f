"""Course content through the gateway: sessions proposed and approved, rotating
check-in codes, refusals kept for supervision, roll call and corrections,
online presence, replays, questions, feedback, courseware review and demand polls.

Students are admitted by publishing enrollment's student.admitted events to the
system's broker (as enrollment does), then waiting for content's projection."""
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from nameko.amqp.publish import Publisher

from contracts import topology
from contracts.enrollment import MENTOR_ASSIGNED, STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_FORMED
from contracts.events import make_event
from tests.waiting import eventually
from tests.e2e.programs_payloads import platinum_cup

API = "/api/v1"


def iso(dt):
    return dt.isoformat()


def now():
    return datetime.now(timezone.utc)


def session_body(**extra):
    start = now()
    return {"title": "Store operations on X-Mall", "module": "store-ops", "form": "offline_lecture",
            "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=2)), "place": "Room 101",
            "instructor": {"id": "teacher-li", "kind": "teacher", "name": "Li"}, **extra}


def make_school(client_for, system):
    name = f"content-{uuid.uuid4().hex[:8]}"
    school = SimpleNamespace(
        name=name, amqp=system.env["AMQP_URI"], admin=client_for(name, "admin"), lms=client_for(name, "lms", acting="staff:teacher-li"),
        partner=client_for(name, "partner", "xmall"), other_partner=client_for(name, "partner", "ourmall"))
    school.program_id = school.admin.post(f"{API}/programs", json=platinum_cup()).json()["id"]
    # content learns of the programme from program.created: wait for it
    school.probe = create_session(school, school.admin, title="Probe (all tracks)")
    return school


def create_session(school, client, expect=201, **extra):
    def attempt():
        response = client.post(f"{API}/programs/{school.program_id}/sessions", json=session_body(**extra))
        return response if response.status_code != 404 else None
    response = eventually(attempt)
    assert response.status_code == expect, response.text
    return response.json()


def publish(school, event_type, payload):
    envelope = make_event(event_type, payload, school_id=school.name, actor="enrollment-test")
    Publisher(school.amqp).publish(envelope, exchange=topology.event_exchange(event_type.source),
                                   routing_key=envelope["type"])


def admit(school, students, track="undergraduate"):
    for student_id in students:
        publish(school, STUDENT_ADMITTED, {"program_id": school.program_id, "application_id": f"app-{student_id}",
                                           "student_id": student_id, "track": track, "reason": "rank 1 of 40"})

    def projected():
        status = school.admin.get(f"{API}/sessions/{school.probe['id']}/checkin-status").json()
        known = set(status["signed_in"]) | set(status["not_signed_in"])
        return set(students) <= known
    eventually(projected, timeout=60)


def open_window(school, session_id, client=None, **params):
    response = (client or school.admin).post(f"{API}/sessions/{session_id}/checkin-window",
                                             json={"minutes": 30, "period_seconds": 60, **params})
    assert response.status_code == 201, response.text
    return response.json()


def code_of(school, session_id):
    return school.admin.get(f"{API}/sessions/{session_id}/checkin-code").json()["code"]


def student(school, student_id):
    """The school's LMS acting for one student."""
    return school.lms.acting(f"student:{student_id}")


def sign_in(school, session_id, student_id, code=None, **extra):
    return student(school, student_id).post(f"{API}/sessions/{session_id}/sign-ins",
                           json={"student_id": student_id, "code": code or code_of(school, session_id), **extra})


@pytest.fixture(scope="module")
def school(client_for, system):
    return make_school(client_for, system)


# --- sessions ---------------------------------------------------------------------------

def test_a_partners_session_is_hidden_from_students_until_the_school_approves_it(school):
    proposed = create_session(school, school.partner, title="Amazon listing workshop", form="workshop")
    assert proposed["status"] == "proposed" and proposed["partner_id"] == "xmall"
    assert school.lms.get(f"{API}/sessions/{proposed['id']}").status_code == 404
    assert proposed["id"] not in [s["id"] for s in school.lms.get(f"{API}/programs/{school.program_id}/sessions").json()["items"]]

    approved = school.admin.post(f"{API}/sessions/{proposed['id']}/review", json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == "scheduled"
    assert school.lms.get(f"{API}/sessions/{proposed['id']}").status_code == 200


def test_a_partner_sees_and_changes_only_its_own_sessions(school):
    own = create_session(school, school.partner, title="Own")
    theirs = create_session(school, school.other_partner, title="Theirs")
    assert school.partner.get(f"{API}/sessions/{theirs['id']}").status_code == 404
    assert school.partner.patch(f"{API}/sessions/{theirs['id']}", json={"title": "Mine now"}).status_code == 404
    assert school.partner.post(f"{API}/sessions/{theirs['id']}/cancel", json={"reason": "x"}).status_code == 404
    listed = [s["id"] for s in school.partner.get(f"{API}/programs/{school.program_id}/sessions").json()["items"]]
    assert own["id"] in listed and theirs["id"] not in listed
    assert school.partner.post(f"{API}/sessions/{own['id']}/review", json={"decision": "approve"}).status_code == 403


def test_a_partner_cannot_set_server_owned_fields_of_a_session(school):
    response = school.partner.post(f"{API}/programs/{school.program_id}/sessions",
                                   json={**session_body(), "status": "scheduled", "school_id": "other"})
    assert response.status_code == 422
    assert {"status", "school_id"} <= set(response.json()["errors"])


def test_rescheduling_and_cancelling_a_session(school):
    session = create_session(school, school.admin, title="To move")
    later = now() + timedelta(days=1)
    moved = school.admin.patch(f"{API}/sessions/{session['id']}",
                               json={"starts_at": iso(later), "ends_at": iso(later + timedelta(hours=1))})
    assert moved.status_code == 200
    assert moved.json()["starts_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    assert school.admin.patch(f"{API}/sessions/{session['id']}",
                              json={"ends_at": iso(later - timedelta(hours=1))}).status_code == 422
    cancelled = school.admin.post(f"{API}/sessions/{session['id']}/cancel", json={"reason": "room flooded"})
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_reason"] == "room flooded"
    assert school.lms.get(f"{API}/sessions/{session['id']}").status_code == 404


def test_a_live_online_session_needs_an_http_stream_link(school):
    response = school.admin.post(f"{API}/programs/{school.program_id}/sessions",
                                 json=session_body(form="live_online", place=None, stream_url="javascript:alert(1)"))
    assert response.status_code == 422 and "stream_url" in response.json()["errors"]


def test_another_schools_session_answers_404(school, client_for):
    stranger = client_for("another-school", "admin")
    assert stranger.get(f"{API}/sessions/{school.probe['id']}").status_code == 404


# --- check-in -----------------------------------------------------------------------------

def test_an_admitted_student_signs_in_once_with_the_current_code(school):
    admit(school, ["ann", "bob"])
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    for shown in (school.admin.get(f"{API}/sessions/{session['id']}"), school.lms.get(f"{API}/sessions/{session['id']}")):
        assert shown.json()["checkin_open"] is True and "secret" not in shown.text  # the server's alone
    first = sign_in(school, session["id"], "ann", device_id="phone-ann")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "present" and first.json()["flags"] == []
    again = sign_in(school, session["id"], "ann", device_id="phone-ann")
    assert again.status_code == 200 and again.json() == first.json()
    records = school.admin.get(f"{API}/sessions/{session['id']}/attendance").json()["items"]
    assert [r["student_id"] for r in records] == ["ann"]

    status = school.admin.get(f"{API}/sessions/{session['id']}/checkin-status").json()
    assert status["window_open"] is True
    assert "ann" in status["signed_in"] and "bob" in status["not_signed_in"] and "ann" not in status["not_signed_in"]


def test_refused_sign_ins_say_why_and_repeated_wrong_codes_are_visible(school):
    admit(school, ["cat"])
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    real = code_of(school, session["id"])
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    for _ in range(3):
        refused = sign_in(school, session["id"], "cat", code=wrong)
        assert refused.status_code == 422
        assert refused.json()["errors"] == {"sign_in": ["wrong_code"]}
    stranger = sign_in(school, session["id"], "mallory")
    assert stranger.status_code == 409 and stranger.json()["errors"] == {"sign_in": ["not_admitted"]}
    assert "not admitted" in stranger.json()["detail"]

    report = school.admin.get(f"{API}/sessions/{session['id']}/checkin-refusals").json()
    assert report["by_student"][0] == {"student_id": "cat", "total": 3, "reasons": {"wrong_code": 3}}
    assert {"student_id": "mallory", "total": 1, "reasons": {"not_admitted": 1}} in report["by_student"]
    assert school.lms.get(f"{API}/sessions/{session['id']}/checkin-refusals").status_code == 403
    assert sign_in(school, session["id"], "cat").status_code == 201  # the right code still works


def test_a_code_marks_only_its_own_session_and_only_while_its_window_is_open(school):
    admit(school, ["dan"])
    today = create_session(school, school.admin)
    next_week = create_session(school, school.admin, starts_at=iso(now() + timedelta(minutes=20)),
                               ends_at=iso(now() + timedelta(hours=2)))  # the next one, within its lead time
    open_window(school, today["id"])
    code = code_of(school, today["id"])
    assert sign_in(school, next_week["id"], "dan", code=code).json()["errors"] == {"sign_in": ["no_window"]}
    open_window(school, next_week["id"])
    response = sign_in(school, next_week["id"], "dan", code=code)
    assert response.status_code == 422 and response.json()["errors"]["sign_in"][0] in ("wrong_code", "expired_code")

    closed = school.admin.post(f"{API}/sessions/{today['id']}/checkin-window/close")
    assert closed.status_code == 200
    late = sign_in(school, today["id"], "dan", code=code)
    assert late.status_code == 409 and late.json()["errors"] == {"sign_in": ["window_closed"]}
    assert school.admin.get(f"{API}/sessions/{today['id']}/checkin-code").status_code == 409


def test_one_device_signing_in_two_students_flags_both_records(school):
    admit(school, ["eve", "fay"])
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    assert sign_in(school, session["id"], "eve", device_id="shared-phone", address="10.0.0.7").status_code == 201
    second = sign_in(school, session["id"], "fay", device_id="shared-phone", address="10.0.0.8")
    # the student sees neither the flag nor the device and address (staff do)
    assert second.status_code == 201 and second.json()["flags"] == [] and second.json()["device_id"] is None
    records = {r["student_id"]: r for r in school.admin.get(f"{API}/sessions/{session['id']}/attendance").json()["items"]}
    assert records["eve"]["flags"] == ["shared_device"] and records["fay"]["flags"] == ["shared_device"]
    assert school.admin.get(f"{API}/sessions/{session['id']}/checkin-status").json()["flagged"] == ["eve", "fay"]


def test_a_withdrawn_student_can_no_longer_sign_in(school):
    admit(school, ["gus"])
    publish(school, STUDENT_WITHDRAWN, {"program_id": school.program_id, "application_id": "app-gus",
                                        "student_id": "gus", "track": "undergraduate",
                                        "previous_status": "admitted"})
    eventually(lambda: "gus" not in school.admin.get(
        f"{API}/sessions/{school.probe['id']}/checkin-status").json()["not_signed_in"])
    session = create_session(school, school.admin)
    open_window(school, session["id"])
    assert sign_in(school, session["id"], "gus").json()["errors"] == {"sign_in": ["not_admitted"]}


def test_a_student_of_another_track_cannot_sign_in_to_a_track_session(school):
    admit(school, ["hal"], track="vocational")
    session = create_session(school, school.admin, tracks=["undergraduate"])
    open_window(school, session["id"])
    assert sign_in(school, session["id"], "hal").json()["errors"] == {"sign_in": ["not_for_track"]}


def test_a_sign_in_after_the_late_limit_is_late(school):
    admit(school, ["ivy"])
    started = now() - timedelta(minutes=30)  # the programme's default: late after 10 minutes
    session = create_session(school, school.admin, starts_at=iso(started), ends_at=iso(started + timedelta(hours=2)))
    open_window(school, session["id"])
    assert sign_in(school, session["id"], "ivy").json()["status"] == "late"


# --- roll call, corrections, online presence, replays ---------------------------------------

def test_a_roll_call_marks_the_listed_present_and_the_rest_absent_and_a_correction_keeps_history(school):
    admit(school, ["jay", "kim"])
    session = create_session(school, school.admin)
    result = school.lms.post(f"{API}/sessions/{session['id']}/roll-call",
                             json={"present": ["jay", "nobody"]}).json()
    assert "jay" in result["marked_present"] and result["unknown"] == ["nobody"]
    assert "kim" in result["marked_absent"]

    corrected = school.admin.patch(f"{API}/sessions/{session['id']}/attendance/kim",
                                   json={"status": "excused", "reason": "sick note from the clinic"})
    assert corrected.status_code == 200
    record = corrected.json()
    assert record["status"] == "excused" and record["corrected"] is True
    assert record["history"][0]["previous"] == "absent"
    assert record["history"][0]["reason"] == "sick note from the clinic"
    assert school.lms.patch(f"{API}/sessions/{session['id']}/attendance/kim",
                            json={"status": "present", "reason": "x"}).status_code == 403


def test_join_and_leave_records_make_a_student_present_after_the_programmes_share(school):
    admit(school, ["lea", "max"])
    start = now() - timedelta(minutes=100)
    session = create_session(school, school.admin, form="live_online", place=None,
                             stream_url="https://meet.example.com/ops", starts_at=iso(start),
                             ends_at=iso(start + timedelta(minutes=100)))
    url = f"{API}/sessions/{session['id']}/presence"

    def stay(student, minutes):
        for _ in range(2):  # a retried report counts once
            school.lms.post(url, json={"student_id": student, "kind": "join", "at": iso(start)})
        return school.lms.post(url, json={"student_id": student, "kind": "leave",
                                          "at": iso(start + timedelta(minutes=minutes))}).json()

    assert stay("lea", 80)["status"] == "present"  # default share 0.75
    short = stay("max", 30)
    assert short["status"] == "absent" and short["minutes_present"] == 30


def test_watching_enough_of_the_replay_counts_for_a_student_who_missed_the_session(school):
    admit(school, ["ned", "ola"])
    session = create_session(school, school.admin, form="recorded", place=None,
                             replay_url="https://video.example.com/ops.mp4")
    url = f"{API}/sessions/{session['id']}/replay-progress"
    partial = student(school, "ned").post(url, json={"student_id": "ned", "watched_share": 0.5}).json()
    assert partial["counted"] is False and partial["status"] is None
    done = student(school, "ned").post(url, json={"student_id": "ned", "watched_share": 0.85}).json()
    assert done["counted"] is True and done["status"] == "watched_replay"
    # progress never goes back
    assert student(school, "ned").post(url, json={"student_id": "ned", "watched_share": 0.1}).json()["watched_share"] == 0.85
    assert student(school, "stranger").post(url, json={"student_id": "stranger", "watched_share": 1}).status_code == 409


# --- questions -------------------------------------------------------------------------------

def test_a_question_is_answered_by_the_instructor_and_resolved_by_the_student(school):
    admit(school, ["pia"])
    session = create_session(school, school.admin)
    asked = student(school, "pia").post(f"{API}/sessions/{session['id']}/questions",
                                        json={"student_id": "pia", "text": "How do I set up FBA shipping?"})
    assert asked.status_code == 201, asked.text
    question = asked.json()
    assert question["status"] == "open" and question["overdue"] is False
    due = datetime.fromisoformat(question["due_at"]) - datetime.fromisoformat(question["asked_at"])
    assert due == timedelta(hours=24)  # the programme's SLA

    qurl = f"{API}/questions/{question['id']}"
    assert school.lms.acting("staff:random").post(f"{qurl}/answers", json={"author_id": "random", "text": "no"}).status_code == 403
    answered = school.lms.post(f"{qurl}/answers", json={"author_id": "teacher-li", "text": "Like this."})
    assert answered.status_code == 200
    assert answered.json()["status"] == "answered" and answered.json()["answers"][0]["role"] == "instructor"
    assert student(school, "someone-else").post(f"{qurl}/resolve", json={"student_id": "someone-else"}).status_code == 403
    assert student(school, "pia").post(f"{qurl}/resolve", json={"student_id": "pia"}).json()["status"] == "resolved"
    overdue = school.admin.get(f"{API}/programs/{school.program_id}/questions/overdue").json()["items"]
    assert question["id"] not in [q["id"] for q in overdue]


def test_the_teams_mentor_answers_through_the_partner_and_another_partner_cannot(school):
    admit(school, ["uma"])
    publish(school, TEAM_FORMED, {"team_id": f"team-{school.name}", "program_id": school.program_id,
                                  "track": "undergraduate", "name": "Blue", "members": ["uma"]})
    publish(school, MENTOR_ASSIGNED, {"team_id": f"team-{school.name}", "program_id": school.program_id,
                                      "mentor_id": "mentor-zhao", "partner_id": "xmall"})
    session = create_session(school, school.admin)

    def asked_with_mentor():
        question = student(school, "uma").post(f"{API}/sessions/{session['id']}/questions",
                                               json={"student_id": "uma", "text": "Which carrier?"}).json()
        return question if question["mentor_id"] == "mentor-zhao" else None
    question = eventually(asked_with_mentor)
    qurl = f"{API}/questions/{question['id']}/answers"
    assert school.other_partner.post(qurl, json={"author_id": "mentor-zhao", "text": "x"}).status_code == 404
    answered = school.partner.post(qurl, json={"author_id": "mentor-zhao", "text": "Use the partner carrier."})
    assert answered.status_code == 200 and answered.json()["answers"][0]["role"] == "mentor"


# --- feedback ----------------------------------------------------------------------------------

def test_attending_students_rate_an_ended_session_once_and_staff_see_the_scores(school):
    admit(school, ["quin", "rex", "sue"])
    start = now() - timedelta(hours=3)
    session = create_session(school, school.admin, starts_at=iso(start), ends_at=iso(start + timedelta(hours=1)),
                             instructor={"id": "mentor-wang", "kind": "mentor", "name": "Wang"})
    for present in ("quin", "rex"):  # the session has ended: staff correct its records
        school.admin.patch(f"{API}/sessions/{session['id']}/attendance/{present}",
                           json={"status": "present", "reason": "paper sign-in sheet"})
    url = f"{API}/sessions/{session['id']}/feedback"
    rating = {"clarity": 5, "practical_value": 4, "pace": 3, "comment": "More examples please"}
    assert student(school, "quin").post(url, json={"student_id": "quin", **rating}).status_code == 201
    assert student(school, "quin").post(url, json={"student_id": "quin", **rating}).status_code == 409
    assert student(school, "sue").post(url, json={"student_id": "sue", **rating}).status_code == 409  # absent
    assert student(school, "rex").post(url, json={"student_id": "rex", **rating, "clarity": 6}).status_code == 422

    summary = school.admin.get(url).json()
    assert summary["count"] == 1 and summary["attending"] == 2 and summary["response_rate"] == 0.5
    assert summary["averages"] == {"clarity": 5.0, "practical_value": 4.0, "pace": 3.0, "overall": 4.0}
    assert summary["comments"] == ["More examples please"]
    score = school.admin.get(f"{API}/instructors/mentor-wang/score").json()
    assert score["count"] == 1 and score["sessions"] == 1 and score["averages"]["overall"] == 4.0


def test_feedback_before_the_session_ends_is_refused(school):
    admit(school, ["tom"])
    session = create_session(school, school.admin)
    school.lms.post(f"{API}/sessions/{session['id']}/roll-call", json={"present": ["tom"]})
    response = student(school, "tom").post(f"{API}/sessions/{session['id']}/feedback",
                                           json={"student_id": "tom", "clarity": 5, "practical_value": 5, "pace": 5})
    assert response.status_code == 409 and "not ended" in response.json()["detail"]


# --- materials ----------------------------------------------------------------------------------

def test_a_partners_material_is_published_after_review_and_a_new_version_needs_review_again(school):
    posted = school.partner.post(f"{API}/materials", json={
        "program_id": school.program_id, "module": "store-ops", "title": "Listing checklist",
        "kind": "slides", "url": "https://cdn.xmall.example.com/listing-v1.pdf"})
    assert posted.status_code == 201, posted.text
    material = posted.json()
    assert material["published_version"] is None and material["versions"][0]["status"] == "pending"
    murl = f"{API}/materials/{material['id']}"
    assert school.lms.get(murl).status_code == 404

    approved = school.admin.post(f"{murl}/review", json={"version": 1, "decision": "approve"})
    assert approved.json()["published_version"] == 1
    seen = school.lms.get(murl).json()
    assert seen["published"]["url"] == "https://cdn.xmall.example.com/listing-v1.pdf" and "versions" not in seen

    assert material["id"] in [m["id"] for m in school.lms.get(f"{API}/materials").json()["items"]]
    pending = school.partner.post(f"{API}/materials", json={
        "program_id": school.program_id, "module": "store-ops", "title": "Draft", "kind": "link",
        "url": "http://intranet.xmall.example.com/draft"}).json()
    assert pending["id"] not in [m["id"] for m in school.lms.get(f"{API}/materials").json()["items"]]
    to_review = school.admin.get(f"{API}/materials", params={"pending_review": "true"}).json()["items"]
    assert pending["id"] in [m["id"] for m in to_review] and material["id"] not in [m["id"] for m in to_review]

    v2 = school.partner.post(f"{murl}/versions", json={"url": "https://cdn.xmall.example.com/listing-v2.pdf"})
    assert v2.status_code == 201 and v2.json()["versions"][1]["status"] == "pending"
    assert school.lms.get(murl).json()["published"]["version"] == 1  # the old one stays visible
    rejected = school.admin.post(f"{murl}/review", json={"version": 2, "decision": "reject", "reason": "typos"})
    assert rejected.json()["versions"][1]["reason"] == "typos" and rejected.json()["published_version"] == 1
    assert school.admin.post(f"{murl}/review", json={"version": 2, "decision": "approve"}).status_code == 409


def test_partners_see_and_change_only_their_own_materials(school):
    material = school.partner.post(f"{API}/materials", json={
        "program_id": school.program_id, "module": "m", "title": "Mine", "kind": "document",
        "body": "Step 1 ..."}).json()
    murl = f"{API}/materials/{material['id']}"
    assert school.other_partner.get(murl).status_code == 404
    assert school.other_partner.post(f"{murl}/versions", json={"body": "hijack"}).status_code == 404
    assert material["id"] not in [m["id"] for m in school.other_partner.get(f"{API}/materials").json()["items"]]
    assert school.partner.post(f"{murl}/review", json={"version": 1, "decision": "approve"}).status_code == 403


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://files.example.com/a.pdf", "file:///etc/passwd"])
def test_a_material_link_must_be_http_or_https(school, url):
    response = school.partner.post(f"{API}/materials", json={
        "program_id": school.program_id, "module": "m", "title": "Bad", "kind": "link", "url": url})
    assert response.status_code == 422 and "url" in response.json()["errors"]


# --- demand polls ---------------------------------------------------------------------------------

def poll_body(question, closes_at, session_id=None, **extra):
    return {"question": question, "threshold": 0.6, "quorum": 0.6, "closes_at": iso(closes_at),
            "session_id": session_id, "followup": {"title": f"{question} II", "module": "store-ops",
                                                   "form": "offline_lecture",
                                                   "instructor": {"id": "mentor-wang", "kind": "mentor"}}, **extra}


def test_polls_decide_on_their_final_tally_and_a_proposed_follow_up_is_approved_as_proposed(client_for, system):
    fresh = make_school(client_for, system)  # its own programme: a known number of admitted students
    admit(fresh, ["v1", "v2", "v3", "v4", "v5"])
    followed = create_session(fresh, fresh.admin, title="Store operations", place="Room 101")
    closes = now() + timedelta(seconds=8)
    polls = {}
    for name in ("changed", "crossed"):
        created = fresh.admin.post(f"{API}/programs/{fresh.program_id}/polls",
                                   json=poll_body(f"Store operations ({name})", closes, followed["id"]))
        assert created.status_code == 201, created.text
        polls[name] = created.json()

    def vote(poll, voter, answer):
        response = student(fresh, voter).post(f"{API}/polls/{poll['id']}/votes", json={"student_id": voter, "answer": answer})
        assert response.status_code == 201, response.text

    for voter in ("v1", "v2", "v3"):  # the running tally crosses (3 of 5 voted, all yes) ...
        vote(polls["changed"], voter, "yes")
    running = fresh.admin.get(f"{API}/polls/{polls['changed']['id']}").json()
    assert (running["state"], running["reached"], running["yes"]) == ("open", False, 3)
    vote(polls["changed"], "v1", "no")  # ... but votes change until the close: 2 yes of 4
    vote(polls["changed"], "v4", "no")
    for voter, answer in (("v1", "yes"), ("v2", "yes"), ("v3", "no")):
        vote(polls["crossed"], voter, answer)
    assert student(fresh, "outsider").post(f"{API}/polls/{polls['crossed']['id']}/votes",
                                           json={"student_id": "outsider", "answer": "yes"}).status_code == 409

    def decided(poll):
        shown = fresh.admin.get(f"{API}/polls/{poll['id']}").json()
        return shown if shown["state"] == "decided" else None
    changed, crossed = eventually(lambda: decided(polls["changed"]), timeout=60), eventually(lambda: decided(polls["crossed"]), timeout=60)
    assert (changed["reached"], changed["yes"], changed["no"], changed["followup_session_id"]) == (False, 2, 2, None)
    assert (crossed["reached"], crossed["yes"], crossed["no"], crossed["eligible"]) == (True, 2, 1, 5)
    late = student(fresh, "v5").post(f"{API}/polls/{polls['crossed']['id']}/votes", json={"student_id": "v5", "answer": "no"})
    assert late.status_code == 409 and "closed" in late.json()["detail"]

    # staff find the proposal; it copies what it needs from the session it follows
    proposals = fresh.lms.get(f"{API}/programs/{fresh.program_id}/proposals").json()["items"]
    assert [p["id"] for p in proposals if p["poll_id"]] == [crossed["followup_session_id"]]
    assert student(fresh, "v1").get(f"{API}/programs/{fresh.program_id}/proposals").status_code == 403
    draft = proposals[[p["id"] for p in proposals].index(crossed["followup_session_id"])]
    assert draft["status"] == "draft" and draft["place"] == "Room 101" and draft["title"] == "Store operations (crossed) II"
    assert student(fresh, "v1").get(f"{API}/sessions/{draft['id']}").status_code == 404
    approved = fresh.admin.post(f"{API}/sessions/{draft['id']}/review", json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == "scheduled"


def test_a_poll_without_a_closing_time_gets_one_and_one_in_the_past_is_refused(school):
    body = poll_body("Another round?", now() + timedelta(days=1))
    body.pop("closes_at")
    created = school.admin.post(f"{API}/programs/{school.program_id}/polls", json=body)
    assert created.status_code == 201 and created.json()["closes_at"]
    past = school.admin.post(f"{API}/programs/{school.program_id}/polls", json=poll_body("Late?", now() - timedelta(minutes=1)))
    assert past.status_code == 422 and "closes_at" in past.json()["errors"]


# --- with the real enrollment service ----------------------------------------------------------

def test_students_admitted_by_enrollments_selection_may_sign_in_and_lose_it_when_they_withdraw(client_for):
    from tests.e2e.enrollment_helpers import apply, create_programme, score, select
    name = f"content-real-{uuid.uuid4().hex[:6]}"
    admin, lms = client_for(name, "admin"), client_for(name, "lms", acting="staff:registrar")
    school = SimpleNamespace(name=name, admin=admin, lms=lms, program_id=create_programme(admin, capacity_ug=1))
    apps = {s: apply(lms, school.program_id, s) for s in ("winner", "runner-up")}
    score(admin, apps["winner"]["id"], 90)
    score(admin, apps["runner-up"]["id"], 80)
    select(admin, school.program_id)

    session = create_session(school, admin)
    open_window(school, session["id"])

    def signs_in(student):
        def attempt():
            response = sign_in(school, session["id"], student)
            return response if response.status_code in (200, 201) else None
        return attempt
    assert eventually(signs_in("winner")).json()["status"] == "present"
    assert sign_in(school, session["id"], "runner-up").json()["errors"] == {"sign_in": ["not_admitted"]}

    # the winner withdraws: enrollment promotes the runner-up from the waitlist
    lms.post(f"{API}/applications/{apps['winner']['id']}/withdrawal", json={"reason": "internship"})
    later = create_session(school, admin)
    open_window(school, later["id"])
    assert eventually(signs_in("runner-up")).status_code == 201
    eventually(lambda: sign_in(school, later["id"], "winner").json().get("errors") == {"sign_in": ["not_admitted"]})
