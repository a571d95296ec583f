"""No credit is lost or counted twice: the same events delivered many times, out
of order and concurrently, with the incentives service killed with SIGKILL in
the middle and started again; then every balance is what the rules give and
reconciliation finds no difference."""
import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from nameko.amqp.publish import Publisher

from contracts import topology
from contracts.content import ATTENDANCE_RECORDED, FEEDBACK_SUBMITTED, QUESTION_ANSWERED
from contracts.events import make_event
from deploy import local
from services.common.storage import connect
from services.incentives import domain
from services.incentives.repository import IncentivesRepository
from tests.waiting import eventually

SCHOOL = "jufe"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
AMOUNT = {"present": 5, "late": 2, "absent": -3, "watched_replay": 3}
STUDENTS = [f"st{n:02d}" for n in range(12)]
SESSIONS = [f"se{n}" for n in range(6)]


def history(rng):
    """Every attendance event, each student's statuses per session in time order
    (corrections included), and what the default rules give each student."""
    events, expected = [], {s: 0 for s in STUDENTS}
    for student in STUDENTS:
        for n, session in enumerate(SESSIONS):
            statuses = [rng.choice(list(AMOUNT)) for _ in range(rng.randint(1, 3))]
            for k, status in enumerate(statuses):
                events.append(make_event(ATTENDANCE_RECORDED, {
                    "session_id": session, "program_id": "p-crash", "student_id": student, "status": status,
                    "previous_status": statuses[k - 1] if k else None, "source": "roll_call"},
                    school_id=SCHOOL, actor="test", occurred_at=T0 + timedelta(days=n, minutes=10 * k)))
            expected[student] += AMOUNT[statuses[-1]]
        events.append(make_event(FEEDBACK_SUBMITTED, {
            "session_id": SESSIONS[0], "program_id": "p-crash", "instructor_id": "t1", "student_id": student,
            "clarity": 4, "practical_value": 5, "pace": 3}, school_id=SCHOOL, actor="test"))
        expected[student] += 1
        if rng.random() < 0.5:
            events.append(make_event(QUESTION_ANSWERED, {
                "question_id": f"q-{student}", "session_id": SESSIONS[1], "program_id": "p-crash", "student_id": student,
                "due_at": T0.isoformat(), "author_id": "m1", "role": "mentor", "answered_at": T0.isoformat(),
                "within_sla": True}, school_id=SCHOOL, actor="test"))
            expected[student] += 2
    return events, expected


@pytest.fixture
def incentives_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(local.ROOT), "PRAXIS_JSON_LOGS": "1"}
    started = []

    def start():
        process = local.start_service("incentives", env, tmp_path)
        started.append(process)
        return process

    yield start
    local.stop(started)


def test_no_credit_is_lost_or_counted_twice_across_a_sigkill(incentives_process, integration_amqp_uri, tmp_path):
    rng = random.Random(9)
    events, expected = history(rng)
    connect("incentives")
    repo = IncentivesRepository()
    # a floor far below: the final balances do not depend on the order the events come in
    repo.add_ruleset({**domain.default_ruleset("p-crash"),
                      "version": 1, "effective_from": T0 - timedelta(days=30), "floor": -1000})
    deliveries = [e for e in events for _ in range(3)]
    rng.shuffle(deliveries)
    half = len(deliveries) // 2

    def publish_all(batch):
        publisher = Publisher(integration_amqp_uri)
        for envelope in batch:
            publisher.publish(envelope, exchange=topology.event_exchange(envelope["source"]),
                              routing_key=envelope["type"])

    def publish_concurrently(batch):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(publish_all, [batch[i::4] for i in range(4)]))

    process = incentives_process()
    publish_concurrently(deliveries[:half])
    # kill it in the middle of applying them: some entries are written, not all
    eventually(lambda: len(repo.program_accounts("p-crash")) >= 3, timeout=60)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    publish_concurrently(deliveries[half:])
    incentives_process()

    def settled():
        balances = {a["student_id"]: a["spendable"] for a in repo.program_accounts("p-crash")}
        return balances == expected and balances
    eventually(settled, timeout=180, interval=0.5)
    assert repo.reconcile("p-crash") == []
    assert connect("incentives").dead_letters.count_documents({}) == 0
    for student in STUDENTS:
        account = repo.get_account("p-crash", student)
        assert account["lifetime"] == expected[student]
