"""Incentive rules as plain functions: rules and their versions, caps, the cheat
guard, the floor, corrections of a source fact, reversals, the recompute
preview, enterprise reward splits, leaderboards and badge conditions."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.base import load
from contracts.errors import InvalidInput
from contracts.incentives import RuleSetCreateSchema
from services.incentives import domain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ATT = "content:attendance.recorded.v1"


def attendance(event_id, status, at=T0, session="s1", student="ann"):
    return domain.fact(ATT, event_id, at, "p1", {"status": status, "session_id": session}, [student],
                       f"attendance:{session}")


def account(**kwargs):
    return {**domain.new_account("jufe", "p1", "ann"), **kwargs}


def rules(*rules, **top):
    return {**domain.default_ruleset("p1"), "version": 1, "rules": [{**domain.RULE_DEFAULTS, **r} for r in rules],
            **top}


def run(facts, ruleset=None, start=None):
    ruleset = ruleset or domain.default_ruleset("p1")
    acct, ledger = start or account(), []
    for f in facts:
        entries, acct = domain.apply_fact(acct, f, ruleset)
        ledger += entries
    return acct, ledger


def test_present_gives_the_default_five_credits_to_both_balances():
    acct, entries = run([attendance("e1", "present")])
    assert (acct["spendable"], acct["lifetime"]) == (5, 5)
    assert entries[0]["id"] == "e1:present:ann" and entries[0]["rule_version"] == 0


def test_the_same_event_delivered_again_changes_nothing():
    acct, entries = run([attendance("e1", "present")] * 3)
    assert acct["spendable"] == 5 and len(entries) == 1


def test_absent_corrected_to_present_gives_minus_three_then_a_reversal_and_plus_five():
    acct, entries = run([attendance("e1", "absent", T0),
                         attendance("e2", "present", T0 + timedelta(hours=1))],
                        start=account(spendable=10, lifetime=10))
    assert [(e["kind"], e["amount"]) for e in entries] == [("penalty", -3), ("reversal", 3), ("reward", 5)]
    assert entries[1]["reverses"] == entries[0]["id"]
    assert acct["spendable"] == 15


def test_an_older_fact_arriving_after_a_newer_one_changes_nothing():
    acct, entries = run([attendance("e2", "present", T0 + timedelta(hours=1)), attendance("e1", "absent", T0)])
    assert acct["spendable"] == 5 and [e["amount"] for e in entries] == [5]


def test_every_delivery_order_gives_the_same_balances():
    facts = [attendance("e1", "absent", T0), attendance("e2", "present", T0 + timedelta(hours=1)),
             attendance("e3", "late", T0 + timedelta(hours=2)), attendance("x", "present", T0, session="s2")]
    import itertools
    results = {run(list(order), start=account(spendable=20, lifetime=20))[0]["spendable"]
               for order in itertools.permutations(facts)}
    assert results == {20 + 2 + 5}


def test_a_penalty_never_takes_spendable_below_the_floor_and_says_what_was_kept_back():
    acct, entries = run([attendance("e1", "absent")], start=account(spendable=1, lifetime=1))
    assert acct["spendable"] == 0
    assert entries[0]["amount"] == -1 and entries[0]["requested"] == -3 and entries[0]["not_applied"] == -2
    assert "floor" in entries[0]["not_applied_reason"]


def test_a_programme_floor_below_zero_lets_a_penalty_go_negative():
    acct, _ = run([attendance("e1", "absent")], ruleset={**domain.default_ruleset("p1"), "floor": -10})
    assert acct["spendable"] == -3


def test_daily_cap_of_a_rule_keeps_the_rest_back_and_the_next_day_is_fresh():
    rs = rules({"key": "present", "event": ATT, "when": {"status": "present"}, "amount": 5, "max_per_day": 8})
    acct, entries = run([attendance("e1", "present", session="s1"), attendance("e2", "present", session="s2"),
                         attendance("e3", "present", T0 + timedelta(days=1), session="s3")], rs)
    assert [e["amount"] for e in entries] == [5, 3, 5]
    assert entries[1]["not_applied"] == 2 and "daily cap" in entries[1]["not_applied_reason"]
    assert acct["spendable"] == 13


def test_programme_total_cap_counts_every_rule():
    rs = rules({"key": "present", "event": ATT, "when": {"status": "present"}, "amount": 5},
               {"key": "late", "event": ATT, "when": {"status": "late"}, "amount": 4}, max_total=7)
    acct, _ = run([attendance("e1", "present", session="s1"), attendance("e2", "late", session="s2")], rs)
    assert acct["spendable"] == 7


def test_cheat_guard_refuses_awards_past_its_count_within_the_window():
    rs = rules({"key": "present", "event": ATT, "when": {"status": "present"}, "amount": 5,
                "guard": {"max_awards": 2, "window_minutes": 60}})
    facts = [attendance(f"e{i}", "present", T0 + timedelta(minutes=i), session=f"s{i}") for i in range(3)]
    facts.append(attendance("late1", "present", T0 + timedelta(minutes=90), session="s9"))
    acct, entries = run(facts, rs)
    assert [e["amount"] for e in entries] == [5, 5, 0, 5]
    assert "cheat guard" in entries[2]["not_applied_reason"]


def test_reversing_a_capped_award_gives_its_room_back():
    rs = rules({"key": "present", "event": ATT, "when": {"status": "present"}, "amount": 5, "max_total": 5})
    acct, entries = run([attendance("e1", "present", session="s1")], rs)
    reversal, acct = domain.reversal_of(acct, entries[0], "mistake", "staff:t1", T0, 0)
    acct, more = run([attendance("e2", "present", session="s2")], rs, start=acct)
    assert more[0]["amount"] == 5 and acct["spendable"] == 5


def test_a_reversed_entry_is_not_reversed_again_by_a_later_correction():
    acct, entries = run([attendance("e1", "present")])
    _, acct = domain.reversal_of(acct, entries[0], "mistake", "staff:t1", T0, 0)
    acct, more = run([attendance("e2", "late", T0 + timedelta(hours=1))], start=acct)
    assert [e["kind"] for e in more] == ["reward"] and acct["spendable"] == 2


def test_a_reversal_cannot_be_reversed_nor_an_exchange():
    acct, entries = run([attendance("e1", "present")])
    reversal, acct = domain.reversal_of(acct, entries[0], "mistake", "staff:t1", T0, 0)
    with pytest.raises(InvalidInput):
        domain.reversal_of(acct, reversal, "again", "staff:t1", T0, 0)
    with pytest.raises(InvalidInput):
        domain.reversal_of(acct, {**entries[0], "kind": "exchange"}, "no", "staff:t1", T0, 0)


def test_exchange_lowers_spendable_only():
    entry, acct = domain.make_entry(account(spendable=10, lifetime=10), "exchange", -7, "voucher", entry_id="x",
                                    at=T0, lifetime=False, limit_by_floor=False)
    assert (acct["spendable"], acct["lifetime"]) == (3, 10) and entry["lifetime_delta"] == 0


# --- rule sets ---------------------------------------------------------------------

def test_a_rule_for_an_unknown_event_or_a_negative_cap_is_refused_with_the_field():
    with pytest.raises(InvalidInput) as error:
        load(RuleSetCreateSchema, {"rules": [{"key": "x", "event": "content:nothing.v1", "amount": 1}]})
    assert "event" in error.value.errors["rules"][0]
    with pytest.raises(InvalidInput) as error:
        load(RuleSetCreateSchema, {"rules": [{"key": "x", "event": ATT, "amount": 1, "max_per_day": -1}]})
    assert "max_per_day" in error.value.errors["rules"][0]
    with pytest.raises(InvalidInput) as error:
        load(RuleSetCreateSchema, {"rules": [{"key": "x", "event": ATT, "amount": 1, "when": {"mood": "ok"}}]})
    assert "when" in error.value.errors["rules"][0]


def test_a_version_starting_before_the_latest_overlaps_and_is_refused():
    first = domain.new_ruleset("p1", {"rules": [], "effective_from": T0}, [], "staff:a", T0)
    assert first["version"] == 1
    with pytest.raises(InvalidInput) as error:
        domain.new_ruleset("p1", {"rules": [], "effective_from": T0 - timedelta(days=1)}, [first], "staff:a", T0)
    assert "effective_from" in error.value.errors
    second = domain.new_ruleset("p1", {"rules": [], "effective_from": T0 + timedelta(days=1)}, [first], "s", T0)
    assert second["version"] == 2


def test_an_event_uses_the_version_in_force_when_it_happened():
    v1 = {**rules(), "version": 1, "effective_from": T0}
    v2 = {**rules(), "version": 2, "effective_from": T0 + timedelta(days=7)}
    assert domain.ruleset_for([v1, v2], "p1", T0 - timedelta(days=1))["version"] == 0
    assert domain.ruleset_for([v1, v2], "p1", T0 + timedelta(days=1))["version"] == 1
    assert domain.ruleset_for([v1, v2], "p1", T0 + timedelta(days=8))["version"] == 2


def test_recompute_preview_shows_what_new_rules_would_have_given():
    facts = [attendance("e1", "present", session="s1"), attendance("e2", "late", session="s2")]
    acct, _ = run(facts)
    assert acct["by_rules"] == 7
    doubled = rules({"key": "present", "event": ATT, "when": {"status": "present"}, "amount": 10},
                    {"key": "late", "event": ATT, "when": {"status": "late"}, "amount": 4})
    lines = domain.recompute_lines([acct], domain.simulate(facts, doubled, ["ann"]))
    assert lines == [{"student_id": "ann", "by_rules_now": 7, "by_rules_would_be": 14, "difference": 7,
                      "spendable_now": 7, "spendable_would_be": 14}]


# --- enterprise rewards -------------------------------------------------------------

def test_largest_remainder_split_adds_up_exactly_and_breaks_ties_by_id():
    assert domain.split_largest_remainder(10, {"c": 1, "a": 1, "b": 1}) == {"a": 4, "b": 3, "c": 3}
    assert domain.split_largest_remainder(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    shares = domain.split_largest_remainder(7, {"a": 5, "b": 3, "c": 2})  # quotas 3.5, 2.1, 1.4
    assert shares == {"a": 4, "b": 2, "c": 1} and sum(shares.values()) == 7


@pytest.mark.parametrize("amount", [1, 2, 7, 99, 1000])
def test_split_always_sums_to_the_amount(amount):
    assert sum(domain.split_largest_remainder(amount, {"a": 3, "b": 7, "c": 11, "d": 0}).values()) == amount


def test_shares_naming_a_student_outside_the_team_are_refused():
    with pytest.raises(InvalidInput):
        domain.reward_weights(["a", "b"], {"split": "shares", "shares": {"a": 1, "z": 2}})


# --- leaderboards -----------------------------------------------------------------

SCORES = [("dan", 10), ("ann", 20), ("bob", 20), ("cat", 5), ("eve", 30)]


def test_full_leaderboard_breaks_ties_by_name_and_hides_who_opted_out():
    rows = domain.leaderboard_rows(SCORES, "full", hidden={"bob"})
    assert [(r["rank"], r["name"], r["score"]) for r in rows] == [
        (1, "eve", 30), (2, "ann", 20), (3, None, 20), (4, "dan", 10), (5, "cat", 5)]


def test_anonymous_leaderboard_names_only_the_viewer():
    rows = domain.leaderboard_rows(SCORES, "anonymous", viewer="dan")
    assert [r["name"] for r in rows] == [None, None, None, "dan", None]
    assert rows[3]["you"] is True


def test_relative_leaderboard_shows_the_neighbours_around_the_viewer():
    rows = domain.leaderboard_rows(SCORES, "relative", viewer="bob", neighbours=1)
    assert [r["name"] for r in rows] == ["ann", "bob", "dan"]
    assert domain.leaderboard_rows(SCORES, "relative", viewer="zed") == []
    assert len(domain.leaderboard_rows(SCORES, "relative", is_staff=True)) == 5


def test_team_score_is_the_sum_or_the_mean():
    accounts = [{"team_id": "t1", "lifetime": 10}, {"team_id": "t1", "lifetime": 5}, {"team_id": "t2", "lifetime": 9},
                {"team_id": None, "lifetime": 100}]
    assert sorted(domain.team_scores(accounts, "sum")) == [("t1", 15), ("t2", 9)]
    assert sorted(domain.team_scores(accounts, "mean")) == [("t1", 7.5), ("t2", 9)]


# --- badges -----------------------------------------------------------------------

def test_badge_conditions():
    acct, _ = run([attendance("e1", "present", session="s1"), attendance("e2", "watched_replay", session="s2")])
    assert domain.earned({"kind": "all_sessions_attended"}, acct, ["s1", "s2"])
    assert not domain.earned({"kind": "all_sessions_attended"}, acct, ["s1", "s2", "s3"])
    assert domain.earned({"kind": "lifetime_at_least", "at_least": 8}, acct, [])
    assert not domain.earned({"kind": "lifetime_at_least", "at_least": 9}, acct, [])
    assert not domain.earned({"kind": "first_answered_question"}, acct, [])
    question = domain.fact("content:question.answered.v1", "q", T0, "p1", {}, ["ann"], "question:q1")
    acct, _ = run([question], start=acct)
    assert domain.earned({"kind": "first_answered_question"}, acct, [])


def test_top_share_of_track_takes_the_best_tenth_at_least_one():
    track = [{"student_id": f"s{i:02d}", "lifetime": i} for i in range(20)]
    top = {a["student_id"] for a in track if domain.earned({"kind": "top_share_of_track", "share": 0.1}, a, [], track)}
    assert top == {"s19", "s18"}


# --- events of assessment and supervision --------------------------------------------

def _event(event_type, payload, at):
    from contracts.events import make_event, parse_event
    return parse_event(make_event(event_type, payload, school_id="jufe", actor="test", occurred_at=at))


def _graded(percent, at, on_time=True, submission="sub1"):
    from contracts.assessment import SUBMISSION_GRADED
    return [domain.facts_of(_event(SUBMISSION_GRADED, {
        "program_id": "p1", "assessment_id": "hw1", "assessment_kind": "homework", "module": "ops",
        "student_id": "ann", "deadline": T0.isoformat(), "submission_id": submission, "attempt": 1,
        "submitted_at": T0.isoformat(), "late": not on_time, "days_late": 0 if on_time else 1, "on_time": on_time,
        "score": percent, "raw_score": percent, "max_score": 100, "percent": percent, "late_penalty": 0,
        "graded_at": at.isoformat(), "graded_by": "t1", "counted_percent": percent}, at))]


def test_homework_graded_on_time_gives_ten_once_however_often_it_is_regraded():
    acct, entries = run(_graded(70, T0) + _graded(80, T0 + timedelta(hours=1), submission="sub2"))
    assert acct["spendable"] == 10
    assert [e["kind"] for e in entries] == ["reward", "reversal", "reward"]


def test_late_homework_gives_nothing_by_default():
    acct, entries = run(_graded(90, T0, on_time=False))
    assert acct["spendable"] == 0 and entries == []


def test_an_idle_spell_costs_five_once_and_a_missed_deadline_five():
    from contracts.assessment import DEADLINE_MISSED
    from contracts.supervision import STUDENT_IDLE
    idle = [domain.facts_of(_event(STUDENT_IDLE, {"program_id": "p1", "student_id": "ann",
                                                 "idle_since": T0.isoformat(), "spell_id": "spell-1"}, T0))]
    missed = [domain.facts_of(_event(DEADLINE_MISSED, {
        "program_id": "p1", "assessment_id": "hw2", "assessment_kind": "homework", "module": "ops",
        "student_id": "ann", "deadline": T0.isoformat(), "max_score": 100, "weight": 1}, T0))]
    acct, entries = run(idle + idle + missed, start=account(spendable=20, lifetime=20))
    assert [e["amount"] for e in entries] == [-5, -5] and acct["spendable"] == 10


def test_a_competition_score_reaches_every_team_member_and_a_rule_can_ask_for_a_least_percent():
    from contracts.assessment import COMPETITION_SCORE_RECORDED
    facts = [domain.facts_of(_event(COMPETITION_SCORE_RECORDED, {
        "program_id": "p1", "assessment_id": "c1", "module": "final", "run_id": "r1", "entry_id": "e1",
        "student_ids": ["ann", "bob"], "score": 70, "max_score": 100, "percent": 70, "revision": 1,
        "corrected": False, "recorded_at": T0.isoformat()}, T0))]
    assert facts[0]["students"] == ["ann", "bob"]
    rs = rules({"key": "good_run", "event": "assessment:competition_score.recorded.v1", "amount": 8,
                "min_score": 60}, {"key": "great_run", "event": "assessment:competition_score.recorded.v1",
                                   "amount": 20, "min_score": 90})
    acct, entries = run(facts, rs)
    assert [e["rule"] for e in entries] == ["good_run"] and acct["spendable"] == 8


def test_a_subject_from_another_service_is_a_safe_document_key():
    from contracts.supervision import STUDENT_IDLE
    f = domain.facts_of(_event(STUDENT_IDLE, {"program_id": "p1", "student_id": "ann", "idle_since": T0.isoformat(),
                                             "spell_id": "ann@2026-03-02T09:00:00.5$x"}, T0))
    assert "." not in f["subject"] and "$" not in f["subject"]
