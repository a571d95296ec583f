"""A burst of sign-ins: hundreds of students sign in within seconds, many twice,
through the gateway; every valid sign-in is recorded exactly once, and
attendance.recorded is published once per student."""
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from kombu import Connection, Queue

from contracts import topology
from contracts.content import ATTENDANCE_RECORDED
from tests.waiting import eventually
from tests.e2e.test_content import API, admit, create_session, make_school, open_window

STUDENTS = [f"burst-{n:03d}" for n in range(300)]
STRANGERS = [f"stranger-{n:02d}" for n in range(20)]
ADDRESS = {s: f"10.9.0.{n // 50}" for n, s in enumerate(STUDENTS[:100])}  # two dormitories of 50


def test_hundreds_of_concurrent_sign_ins_are_each_recorded_exactly_once(client_for, system):
    school = make_school(client_for, system)
    admit(school, STUDENTS)
    session = create_session(school, school.admin)
    open_window(school, session["id"], minutes=30, period_seconds=60, grace_seconds=10)

    connection = Connection(school.amqp)
    events = Queue(f"test-burst-{session['id']}", exchange=topology.event_exchange("content"),
                   routing_key=ATTENDANCE_RECORDED.type, durable=False, auto_delete=False)
    events.bind(connection.default_channel).declare()

    # several keys, as several LMS instances would: the per-key rate limit is not under test
    keys = [(client_for(school.name, "lms").session.headers["Authorization"],
             client_for(school.name, "admin").session.headers["Authorization"]) for _ in range(8)]
    attempts = [*(s for s in STUDENTS for _ in range(2)), *STRANGERS]
    random.Random(4).shuffle(attempts)
    url = f"{system.base_url}{API}/sessions/{session['id']}"
    results, lock = [], threading.Lock()

    def attempt(numbered):
        n, student_id = numbered
        lms_key, admin_key = keys[n % len(keys)]
        code = requests.get(f"{url}/checkin-code", headers={"Authorization": admin_key}, timeout=30).json()["code"]
        # each student's own phone; students of a dormitory share one address
        response = requests.post(f"{url}/sign-ins", headers={"Authorization": lms_key, "X-Acting-User": f"student:{student_id}"}, timeout=30,
                                 json={"student_id": student_id, "code": code, "device_id": f"phone-{student_id}",
                                       "address": ADDRESS.get(student_id)})
        with lock:
            results.append((student_id, response.status_code, response.json()))

    with ThreadPoolExecutor(max_workers=48) as pool:
        list(pool.map(attempt, enumerate(attempts)))

    by_student = {}
    for student_id, status, body in results:
        by_student.setdefault(student_id, []).append((status, body))
    for student_id in STUDENTS:
        statuses = sorted(status for status, _ in by_student[student_id])
        assert statuses == [200, 201], f"{student_id}: {by_student[student_id]}"
        first, second = (body for _, body in by_student[student_id])
        # the second sign-in is answered with the one record (flagged meanwhile, perhaps)
        assert {**first, "flags": None} == {**second, "flags": None}
    for student_id in STRANGERS:
        assert [(s, b["errors"]) for s, b in by_student[student_id]] == [(409, {"sign_in": ["not_admitted"]})]

    records, more = [], True
    while more:  # the list comes in pages
        page = school.admin.get(f"{API}/sessions/{session['id']}/attendance",
                                params={"limit": 200, "offset": len(records)}).json()
        records, more = records + page["items"], page["has_more"]
    assert sorted(r["student_id"] for r in records) == STUDENTS
    flagged = sorted(r["student_id"] for r in records if r["flags"])
    assert flagged == sorted(ADDRESS)  # every student behind a shared address, nobody else
    assert all(r["flags"] == ["shared_address"] for r in records if r["flags"])
    status = school.admin.get(f"{API}/sessions/{session['id']}/checkin-status").json()
    assert len(status["signed_in"]) == 300 and status["not_signed_in"] == []

    received = {}

    def all_published():
        while (message := events.bind(connection.default_channel).get(no_ack=True)) is not None:
            envelope = message.payload
            if envelope["payload"]["session_id"] == session["id"]:
                received[envelope["event_id"]] = envelope["payload"]["student_id"]
        return len(received) >= 300
    eventually(all_published, timeout=60)
    assert sorted(received.values()) == STUDENTS  # one attendance.recorded per student
    events.bind(connection.default_channel).delete()
    connection.release()
