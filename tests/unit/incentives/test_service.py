"""The incentives service's entrypoints with an in-memory repository (no broker,
no database): who may do what, notices for penalties, appeals, the exchange,
enterprise rewards, rule versions and recompute, leaderboards and badges."""
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from nameko.testing.services import worker_factory

from contracts.content import ATTENDANCE_RECORDED, SESSION_CANCELLED, SESSION_SCHEDULED
from contracts.enrollment import MENTOR_ASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED, TEAM_FORMED
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event, parse_event
from services.incentives.service import IncentivesService
from tests.unit.incentives.fakes import FakeIncentivesRepository

NOBODY = {"kind": None, "id": None}
ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "c1",
         "acting": NOBODY, "key_id": "k1"}
PARTNER = {**ADMIN, "role": "partner", "partner_id": "acme", "actor": "partner:k3", "key_id": "k3"}
OTHER_SCHOOL = {**ADMIN, "school_id": "elsewhere"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def student(student_id):
    return {**ADMIN, "role": "lms", "actor": f"lms:k2/student:{student_id}", "key_id": "k2",
            "acting": {"kind": "student", "id": student_id}}


def event(event_type, payload, at=None):
    return parse_event(make_event(event_type, payload, school_id="jufe", actor="test", occurred_at=at))


@pytest.fixture
def service():
    svc = worker_factory(IncentivesService, store=FakeIncentivesRepository())
    svc.on_program_created(event(PROGRAM_CREATED, {
        "program_id": "p1", "name": "Cup", "season": "2026", "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "tracks": [{"key": "ug", "name": "UG", "platform": "X-Mall", "capacity": 40}]}))
    for name in ("ann", "bob", "cat", "dan"):
        svc.on_student_admitted(event(STUDENT_ADMITTED, {
            "program_id": "p1", "application_id": f"a-{name}", "student_id": name, "track": "ug",
            "reason": "rank 1"}, T0 - timedelta(days=1)))
    return svc


def give(service, name, amount, op=None, caller=ADMIN):
    return service.adjust({**caller, "operation_id": op or f"op-{name}-{amount}"},
                          {"program_id": "p1", "student_id": name, "amount": amount, "reason": "by hand"})


def balance(service, name):
    return service.get_ledger(ADMIN, name, {"program_id": "p1"})["balances"][0]["spendable"]


def test_only_staff_adjust_and_a_penalty_publishes_a_notice_with_the_reason(service):
    for caller in (student("ann"), PARTNER):
        with pytest.raises(Forbidden):
            give(service, "ann", 5, caller=caller)
    give(service, "ann", 5)
    staff_by_lms = {**student("x"), "acting": {"kind": "staff", "id": "t1"}}
    penalty = service.adjust({**staff_by_lms, "operation_id": "op-p"},
                             {"program_id": "p1", "student_id": "ann", "amount": -2, "reason": "copied homework"})
    assert penalty["caused_by"] == "staff:t1"
    notice = [e for e in service.store.published("credits.deducted.v1")]
    assert notice[-1]["payload"]["reason"] == "copied homework" and notice[-1]["payload"]["spendable"] == 3


def test_a_student_reads_only_their_own_ledger_and_another_school_sees_none(service):
    give(service, "ann", 5)
    assert service.get_ledger(student("ann"), "ann")["balances"][0]["spendable"] == 5
    with pytest.raises(Forbidden):
        service.get_ledger(student("bob"), "ann")
    with pytest.raises(NotFound):
        service.get_ledger(OTHER_SCHOOL, "ann")


def test_an_appeal_is_made_once_and_an_accepted_one_reverses_the_entry(service):
    give(service, "ann", 10)
    penalty = give(service, "ann", -4, op="pen")
    with pytest.raises(NotFound):  # not bob's entry
        service.appeal(student("bob"), penalty["id"], {"reason": "no"})
    with pytest.raises(Forbidden):
        service.appeal(ADMIN, penalty["id"], {"reason": "staff do not appeal"})
    appeal = service.appeal(student("ann"), penalty["id"], {"reason": "I was ill"})
    with pytest.raises(Conflict):
        service.appeal(student("ann"), penalty["id"], {"reason": "again"})
    with pytest.raises(Forbidden):
        service.decide_appeal(student("ann"), appeal["id"], {"decision": "accept"})
    decided = service.decide_appeal(ADMIN, appeal["id"], {"decision": "accept", "reason": "doctor's note"})
    assert decided["status"] == "accepted" and balance(service, "ann") == 10
    assert service.store.published("appeal.decided.v1")[0]["payload"]["decision"] == "accepted"
    with pytest.raises(Conflict):
        service.decide_appeal(ADMIN, appeal["id"], {"decision": "reject", "reason": "changed my mind"})


def test_a_rejection_says_why(service):
    penalty = give(service, "bob", -1, op="pen-bob")
    appeal = service.appeal(student("bob"), penalty["id"], {"reason": "unfair"})
    with pytest.raises(InvalidInput):
        service.decide_appeal(ADMIN, appeal["id"], {"decision": "reject"})
    decided = service.decide_appeal(ADMIN, appeal["id"], {"decision": "reject", "reason": "the rule is clear"})
    assert decided["decision_reason"] == "the rule is clear"


def item(service, **kwargs):
    return service.add_item({**ADMIN, "operation_id": f"item-{len(service.store.items.rows)}"}, "p1",
                            {"name": "Company visit", "price": 10, "stock": 2, "per_student_limit": 1, **kwargs})


def test_redemption_charges_once_refuses_without_credits_or_past_the_limit_and_gives_stock_back(service):
    give(service, "ann", 25)
    visit = item(service)
    with pytest.raises(InvalidInput):  # bob has nothing
        service.redeem({**student("bob"), "operation_id": "r0"}, {"item_id": visit["id"], "student_id": "bob"})
    assert service.store.items.get(visit["id"])["stock"] == 2
    made = service.redeem({**student("ann"), "operation_id": "r1"}, {"item_id": visit["id"], "student_id": "ann"})
    again = service.redeem({**student("ann"), "operation_id": "r1"}, {"item_id": visit["id"], "student_id": "ann"})
    assert made["id"] == again["id"] and balance(service, "ann") == 15
    with pytest.raises(InvalidInput):  # the per-student limit
        service.redeem({**student("ann"), "operation_id": "r2"}, {"item_id": visit["id"], "student_id": "ann"})
    with pytest.raises(Forbidden):
        service.redeem({**student("bob"), "operation_id": "r3"}, {"item_id": visit["id"], "student_id": "ann"})
    stored = service.store.items.get(visit["id"])
    assert (stored["stock"], stored["sold"]) == (1, 1)
    service.cancel_redemption(ADMIN, made["id"], {"reason": "visit postponed"})
    stored = service.store.items.get(visit["id"])
    assert (stored["stock"], stored["sold"]) == (2, 0) and balance(service, "ann") == 25
    ledger = service.get_ledger(ADMIN, "ann", {"program_id": "p1"})
    assert ledger["balances"][0]["lifetime"] == 25  # spending never lowered it
    assert [e["kind"] for e in ledger["entries"]] == ["adjustment", "exchange", "refund"]


def test_out_of_stock_is_a_conflict(service):
    give(service, "ann", 50)
    give(service, "bob", 50)
    one = item(service, stock=1)
    service.redeem({**student("ann"), "operation_id": "a"}, {"item_id": one["id"], "student_id": "ann"})
    with pytest.raises(Conflict):
        service.redeem({**student("bob"), "operation_id": "b"}, {"item_id": one["id"], "student_id": "bob"})
    assert balance(service, "bob") == 50


def team(service):
    service.on_team_formed(event(TEAM_FORMED, {"team_id": "t1", "program_id": "p1", "track": "ug", "name": "A",
                                               "members": ["ann", "bob", "cat"]}))


def test_enterprise_rewards_only_from_a_partner_of_the_programme_and_split_exactly(service):
    team(service)
    data = {"amount": 100, "split": "shares", "shares": {"ann": 1, "bob": 1, "cat": 1}, "innovation": "live stream"}
    with pytest.raises(NotFound):  # acme has no mentor in p1 yet
        service.grant_enterprise_reward({**PARTNER, "operation_id": "g1"}, "t1", data)
    service.on_mentor_assigned(event(MENTOR_ASSIGNED, {"team_id": "t1", "program_id": "p1", "mentor_id": "m1",
                                                       "partner_id": "acme"}))
    reward = service.grant_enterprise_reward({**PARTNER, "operation_id": "g1"}, "t1", data)
    assert reward["allocation"] == {"ann": 34, "bob": 33, "cat": 33}
    assert [balance(service, s) for s in ("ann", "bob", "cat")] == [34, 33, 33]
    again = service.grant_enterprise_reward({**PARTNER, "operation_id": "g1"}, "t1", data)  # a retry
    assert again["id"] == reward["id"] and [balance(service, s) for s in ("ann", "bob", "cat")] == [34, 33, 33]
    assert len(service.store.published("enterprise_reward.granted.v1")) == 1
    with pytest.raises(Forbidden):
        service.grant_enterprise_reward({**student("ann"), "operation_id": "g2"}, "t1", data)
    with pytest.raises(NotFound):
        service.grant_enterprise_reward({**PARTNER, "school_id": "elsewhere", "operation_id": "g3"}, "t1", data)


def test_a_new_rules_version_applies_from_its_start_and_recompute_applies_once(service):
    service.on_attendance_recorded(event(ATTENDANCE_RECORDED, {
        "session_id": "s1", "program_id": "p1", "student_id": "ann", "status": "present", "source": "checkin"}, T0))
    assert balance(service, "ann") == 5
    rules = {"rules": [{"key": "present", "event": "content:attendance.recorded.v1", "when": {"status": "present"},
                        "amount": 8}], "effective_from": (T0 + timedelta(days=1)).isoformat()}
    assert service.set_rules(ADMIN, "p1", rules)["version"] == 1
    with pytest.raises(InvalidInput) as error:
        service.set_rules(ADMIN, "p1", {**rules, "effective_from": T0.isoformat()})
    assert "effective_from" in error.value.errors
    service.on_attendance_recorded(event(ATTENDANCE_RECORDED, {
        "session_id": "s2", "program_id": "p1", "student_id": "ann", "status": "present", "source": "checkin"},
        T0 + timedelta(days=2)))
    assert balance(service, "ann") == 13
    candidate = service.preview_rules(ADMIN, "p1", {"rules": [{
        "key": "present", "event": "content:attendance.recorded.v1", "when": {"status": "present"}, "amount": 1}]})
    assert next(line for line in candidate["lines"] if line["student_id"] == "ann")["by_rules_would_be"] == 2
    assert len(service.store.rulesets("p1")) == 1  # a candidate is not stored
    preview = service.recompute(ADMIN, "p1", False)
    ann = next(line for line in preview["lines"] if line["student_id"] == "ann")
    assert (ann["by_rules_now"], ann["by_rules_would_be"], ann["difference"]) == (13, 16, 3)
    assert balance(service, "ann") == 13  # a preview writes nothing
    service.recompute(ADMIN, "p1", True)
    service.recompute(ADMIN, "p1", True)
    assert balance(service, "ann") == 16
    assert next(line for line in service.recompute(ADMIN, "p1", False)["lines"]
                if line["student_id"] == "ann")["difference"] == 0


def test_leaderboard_modes_and_opt_out(service):
    for name, amount in (("ann", 5), ("bob", 9), ("cat", 9), ("dan", 1)):
        give(service, name, amount)
    assert [r["name"] for r in service.leaderboard(student("dan"), "p1", {})["rows"]] == [None, None, None, "dan"]
    assert service.leaderboard(ADMIN, "p1", {})["rows"][0]["name"] == "bob"  # anonymous by default; staff see names
    service.set_leaderboard(ADMIN, "p1", {"mode": "full"})
    rows = service.leaderboard(student("dan"), "p1", {})["rows"]
    assert [(r["rank"], r["name"]) for r in rows] == [(1, "bob"), (2, "cat"), (3, "ann"), (4, "dan")]
    service.set_preference(student("bob"), "bob", {"program_id": "p1", "opt_out": True})
    assert [r["name"] for r in service.leaderboard(student("dan"), "p1", {})["rows"]][0] is None
    assert service.leaderboard(student("bob"), "p1", {})["rows"][0]["name"] == "bob"  # one's own name stays
    service.set_leaderboard(ADMIN, "p1", {"mode": "relative", "neighbours": 1})
    assert [r["rank"] for r in service.leaderboard(student("dan"), "p1", {})["rows"]] == [3, 4]
    service.set_leaderboard(ADMIN, "p1", {"mode": "anonymous"})
    assert [r["name"] for r in service.leaderboard(student("ann"), "p1", {})["rows"]] == [None, None, "ann", None]
    team(service)
    teams = service.leaderboard(ADMIN, "p1", {"scope": "team"})["rows"]
    assert teams == [{"rank": 1, "name": "t1", "score": 23.0, "you": False}]


def test_a_badge_is_awarded_once_when_its_condition_is_met_and_its_credential_verifies(service):
    service.add_badge_class(ADMIN, "p1", {"key": "ten", "name": "Ten", "description": "10 credits",
                                          "criteria": "Earn 10", "condition": {"kind": "lifetime_at_least",
                                                                               "at_least": 10}})
    with pytest.raises(NotFound):
        service.student_badges(OTHER_SCHOOL, "ann")
    give(service, "ann", 6)
    assert service.student_badges(student("ann"), "ann")["items"] == []
    give(service, "ann", 6, op="more")
    give(service, "ann", 6, op="even-more")
    awards = service.student_badges(student("ann"), "ann", "https://praxis.example")["items"]
    assert len(awards) == 1 and len(service.store.published("badge.awarded.v1")) == 1
    token = service.ob_credential(awards[0]["id"], "https://praxis.example")
    key = jwt.PyJWK(service.ob_jwks("jufe")["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["credentialSubject"]["achievement"]["name"] == "Ten"
    assert "ann" not in json.dumps(claims)
    assertion = service.ob_assertion(awards[0]["id"], "https://praxis.example")
    assert assertion["id"] == awards[0]["assertion_url"]


def test_top_of_track_badge_is_given_by_an_evaluation(service):
    service.add_badge_class(ADMIN, "p1", {"key": "top", "name": "Top", "description": "Top 25%",
                                          "criteria": "Be in the top quarter", "condition": {
                                              "kind": "top_share_of_track", "share": 0.25}})
    for name, amount in (("ann", 5), ("bob", 9), ("cat", 3), ("dan", 1)):
        give(service, name, amount)
    assert service.student_badges(ADMIN, "bob")["items"] == []
    awarded = service.evaluate_badges(ADMIN, "p1")
    assert [a["student_id"] for a in awarded] == ["bob"]
    assert service.evaluate_badges(ADMIN, "p1") == []


def test_all_sessions_attended_counts_the_sessions_that_took_place(service):
    service.add_badge_class(ADMIN, "p1", {"key": "every", "name": "Every session", "description": "All of them",
                                          "criteria": "Attend every session",
                                          "condition": {"kind": "all_sessions_attended"}})
    for session in ("s1", "s2"):
        service.on_session_scheduled(event(SESSION_SCHEDULED, {
            "session_id": session, "program_id": "p1", "title": "T", "module": "m", "form": "workshop",
            "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=1)).isoformat(),
            "instructor_id": "t1", "tracks": []}))
    service.on_attendance_recorded(event(ATTENDANCE_RECORDED, {
        "session_id": "s1", "program_id": "p1", "student_id": "ann", "status": "late", "source": "checkin"}, T0))
    assert service.evaluate_badges(ADMIN, "p1") == []
    service.on_session_cancelled(event(SESSION_CANCELLED, {"session_id": "s2", "program_id": "p1",
                                                           "reason": "storm"}))
    assert [a["student_id"] for a in service.evaluate_badges(ADMIN, "p1")] == ["ann"]
