"""The incentives service on the real broker and database server: awards from
other services' events (once each, however often and in whatever order they
come), corrections, manual entries retried, reversals once, the floor, and a
reconciliation that finds no difference."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.amqp.publish import Publisher
from nameko.testing.services import entrypoint_hook

from contracts import topology
from contracts.content import ATTENDANCE_RECORDED, QUESTION_ANSWERED
from contracts.enrollment import PROGRAM_CREATED, STUDENT_ADMITTED, TEAM_FORMED
from contracts.incentives import APPEAL_DECIDED
from contracts.errors import Conflict, Forbidden
from contracts.events import make_event
from services.incentives.repository import IncentivesRepository
from services.incentives.service import IncentivesService
from tests.waiting import eventually

SCHOOL = "jufe"
ADMIN = {"school_id": SCHOOL, "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it",
         "acting": {"kind": None, "id": None}, "key_id": "k1"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
TRACKS = [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}]


def publish(rabbit_config, envelope):
    Publisher(rabbit_config["AMQP_URI"]).publish(
        envelope, exchange=topology.event_exchange(envelope["source"]), routing_key=envelope["type"])


def program_created(program_id="p1"):
    return make_event(PROGRAM_CREATED, {"program_id": program_id, "name": "Cup", "season": "2026",
                                        "starts_on": "2026-03-01", "ends_on": "2026-06-30", "tracks": TRACKS},
                      school_id=SCHOOL, actor="test")


def admitted(student, program_id="p1"):
    return make_event(STUDENT_ADMITTED, {"program_id": program_id, "application_id": f"a-{student}",
                                         "student_id": student, "track": "undergraduate", "reason": "rank 1"},
                      school_id=SCHOOL, actor="test", occurred_at=T0 - timedelta(days=1))


def attendance(student, status, session="s1", at=T0, previous=None):
    return make_event(ATTENDANCE_RECORDED, {"session_id": session, "program_id": "p1", "student_id": student,
                                            "status": status, "previous_status": previous, "source": "roll_call"},
                      school_id=SCHOOL, actor="test", occurred_at=at)


def balance(student, program_id="p1"):
    account = IncentivesRepository().get_account(program_id, student)
    return account and (account["spendable"], account["lifetime"])


def entries(student):
    return IncentivesRepository().student_entries(SCHOOL, student)


@pytest.fixture
def incentives(container_factory, rabbit_config):
    container = container_factory(IncentivesService, rabbit_config)
    container.start()
    publish(rabbit_config, program_created())
    eventually(lambda: IncentivesRepository().get_program(SCHOOL, "p1"))
    return container


def test_a_correction_gives_a_penalty_then_its_reversal_and_the_reward_once_each(incentives, rabbit_config):
    absent = attendance("ann", "absent")
    present = attendance("ann", "present", at=T0 + timedelta(hours=2), previous="absent")
    publish(rabbit_config, admitted("ann"))
    publish(rabbit_config, absent)
    publish(rabbit_config, absent)
    eventually(lambda: len(entries("ann")) == 1)
    for envelope in (present, absent, present):  # (an absent arriving after the present changes nothing)
        publish(rabbit_config, envelope)
    eventually(lambda: balance("ann") == (5, 5) and len(entries("ann")) == 2)
    # nothing to take at 0 (the floor): the penalty is recorded as not applied, so nothing to reverse
    assert [(e["kind"], e["requested"], e["amount"]) for e in entries("ann")] == [("penalty", -3, 0), ("reward", 5, 5)]
    assert IncentivesRepository().reconcile("p1") == []


def test_a_penalty_on_credits_earned_shows_minus_three_then_plus_three_and_plus_five(incentives, rabbit_config):
    publish(rabbit_config, attendance("bob", "present", session="s0", at=T0 - timedelta(days=1)))
    eventually(lambda: balance("bob") == (5, 5))
    publish(rabbit_config, attendance("bob", "absent"))
    eventually(lambda: balance("bob") == (2, 2))
    publish(rabbit_config, attendance("bob", "present", at=T0 + timedelta(hours=1), previous="absent"))
    eventually(lambda: balance("bob") == (10, 10))
    assert [e["amount"] for e in entries("bob")] == [5, -3, 3, 5]
    assert IncentivesRepository().reconcile("p1") == []


def test_team_formed_and_an_answered_question_reach_every_recipient(incentives, rabbit_config):
    publish(rabbit_config, make_event(TEAM_FORMED, {"team_id": "t1", "program_id": "p1", "track": "undergraduate",
                                                    "name": "Alpha", "members": ["ann", "cat"]},
                                      school_id=SCHOOL, actor="test"))
    eventually(lambda: (IncentivesRepository().get_account("p1", "cat") or {}).get("team_id") == "t1")
    publish(rabbit_config, make_event(QUESTION_ANSWERED, {
        "question_id": "q1", "session_id": "s1", "program_id": "p1", "student_id": "cat", "due_at": T0.isoformat(),
        "author_id": "m1", "role": "mentor", "answered_at": T0.isoformat(), "within_sla": True},
        school_id=SCHOOL, actor="test"))
    eventually(lambda: balance("cat") == (2, 2))


def test_a_manual_adjustment_retried_with_its_key_is_stored_once_and_the_floor_holds(incentives):
    with entrypoint_hook(incentives, "adjust") as adjust:
        caller = {**ADMIN, "operation_id": "op-1"}
        first = adjust(caller, {"program_id": "p1", "student_id": "dan", "amount": 4, "reason": "helped"})
        again = adjust(caller, {"program_id": "p1", "student_id": "dan", "amount": 4, "reason": "helped"})
        assert first["id"] == again["id"] and balance("dan") == (4, 4)
        penalty = adjust({**ADMIN, "operation_id": "op-2"},
                         {"program_id": "p1", "student_id": "dan", "amount": -10, "reason": "plagiarism"})
    assert penalty["amount"] == -4 and penalty["not_applied"] == -6 and balance("dan") == (0, 0)
    assert len(entries("dan")) == 2


def test_a_reversal_happens_once_and_only_staff_reverse(incentives):
    with entrypoint_hook(incentives, "adjust") as adjust:
        entry = adjust({**ADMIN, "operation_id": "op-3"},
                       {"program_id": "p1", "student_id": "eve", "amount": 6, "reason": "demo day"})
    with entrypoint_hook(incentives, "reverse") as reverse:
        lms_student = {**ADMIN, "role": "lms", "acting": {"kind": "student", "id": "eve"}}
        with pytest.raises(Forbidden):
            reverse(lms_student, entry["id"], {"reason": "mine"})
        reversal = reverse(ADMIN, entry["id"], {"reason": "wrong student"})
        assert reversal["reverses"] == entry["id"] and reversal["amount"] == -6
        with pytest.raises(Conflict):
            reverse(ADMIN, entry["id"], {"reason": "again"})
    assert balance("eve") == (0, 0)
    assert IncentivesRepository().reconcile("p1") == []


def test_an_open_appeal_is_replaced_once_and_the_stored_record_hides_the_outbox_bookkeeping(incentives):
    appeals = IncentivesRepository().appeals
    appeal = {"id": "entry-9", "school_id": SCHOOL, "program_id": "p1", "student_id": "fay", "status": "open",
              "created_at": T0, "flags": ["late"]}
    assert appeals.insert(appeal) and not appeals.insert(appeal)
    decided = make_event(APPEAL_DECIDED, {"appeal_id": "entry-9", "entry_id": "entry-9", "program_id": "p1",
                                          "student_id": "fay", "decision": "rejected", "reason": "no"},
                         school_id=SCHOOL, actor="test")
    assert appeals.replace({**appeal, "status": "rejected"}, {"status": "open"}, [decided])
    assert not appeals.replace({**appeal, "status": "accepted"}, {"status": "open"}, [decided])
    stored = appeals.get("entry-9", school_id=SCHOOL)
    assert stored["status"] == "rejected" and stored["created_at"] == T0 and stored["flags"] == ["late"]
    assert not {"pending_events", "outbox_pending", "flagged", "_id"} & set(stored)
    assert appeals.find({"flagged": 1}) == [stored]  # a record with flags is found by its indexed scalar


def test_the_programme_keeps_its_sessions_and_partners_from_content_and_enrollment(incentives, rabbit_config):
    from contracts.content import SESSION_CANCELLED, SESSION_SCHEDULED
    for session in ("s1", "s2"):
        publish(rabbit_config, make_event(SESSION_SCHEDULED, {
            "session_id": session, "program_id": "p1", "title": "T", "module": "m", "form": "workshop",
            "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=1)).isoformat(), "instructor_id": "t1",
            "tracks": [], "partner_id": "acme"}, school_id=SCHOOL, actor="test"))
    eventually(lambda: sorted(IncentivesRepository().get_program(SCHOOL, "p1")["sessions"]) == ["s1", "s2"])
    publish(rabbit_config, make_event(SESSION_CANCELLED, {"session_id": "s1", "program_id": "p1", "reason": "rain"},
                                      school_id=SCHOOL, actor="test"))
    eventually(lambda: IncentivesRepository().get_program(SCHOOL, "p1")["sessions"] == ["s2"])
    assert IncentivesRepository().get_program(SCHOOL, "p1")["partners"] == ["acme"]


def test_a_daily_cap_holds_under_concurrent_events_for_one_student(incentives, rabbit_config):
    IncentivesRepository().add_ruleset({
        "program_id": "p1", "version": 1, "effective_from": T0 - timedelta(days=1), "created_by": "test",
        "rules": [{"key": "present", "event": "content:attendance.recorded.v1", "when": {"status": "present"},
                   "amount": 5, "min_score": None, "max_per_day": 20, "max_total": None, "guard": None}],
        "max_per_day": None, "max_total": None, "floor": 0})
    events = [attendance("fay", "present", session=f"c{n}", at=T0 + timedelta(minutes=n)) for n in range(12)]
    publisher = Publisher(rabbit_config["AMQP_URI"])
    for envelope in events + events:
        publisher.publish(envelope, exchange=topology.event_exchange("content"), routing_key=envelope["type"])
    eventually(lambda: len((IncentivesRepository().get_account("p1", "fay") or {"subjects": {}})["subjects"]) == 12,
               timeout=60)
    assert balance("fay") == (20, 20)
    assert sum(e["amount"] for e in entries("fay")) == 20 and len(entries("fay")) == 12
    assert IncentivesRepository().reconcile("p1") == []


def test_the_sweep_gives_back_a_unit_held_by_a_redemption_that_died_before_charging(incentives):
    from services.incentives import exchange
    with entrypoint_hook(incentives, "add_item") as add_item:
        item = add_item({**ADMIN, "operation_id": "item-1"}, "p1",
                        {"name": "Visit", "price": 5, "stock": 3, "per_student_limit": 1})
    repo = IncentivesRepository()
    stale = f"dead@{int(exchange.time.time()) - exchange.HOLD_TIMEOUT_S - 5}"
    fresh = f"running@{int(exchange.time.time())}"
    assert repo.hold(item["id"], stale) and repo.hold(item["id"], fresh)
    assert not repo.hold(item["id"], stale), "a hold is taken once"
    with entrypoint_hook(incentives, "sweep") as sweep:
        sweep()
    stored = repo.items.get(item["id"])
    assert stored["holds"] == [fresh] and stored["stock"] == 2 and stored["sold"] == 0


def test_reconcile_prints_every_difference_and_rebuild_makes_the_balances_the_entries_sums(incentives, capsys):
    from gateway import cli
    from mongoengine.connection import get_db
    with entrypoint_hook(incentives, "adjust") as adjust:
        for op, student, amount in (("op-r1", "gus", 7), ("op-r2", "hal", 2)):
            adjust({**ADMIN, "operation_id": op}, {"program_id": "p1", "student_id": student, "amount": amount,
                                                   "reason": "helped"})
    with pytest.raises(SystemExit) as done:
        cli.main(["incentives", "reconcile", "--program", "p1"])
    assert done.value.code == 0 and "0 difference(s)" in capsys.readouterr().err
    get_db("incentives").accounts.update_one({"_id": "p1:gus"}, {"$inc": {"spendable": 100}})  # a broken projection
    with pytest.raises(SystemExit) as done:
        cli.main(["incentives", "reconcile", "--program", "p1"])
    out = capsys.readouterr()
    assert done.value.code == 1 and "1 difference(s)" in out.err
    assert '"spendable": 107' in out.out and '"spendable_by_entries": 7' in out.out and "hal" not in out.out
    with pytest.raises(SystemExit) as done:
        cli.main(["incentives", "reconcile", "--program", "p1", "--rebuild"])
    assert done.value.code == 0 and "after rebuilding: 0 difference(s)" in capsys.readouterr().err
    assert balance("gus") == (7, 7)


def test_assessment_and_supervision_events_give_and_take_credits_once(incentives, rabbit_config):
    from contracts.assessment import SUBMISSION_GRADED
    from contracts.supervision import STUDENT_IDLE
    graded = make_event(SUBMISSION_GRADED, {
        "program_id": "p1", "assessment_id": "hw1", "assessment_kind": "homework", "module": "ops",
        "student_id": "ivy", "deadline": T0.isoformat(), "submission_id": "sub1", "attempt": 1,
        "submitted_at": T0.isoformat(), "late": False, "days_late": 0, "on_time": True, "score": 8,
        "raw_score": 8, "max_score": 10, "percent": 80, "late_penalty": 0, "graded_at": T0.isoformat(),
        "graded_by": "t1", "counted_percent": 80}, school_id=SCHOOL, actor="test", occurred_at=T0)
    idle = make_event(STUDENT_IDLE, {"program_id": "p1", "student_id": "ivy", "idle_since": T0.isoformat(),
                                     "spell_id": "ivy-spell-1"}, school_id=SCHOOL, actor="test",
                      occurred_at=T0 + timedelta(days=3))
    publish(rabbit_config, graded)
    publish(rabbit_config, graded)
    eventually(lambda: balance("ivy") == (10, 10))  # (the floor would keep an earlier penalty back)
    for envelope in (idle, graded, idle):
        publish(rabbit_config, envelope)
    eventually(lambda: balance("ivy") == (5, 5) and len(entries("ivy")) == 2)
    assert [(e["rule"], e["amount"]) for e in entries("ivy")] == [("homework_on_time", 10), ("idle", -5)]


def _entry(entry_id, amount):
    return {"id": entry_id, "school_id": SCHOOL, "program_id": "p1", "student_id": "zoe", "kind": "award",
            "amount": amount, "requested": amount, "not_applied": 0, "reason": "test", "at": T0}


def test_a_flush_copies_the_written_entries_once_and_leaves_the_relays_work_alone(incentives):
    from services.common.events import _pull_published
    from services.incentives import domain
    from services.incentives.models import AccountDoc, EntryDoc
    repo, accounts = IncentivesRepository(), AccountDoc._get_collection()
    event = make_event(QUESTION_ANSWERED, {
        "question_id": "q1", "session_id": "s1", "program_id": "p1", "student_id": "zoe", "due_at": T0.isoformat(),
        "author_id": "m1", "role": "mentor", "answered_at": T0.isoformat(), "within_sla": True},
        school_id=SCHOOL, actor="test")
    written = repo.write_account(domain.new_account(SCHOOL, "p1", "zoe"), [_entry("e1", 5)], [event])
    _pull_published(accounts, [accounts.find_one({"_id": "p1:zoe"})])  # the relay published the event meanwhile

    assert repo.flush("p1:zoe", written=written) == 1
    stored = accounts.find_one({"_id": "p1:zoe"})
    assert stored["pending_entries"] == [] and not stored.get("entries_pending")
    assert not stored.get("pending_events") and not stored.get("outbox_pending"), "the published event came back"
    assert [e["_id"] for e in EntryDoc._get_collection().find({"student_id": "zoe"})] == ["e1"]


def test_a_flush_after_someone_else_wrote_the_account_reads_it_again_and_copies_every_entry_once(incentives):
    from services.incentives import domain
    from services.incentives.models import AccountDoc, EntryDoc
    repo = IncentivesRepository()
    written = repo.write_account(domain.new_account(SCHOOL, "p1", "zoe"), [_entry("e1", 5)])
    repo.write_account(repo.get_account("p1", "zoe"), [_entry("e2", 3)])  # before the first flush ran

    assert repo.flush("p1:zoe", written=written) == 2
    assert sorted(e["_id"] for e in EntryDoc._get_collection().find({"student_id": "zoe"})) == ["e1", "e2"]
    assert AccountDoc._get_collection().find_one({"_id": "p1:zoe"})["pending_entries"] == []
    assert repo.flush("p1:zoe") == 0
