"""Learning records as xAPI statements, validated with ralph's models and delivered
to ralph's real LRS (started from its own virtual environment): delivery waits for
an LRS that is down, and a redelivered event never makes a second statement."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher

from contracts import topology
from contracts.content import ATTENDANCE_RECORDED, SESSION_SCHEDULED
from contracts.enrollment import PROGRAM_CREATED, STUDENT_ADMITTED
from contracts.events import make_event
from services.supervision import xapi
from services.supervision.service import SupervisionService
from tests import lrs as ralph
from tests.waiting import eventually

SCHOOL = "jufe"


def publish(uri, envelope):
    Publisher(uri).publish(envelope, exchange=topology.event_exchange(envelope["source"]),
                           routing_key=envelope["type"])


def test_statements_reach_the_lrs_once_each_after_it_comes_up(container_factory, rabbit_config, tmp_path,
                                                               monkeypatch):
    if not ralph.available():
        pytest.skip("ralph's LRS is not installed (make install makes .venv-lrs)")
    lrs = ralph.Lrs(tmp_path / "lrs")
    monkeypatch.setenv("PRAXIS_LRS_URL", lrs.url)  # nothing listens there yet
    monkeypatch.setenv("PRAXIS_LRS_AUTH", lrs.auth)
    uri, program_id = rabbit_config["AMQP_URI"], uuid.uuid4().hex
    supervision = container_factory(SupervisionService, rabbit_config)
    supervision.start()
    start = datetime.now(timezone.utc)
    publish(uri, make_event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup", "season": "2026", "starts_on": "2026-03-01",
        "ends_on": "2026-06-30", "tracks": [{"key": "ug", "name": "UG", "platform": "X-Mall", "capacity": 9}]},
        school_id=SCHOOL, actor="test"))
    publish(uri, make_event(SESSION_SCHEDULED, {
        "session_id": "sess-1", "program_id": program_id, "title": "Opening a store", "module": "store",
        "form": "offline_lecture", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "instructor_id": "teacher-li", "tracks": []}, school_id=SCHOOL, actor="test"))
    for student in ("s1", "s2"):
        publish(uri, make_event(STUDENT_ADMITTED, {"program_id": program_id, "application_id": f"a-{student}",
                                                   "student_id": student, "track": "ug", "reason": "rank 1"},
                                school_id=SCHOOL, actor="test"))
    eventually(lambda: "sess-1" in (get_db("supervision").programs.find_one({"_id": program_id}) or {})
               .get("sessions", {}), timeout=30)
    attendance = [make_event(ATTENDANCE_RECORDED, {"program_id": program_id, "session_id": "sess-1",
                                                   "student_id": student, "status": status, "source": "checkin"},
                             school_id=SCHOOL, actor="test")
                  for student, status in (("s1", "present"), ("s2", "watched_replay"))]
    for event in attendance + attendance[:1]:  # the first one delivered twice
        publish(uri, event)

    eventually(lambda: get_db("supervision").statements.count_documents({"pending": 1}) == 2, timeout=30)
    lrs.start()
    try:
        got = eventually(lambda: (lambda s: s if len(s) == 2 else None)(lrs.statements()), timeout=40)
        publish(uri, attendance[0])  # once more after delivery: still one statement
        eventually(lambda: get_db("supervision").statements.count_documents({"pending": 1}) == 0, timeout=20)
        assert len(lrs.statements()) == 2
    finally:
        supervision.stop()
        lrs.stop()
    by_id = {s["id"]: s for s in got}
    first = by_id[xapi.statement_id(attendance[0]["event_id"])]
    assert first["actor"]["account"] == {"homePage": f"https://lms.example/{SCHOOL}", "name": "s1"}
    assert first["verb"]["id"] == "http://adlnet.gov/expapi/verbs/attended"
    assert first["object"]["definition"]["name"] == {"en-US": "Opening a store"}
    replay = by_id[xapi.statement_id(attendance[1]["event_id"])]
    assert replay["verb"]["id"] == "http://adlnet.gov/expapi/verbs/experienced"
