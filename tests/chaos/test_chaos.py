"""Chaos under writes, asserted with counts. After each blow: every acknowledged
write is stored once, the projections (supervision's funnel, content's roster and
attendance) equal their source, every service is alive and ready again without a
hand restart, and no answer was a 500."""
import json
import os
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pymongo
import requests

from tests.chaos.burst import Burst
from tests.chaos.conftest import REPLICAS, RPC_TIMEOUT, gateway_workers, wait_ready
from tests.chaos.flows import (API, EventTap, admitted_programme, application_burst, applications_under,
                               as_student, assert_applications_stored_once, assert_no_process_died, deliver_again,
                               funnel, funnel_reaches, read, school_of)
from tests.e2e.enrollment_helpers import applications, create_programme
from tests.e2e.test_content import code_of, create_session, open_window
from tests.waiting import eventually




def test_applications_survive_sigkill_of_enrollment_and_supervision(system, client_for):
    before = system.keeper.restarts()

    def kills(burst, *_):
        burst.wait_acked(15)
        system.keeper.kill("enrollment")
        burst.wait_acked(30)
        system.keeper.kill("supervision")
    applications_under(system, client_for, kills)
    after = system.keeper.restarts()
    # every process of both was killed, and started again by supervision
    assert after["enrollment"] == before["enrollment"] + REPLICAS
    assert after["supervision"] == before["supervision"] + REPLICAS


def test_applications_survive_three_broker_restarts_and_no_service_dies(system, client_for, rabbit):
    before = system.keeper.restarts()

    def restarts(burst, *_):
        for acked, restart in ((15, rabbit.stop), (40, rabbit.kill), (65, rabbit.stop)):  # graceful, SIGKILL
            burst.wait_acked(acked)
            restart()
            rabbit.start()
    burst = applications_under(system, client_for, restarts, count=90, threads=12)
    assert 503 in burst.answers  # the outages were seen, and answered 503 (never 500)
    assert_no_process_died(system, before)


def test_a_frozen_broker_answers_every_request_within_its_deadline(system, client_for, rabbit):
    before = system.keeper.restarts()
    reads = []

    def freeze(burst, admin, program_id):
        rabbit.freeze()
        try:
            frozen_at = time.monotonic()
            while time.monotonic() - frozen_at < 20:
                sent = time.monotonic()
                response = admin.get(f"{API}/programs/{program_id}")
                reads.append((response.status_code, time.monotonic() - sent, response.headers.get("Retry-After")))
        finally:
            rabbit.thaw()
    burst = applications_under(system, client_for, freeze, count=20)
    assert reads and all(status == 503 and retry_after for status, _, retry_after in reads), reads
    assert max(took for _, took, _ in reads) < RPC_TIMEOUT + 2, reads
    assert burst.slowest < RPC_TIMEOUT + 2, burst.slowest
    assert_no_process_died(system, before)


def test_applications_survive_the_database_killed_and_restarted_on_its_files(system, client_for, database):
    before = system.keeper.restarts()

    def outage(burst, *_):
        burst.wait_acked(15)
        database.kill()
        time.sleep(3)  # writes meet the outage
        database.start()
    burst = applications_under(system, client_for, outage)
    assert 503 in burst.answers  # the outage was seen, and answered 503 (never 500)
    assert_no_process_died(system, before)


def test_a_gateway_worker_killed_mid_request_leaves_no_key_stuck(system, client_for, rabbit):
    workers = gateway_workers(system)
    assert len(workers) == 2

    def kill_a_worker(*_):
        rabbit.freeze()  # every request is held in the gateway, waiting for its RPC
        try:
            time.sleep(1.5)
            os.kill(workers[0], signal.SIGKILL)  # its requests die with it; gunicorn starts another
        finally:
            rabbit.thaw()
    burst = applications_under(system, client_for, kill_a_worker, count=30, threads=16)
    assert any(isinstance(seen, str) for seen in burst.answers), burst.answers  # connections broke
    assert 409 in burst.answers  # retries met the dead worker's records ...
    assert max(burst.retry_spans) < 15, burst.retry_spans  # ... and took them over within seconds


def test_events_published_while_a_consumer_is_down_and_the_broker_lost_its_definitions_arrive(
        system, client_for, rabbit):
    admin, lms = school_of(client_for)
    program_id = create_programme(admin, capacity_ug=100)
    eventually(lambda: funnel(admin, program_id), timeout=30)
    with system.keeper.holding("supervision"):
        rabbit.wipe()  # a node rebuilt: no queue, no exchange left
        checks = wait_ready_except(system, "supervision")
        assert checks["service:supervision"].startswith("failing")  # /ready names what is missing
        students, burst = application_burst(lms, program_id, count=30)
        burst.join()
        assert sorted(a["student_id"] for a in applications(admin, program_id)) == students
    assert_applications_stored_once(system, admin, program_id, students, burst)
    wait_ready(system, timeout=60)


def wait_ready_except(system, down, timeout=60):
    """/ready's checks once everything but the service ``down`` answers again."""
    def others_ready():
        answer = requests.get(f"{system.base_url}/ready", timeout=10)
        checks = answer.json()["checks"]
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        return all(v == "ok" for k, v in checks.items() if k != f"service:{down}") and checks
    return eventually(others_ready, timeout=timeout, interval=0.5)


def test_selection_and_sign_ins_survive_sigkills_of_content(system, client_for):
    """Enrollment admits students while content is down; content's roster catches up
    to exactly enrollment's admitted students; then a burst of sign-ins with content
    killed in the middle records each student once, and supervision's funnel counts
    each attendance once."""
    admin, lms = school_of(client_for)
    with system.keeper.holding("content"):
        program_id, students = admitted_programme(admin, lms, 40)
    school = SimpleNamespace(admin=admin, program_id=program_id)
    admitted = sorted(a["student_id"] for a in applications(admin, program_id, status="admitted"))
    assert admitted == students  # capacity 40: everybody

    session = create_session(school, admin, title="Chaos roll call")
    open_window(school, session["id"], period_seconds=600, grace_seconds=60)

    def roster():
        status = admin.get(f"{API}/sessions/{session['id']}/checkin-status", params={"limit": 1000})
        return status.status_code == 200 and sorted(status.json()["not_signed_in"] + status.json()["signed_in"])
    assert eventually(lambda: roster() == admitted, timeout=60)  # content's roster = enrollment's admitted

    code = code_of(school, session["id"])
    writes = [(f"{API}/sessions/{session['id']}/sign-ins",
               {"student_id": s, "code": code, "device_id": f"phone-{s}"}, f"sign-in-{session['id']}-{s}",
               as_student(s))
              for s in students]
    signing = Burst(lms, writes, threads=8).start()
    signing.wait_acked(12)
    system.keeper.kill("content")
    signing.join()
    # 201, or 200 for a retry whose first attempt was recorded before content died:
    # either way the answer is the student's one record
    assert len(signing.final) == 40 and set(signing.final_statuses()) <= {200, 201}, signing.answers
    assert all(r.json()["student_id"] == key.rsplit("-", 1)[1] for key, r in signing.final.items())
    assert 500 not in signing.answers
    wait_ready(system)
    records = attendance_of(admin, session["id"])
    assert sorted(r["student_id"] for r in records) == students  # each sign-in once
    stages = funnel_reaches(admin, program_id, "trained", 40)
    assert stages["admitted"] == 40 and stages["registered"] == 40, stages


def test_every_event_of_a_run_delivered_again_twice_out_of_order_changes_nothing(system, client_for, rabbit):
    tap = EventTap(rabbit.uri)
    try:
        admin, lms = school_of(client_for)
        program_id, students = admitted_programme(admin, lms, 20)
        session = create_session(SimpleNamespace(admin=admin, program_id=program_id), admin, title="Twice")
        open_window(SimpleNamespace(admin=admin), session["id"], period_seconds=600, grace_seconds=60)
        code = code_of(SimpleNamespace(admin=admin), session["id"])
        eventually(lambda: len(roster_of(admin, session["id"])) == 20, timeout=60)
        for s in students:
            assert lms.post(f"{API}/sessions/{session['id']}/sign-ins",
                            json={"student_id": s, "code": code, "device_id": f"phone-{s}"},
                            headers=as_student(s)).status_code == 201
        settled = eventually(lambda: (lambda f: f if f and f["trained"] == 20 else None)(funnel(admin, program_id)),
                             timeout=60)
        attendance = attendance_of(admin, session["id"])
        def every_event():
            seen = tap.read()
            kinds = Counter(e["type"].rsplit(".", 1)[0] for e in seen)
            return seen if all(kinds[k] >= 20 for k in (
                "application.submitted", "student.admitted", "attendance.recorded")) else None
        events = list({e["event_id"]: e for e in eventually(every_event, timeout=30)}.values())

        deliver_again(rabbit.uri, events, seed=11)
        assert funnel(admin, program_id) == settled
        assert attendance_of(admin, session["id"]) == attendance
        assert roster_of(admin, session["id"]) == students
    finally:
        tap.close()


def roster_of(admin, session_id):
    status = read(admin, f"{API}/sessions/{session_id}/checkin-status?limit=1000")
    assert not status["has_more"], status  # the whole roster is on this page
    return sorted(status["signed_in"] + status["not_signed_in"])


def attendance_of(admin, session_id):
    """Every attendance record of the session (one page: fewer than 200)."""
    page = read(admin, f"{API}/sessions/{session_id}/attendance?limit=200")
    assert not page["has_more"], page
    return page["items"]


def test_the_timers_of_two_replicas_take_effect_once(system, client_for, database, rabbit):
    """Both content processes scan for overdue questions every 30 s: each question
    past its deadline is flagged, and question.overdue published, once."""
    admin, lms = school_of(client_for)
    program_id, students = admitted_programme(admin, lms, 5)
    session = create_session(SimpleNamespace(admin=admin, program_id=program_id), admin, title="Questions")
    eventually(lambda: len(roster_of(admin, session["id"])) == 5, timeout=60)
    asked = [lms.post(f"{API}/sessions/{session['id']}/questions",
                      json={"student_id": s, "text": f"How does {s} ship?"}, headers=as_student(s)) for s in students]
    assert [a.status_code for a in asked] == [201] * 5
    ids = [a.json()["id"] for a in asked]
    tap = EventTap(rabbit.uri)
    try:
        # their deadline passes (the SLA is hours: the test moves it)
        content_db = pymongo.MongoClient(database.uri)[f"{system.env['PRAXIS_DB_PREFIX']}_content"]
        for question in content_db.questions.find({"_id": {"$in": ids}}):  # a whole replace keeps types
            past = datetime.now(timezone.utc) - timedelta(minutes=1)
            content_db.questions.replace_one({"_id": question["_id"]},
                                             {**question, "due_at": past, "due_ts": past.timestamp()})

        def overdue():
            return {q["id"] for q in read(admin, f"{API}/programs/{program_id}/questions/overdue?limit=200", "items")}
        eventually(lambda: overdue() == set(ids), timeout=75, interval=1)
        flagged_at = time.time()
        # every content process's timer has run again since: none may flag anything twice
        replicas = system.replicas_of("content")
        assert len(replicas) == 2
        eventually(lambda: all(last_scan(system, key) > flagged_at for key in replicas), timeout=75, interval=1)
        published = [e for e in tap.read() if e["type"].startswith("question.overdue")]
        per_question = Counter(e["payload"]["question_id"] for e in {e["event_id"]: e for e in published}.values())
        assert per_question == {i: 1 for i in ids}, published
        assert overdue() == set(ids)
    finally:
        tap.close()


def last_scan(system, key):
    """When this content process last finished its overdue scan (from its log)."""
    last = 0.0
    for line in (system.var_dir / "log" / f"{key}.log").read_text(errors="replace").splitlines():
        if '"content.scan_overdue_questions"' in line:
            try:
                last = datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
            except (ValueError, KeyError):
                continue
    return last


def test_selection_survives_sigkill_of_enrollment_in_its_middle(system, client_for):
    """Enrollment dies while its selection job admits (every process of it); the retry
    with the same Idempotency-Key finds the same job, which is taken up again and
    finishes once: the best ten admitted once each, the rest waitlisted in rank order,
    and the funnel and content's roster agree."""
    admin, lms = school_of(client_for)
    program_id = create_programme(admin, capacity_ug=10)
    students, burst = application_burst(lms, program_id, count=25)
    burst.join()
    scores = {item["student_id"]: 60 + int(item["student_id"][1:]) for item in applications(admin, program_id)}
    for item in applications(admin, program_id):
        assert admin.put(f"{API}/applications/{item['id']}/screening-score",
                         json={"score": scores[item["student_id"]]}).status_code == 200
    path, key = f"{API}/programs/{program_id}/selection", f"select-{program_id}"
    selection = Burst(admin, [(path, {}, key)], threads=1, pace=0).start()
    selection.wait_acked(1)  # 202: the job is on its way (admitting takes a write per student) ...
    system.keeper.kill("enrollment")  # ... and every process running it dies
    selection.join()
    assert selection.final_statuses() == {202: 1} and 500 not in selection.answers, selection.answers
    job_id = selection.final[key].json()["id"]
    wait_ready(system)
    again = Burst(admin, [(path, {}, key)], threads=1, pace=0).start().join()  # the client's retry
    assert again.final_statuses() == {202: 1} and again.final[key].json()["id"] == job_id, again.answers

    def finished():
        job = admin.get(f"{API}/jobs/{job_id}")
        return job.status_code == 200 and job.json()["state"] in ("succeeded", "failed") and job.json()
    # a job whose service died is taken up again once its heartbeat is stale (jobs.STALE_AFTER)
    job = eventually(finished, timeout=180, interval=1)
    assert job["state"] == "succeeded", job
    best = sorted(scores, key=scores.get, reverse=True)[:10]
    assert sorted(a["student_id"] for a in applications(admin, program_id, status="admitted")) == sorted(best)
    waitlisted = applications(admin, program_id, status="waitlisted")
    assert len(waitlisted) == 15 and {a["student_id"] for a in waitlisted} == set(scores) - set(best)
    funnel_reaches(admin, program_id, "admitted", 10)
    session = create_session(SimpleNamespace(admin=admin, program_id=program_id), admin, title="Roster")
    eventually(lambda: roster_of(admin, session["id"]) == sorted(best), timeout=60)
