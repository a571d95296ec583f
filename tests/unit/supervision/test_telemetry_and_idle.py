"""Telemetry projections (dedupe, unmapped accounts), the idle check with a
controlled clock (one alert, one penalty, one reclaim per spell, also with two
processes), and the attendance alerts."""
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory

from contracts.errors import Forbidden
from contracts.supervision import ACCOUNT_RECLAIM_REQUESTED, ALERT_RAISED, ALERT_RESOLVED, STUDENT_IDLE
from services.supervision import domain
from services.supervision.service import SupervisionService
from tests.unit.supervision.fakes import FakeSupervisionRepository
from tests.unit.supervision.helpers import (ADMIN, START, account_pages, admitted, attended, program_created,
                                            session, team, telemetry)

DAY = timedelta(days=1)


@pytest.fixture
def store():
    return FakeSupervisionRepository()


def make_service(store):
    return worker_factory(SupervisionService, store=store)


@pytest.fixture
def service(store):
    svc = make_service(store)
    svc.on_program_created(program_created())
    svc.set_rules(ADMIN, "p1", {"idle_days": 5, "grace_days": 3})
    for ev in team("t1", ["ann", "bob"]):
        getattr(svc, {"team.formed.v1": "on_team_formed", "mentor.assigned.v1": "on_mentor_assigned",
                      "tutor.assigned.v1": "on_tutor_assigned"}[ev.type])(ev)
    for student in ("ann", "bob"):
        svc.on_student_admitted(admitted(student))
    svc.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-ann", "student_id": "ann"},
                                                {"account_id": "acc-bob", "student_id": "bob"}]})
    return svc


def at(days):
    return (START + timedelta(days=days)).timestamp()


def test_the_same_records_posted_again_change_nothing(service):
    batch = [("r1", "acc-ann", "login", START + DAY), ("r2", "acc-ann", "order_handled", START + DAY)]
    service.on_telemetry_ingested(telemetry(batch, batch_id="b1"))
    service.on_telemetry_ingested(telemetry(batch, batch_id="b1"))  # redelivered
    service.on_telemetry_ingested(telemetry(batch + [("r3", "acc-ann", "login", START + 2 * DAY)], batch_id="b2"))
    activity = service.student_activity(ADMIN, "p1", "ann")
    assert activity["platform_counts"]["login"] == 2 and activity["platform_counts"]["order_handled"] == 1
    assert activity["platform"]["login"].startswith("2026-03-03")
    assert {d["day"]: d["counts"] for d in activity["days"]}["2026-03-02"] == {
        "platform_login": 1, "platform_order_handled": 1}


def test_records_of_an_unmapped_account_are_kept_counted_and_count_once_mapped(service):
    service.on_telemetry_ingested(telemetry([("r1", "acc-new", "product_listed", START + DAY),
                                             ("r2", "acc-new", "product_listed", START + DAY)]))
    unmapped = service.list_accounts(ADMIN, "p1", {"unmapped": True})["items"]
    assert [(a["account_id"], a["counts"]) for a in unmapped] == [("acc-new", {"product_listed": 2})]
    result = service.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-new", "student_id": "bob"}]})
    assert result == {"mapped": 1, "unmapped": 0}
    assert service.student_activity(ADMIN, "p1", "bob")["platform_counts"]["product_listed"] == 2


def test_the_accounts_list_pages_stored_and_not_yet_folded_accounts_in_order_each_once(service):
    service.on_telemetry_ingested(telemetry([("r1", "acc-ann", "login", START + DAY),
                                             ("r2", "acc-cat", "login", START + DAY),
                                             ("r3", "acc-aaa", "product_listed", START + DAY)], batch_id="b1"))
    expected = [("acc-aaa", None, {"product_listed": 1}), ("acc-ann", "ann", {"login": 1}),
                ("acc-bob", "bob", {}), ("acc-cat", None, {"login": 1})]
    assert account_pages(service) == expected
    assert account_pages(service, unmapped=True) == [expected[0], expected[3]]
    service.compact("p1")  # folded: the same list, each record counted once
    assert account_pages(service) == expected and account_pages(service, unmapped=True) == [expected[0], expected[3]]
    assert service.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-cat", "student_id": "bob"}]}) == {
        "mapped": 1, "unmapped": 1}


def test_a_student_reads_only_their_own_activity(service):
    lms_ann = {**ADMIN, "role": "lms", "acting": {"kind": "student", "id": "ann"}}
    assert service.student_activity(lms_ann, "p1", "ann")["student_id"] == "ann"
    with pytest.raises(Forbidden):
        service.student_activity(lms_ann, "p1", "bob")


def test_one_idle_spell_gives_one_alert_one_penalty_and_one_reclaim_even_with_two_processes(service, store):
    service.on_telemetry_ingested(telemetry([("r1", "acc-ann", "login", START + DAY)]))
    service.on_telemetry_ingested(telemetry([("r2", "acc-bob", "login", START + 5 * DAY)], batch_id="b2"))
    other_process = make_service(store)
    assert service.check_program("p1", at(5)) == {"idle": 0, "reclaimed": 0}  # 4 days of silence
    assert service.check_program("p1", at(6.5))["idle"] == 1                   # ann: 5.5 days
    assert other_process.check_program("p1", at(6.5))["idle"] == 0
    service.check_program("p1", at(7))
    assert len(store.events(STUDENT_IDLE)) == 1
    idle = store.events(STUDENT_IDLE)[0]["payload"]
    assert (idle["student_id"], idle["team_id"], idle["idle_since"][:10]) == ("ann", "t1", "2026-03-02")
    alerts = service.list_alerts(ADMIN, "p1", {"status": "open"})["items"]
    assert [(a["kind"], a["mentor_id"], a["tutor_id"]) for a in alerts] == [("student_idle", "m1", "t1")]
    assert store.events(ACCOUNT_RECLAIM_REQUESTED) == []
    for process in (service, other_process, service):                          # past the grace period
        process.check_program("p1", at(9.5))
    reclaims = store.events(ACCOUNT_RECLAIM_REQUESTED)
    assert len(reclaims) == 1 and reclaims[0]["payload"]["account_id"] == "acc-ann"
    assert len(store.events(ALERT_RAISED)) == 2  # idle, reclaim (bob went idle too only later)
    assert [(i["student_id"], i["reclaim_requested"]) for i in service.idle_accounts(ADMIN, "p1")["items"]] == [("ann", True)]


def test_activity_ends_the_spell_resolves_its_alerts_and_a_later_silence_is_a_new_spell(service, store):
    service.check_program("p1", at(6))                    # never active since admission: both idle
    assert len(store.events(STUDENT_IDLE)) == 2
    service.on_telemetry_ingested(telemetry([("r1", "acc-ann", "login", START + 6.5 * DAY)]))
    resolved = [e["payload"] for e in store.events(ALERT_RESOLVED)]
    assert [r["student_id"] for r in resolved] == ["ann"]
    assert service.student_activity(ADMIN, "p1", "ann")["idle_since"] is None
    assert [i["student_id"] for i in service.idle_accounts(ADMIN, "p1")["items"]] == ["bob"]
    service.check_program("p1", at(12))                   # ann silent again for 5.5 days
    spells = {e["payload"]["spell_id"] for e in store.events(STUDENT_IDLE) if e["payload"]["student_id"] == "ann"}
    assert len(spells) == 2


def test_excused_students_and_programmes_not_running_are_left_alone(service, store):
    service.set_rules(ADMIN, "p1", {"idle_days": 5, "excused": ["ann", "bob"]})
    service.check_program("p1", at(20))
    service.set_rules(ADMIN, "p1", {"idle_days": 5})
    service.check_program("p1", at(200))                  # after ends_on
    assert store.events(STUDENT_IDLE) == []


def test_idle_detection_rule_with_a_controlled_clock():
    program = domain.new_program("jufe", {"program_id": "p", "name": "n", "season": "s", "tracks": [],
                                          "starts_on": START.date(), "ends_on": (START + 100 * DAY).date()}, START)
    student = {**domain.new_student("p", "jufe", "ann"), "status": "admitted", "admitted_ts": at(2)}
    assert domain.idle_verdict(program, student, at(8.9)) is None          # 6.9 days since admission
    verdict = domain.idle_verdict(program, student, at(9))
    assert verdict["since"] == at(2) and not verdict["reclaim"]
    assert domain.idle_verdict(program, student, at(12))["reclaim"]        # 7 + 3 days of grace
    assert domain.idle_verdict(program, {**student, "status": "withdrawn"}, at(12)) is None


def test_an_early_alert_when_the_minimum_can_no_longer_be_reached(service, store):
    service.set_rules(ADMIN, "p1", {"min_attendance_share": 0.5})
    for n in range(4):  # four weekly sessions from day 1
        service.on_session_scheduled(session(f"s{n}", START + DAY + timedelta(days=7 * n)))
    service.on_attendance_recorded(attended("bob", "s0"))
    service.check_program("p1", at(2))   # s0 over: ann 0 of 1 so far, can still reach 3 of 4
    kinds = {(a["student_id"], a["kind"]) for a in service.list_alerts(ADMIN, "p1", {})["items"]}
    assert kinds == {("ann", "attendance_below_minimum")}
    service.check_program("p1", at(9))   # s1 over: ann at best 2 of 4 = 50%, still reachable
    service.check_program("p1", at(16))  # s2 over: at best 1 of 4 -> unreachable now
    kinds = {(a["student_id"], a["kind"]) for a in service.list_alerts(ADMIN, "p1", {})["items"]}
    assert ("ann", "attendance_minimum_unreachable") in kinds
    assert ("bob", "attendance_minimum_unreachable") not in kinds
    service.check_program("p1", at(30))  # raised once per cause
    assert len([e for e in store.events(ALERT_RAISED) if e["payload"]["student_id"] == "ann"
                and e["payload"]["kind"].startswith("attendance")]) == 2


def test_alerts_are_acknowledged_with_a_note_then_resolved(service):
    service.check_program("p1", at(6))
    alert = service.list_alerts(ADMIN, "p1", {"mentor_id": "m1"})["items"][0]
    acked = service.update_alert(ADMIN, alert["id"], {"status": "acknowledged", "note": "called the student"})
    assert (acked["status"], acked["note"]) == ("acknowledged", "called the student")
    assert service.update_alert(ADMIN, alert["id"], {"status": "resolved"})["status"] == "resolved"
    assert len(service.list_alerts(ADMIN, "p1", {"status": "resolved"})["items"]) == 1


def test_overdue_questions_alert_the_mentor_and_answers_give_the_median_time(service):
    from contracts.content import QUESTION_ANSWERED, QUESTION_OVERDUE
    from tests.unit.supervision.helpers import event
    asked = START + DAY
    question = {"question_id": "q1", "session_id": "s1", "program_id": "p1", "student_id": "ann", "team_id": "t1",
                "mentor_id": "m1", "due_at": (asked + DAY).isoformat()}
    service.on_question_overdue(event(QUESTION_OVERDUE, question))
    alert = service.list_alerts(ADMIN, "p1", {"mentor_id": "m1"})["items"][0]
    assert (alert["kind"], alert["status"], alert["subject_id"]) == ("question_overdue", "open", "q1")
    for qid, hours in (("q1", 30), ("q2", 2), ("q3", 6)):
        service.on_question_answered(event(QUESTION_ANSWERED, {
            **question, "question_id": qid, "author_id": "m1", "role": "mentor",
            "answered_at": (asked + timedelta(hours=hours)).isoformat(), "within_sla": hours <= 24}))
    assert service.list_alerts(ADMIN, "p1", {"mentor_id": "m1"})["items"][0]["status"] == "resolved"
    mentors = service.report(ADMIN, "p1")["mentors"]
    assert mentors == [{"mentor_id": "m1", "answered": 3, "median_answer_hours": 6.0, "overdue": 1}]


def test_stored_records_show_in_every_read_before_the_compaction_and_count_once_after(service, store):
    batch = [("r1", "acc-ann", "login", START + DAY), ("r2", "acc-ann", "order_handled", START + DAY),
             ("r3", "acc-new", "other", START + DAY)]
    service.on_telemetry_ingested(telemetry(batch, batch_id="b1"))
    assert store.unfolded_ids("p1") == ["b1"]  # stored, not folded into the summaries yet

    def reads():
        ann = service.student_activity(ADMIN, "p1", "ann")
        row = {r["student_id"]: r for r in service.report(ADMIN, "p1")["students"]}["ann"]
        accounts = {a["account_id"]: a["counts"] for a in service.list_accounts(ADMIN, "p1", {})["items"]}
        return (ann["platform_counts"]["login"], ann["platform_counts"]["order_handled"], ann["platform"]["login"],
                row["platform_activity"], accounts)
    before = reads()
    assert before == (1, 1, (START + DAY).isoformat(), 2,
                      {"acc-ann": {"login": 1, "order_handled": 1}, "acc-bob": {}, "acc-new": {"other": 1}})
    service.compact("p1")
    assert store.unfolded_ids("p1") == []
    assert reads() == before
    store.add_unfolded("b1", "p1", "jufe", 0)
    service.compact("p1")  # a compaction cut short before it forgot the batch: folded again, counted once
    assert reads() == before


def test_a_spell_the_programme_does_not_list_still_ends_at_the_idle_check(service, store):
    service.check_program("p1", at(6))                    # both idle
    program = store.programs.docs["p1"]
    program["in_spell"] = [pair for pair in program["in_spell"] if pair[1] != "ann"]  # a write that died
    service.on_telemetry_ingested(telemetry([("r1", "acc-ann", "login", START + 6.5 * DAY)]))
    assert [i["student_id"] for i in service.idle_accounts(ADMIN, "p1")["items"]] == ["ann", "bob"]
    service.check_program("p1", at(6.6))                  # folds the batch first: ann's spell ends
    assert [i["student_id"] for i in service.idle_accounts(ADMIN, "p1")["items"]] == ["bob"]
    assert [e["payload"]["student_id"] for e in store.events(ALERT_RESOLVED)] == ["ann"]
