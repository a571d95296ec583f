"""The enrollment rules as plain functions: selection, seats, teams, assignment."""
from datetime import date, datetime, timedelta, timezone

from services.enrollment import domain

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc)
RULES = {"min_quiz_score": 60, "required_majors": [], "required_years": []}


def app(id_, score, minutes=0, major="E-commerce", year=3):
    return {"id": id_, "score": score, "submitted_at": T0 + timedelta(minutes=minutes),
            "major": major, "year_of_study": year, "student_id": f"s-{id_}"}


def by_decision(decisions):
    out = {}
    for d in decisions:
        out.setdefault(d["decision"], []).append(d["application"]["id"])
    return out


def test_selection_admits_the_best_up_to_capacity_and_waitlists_the_rest_in_rank_order():
    candidates = [app("a", 70), app("b", 95), app("c", 80), app("d", 65)]
    decisions = domain.decide_track(candidates, [], free_seats=2, capacity=2, rules=RULES)
    assert by_decision(decisions) == {"admitted": ["b", "c"], "waitlisted": ["a", "d"]}
    waitlisted = [d for d in decisions if d["decision"] == "waitlisted"]
    assert [d["position"] for d in waitlisted] == [1, 2]
    assert "rank 1 of 4" in decisions[0]["reason"] and "2 of 2 places" in decisions[0]["reason"]
    assert "rank 3 of 4" in waitlisted[0]["reason"] and "all 2 places are taken" in waitlisted[0]["reason"]


def test_equal_scores_are_ranked_by_application_time():
    candidates = [app("late", 80, minutes=30), app("early", 80, minutes=5), app("middle", 80, minutes=10)]
    decisions = domain.decide_track(candidates, [], free_seats=1, capacity=1, rules=RULES)
    assert by_decision(decisions) == {"admitted": ["early"], "waitlisted": ["middle", "late"]}


def test_capacity_zero_admits_nobody_and_waitlists_every_eligible_student():
    decisions = domain.decide_track([app("a", 90), app("b", 50)], [], free_seats=0, capacity=0, rules=RULES)
    assert by_decision(decisions) == {"rejected": ["b"], "waitlisted": ["a"]}
    assert "no places" in next(d for d in decisions if d["decision"] == "waitlisted")["reason"]


def test_everyone_below_the_minimum_is_rejected_with_the_reason():
    decisions = domain.decide_track([app("a", 59.5), app("b", 10)], [], free_seats=5, capacity=5, rules=RULES)
    assert by_decision(decisions) == {"rejected": ["a", "b"]}
    assert decisions[0]["reason"] == "screening score 59.5 is below the minimum 60"


def test_a_score_equal_to_the_minimum_is_enough():
    assert by_decision(domain.decide_track([app("a", 60)], [], free_seats=1, capacity=1, rules=RULES)) == {
        "admitted": ["a"]}


def test_required_majors_and_years_reject_others_whatever_their_score():
    rules = {**RULES, "required_majors": ["E-commerce", "Marketing"], "required_years": [2, 3]}
    candidates = [app("ok", 70, major="marketing", year=2), app("major", 99, major="Physics"),
                  app("year", 99, year=1)]
    decisions = domain.decide_track(candidates, [], free_seats=3, capacity=3, rules=rules)
    assert by_decision(decisions) == {"rejected": ["major", "year"], "admitted": ["ok"]}
    reasons = {d["application"]["id"]: d["reason"] for d in decisions}
    assert "major 'Physics' is not among the required majors" in reasons["major"]
    assert "year of study 1 is not among the required years (2, 3)" == reasons["year"]


def test_new_waitlisted_students_take_their_rank_among_those_already_waiting():
    waiting = [app("w1", 90), app("w2", 70)]
    decisions = domain.decide_track([app("n1", 80), app("n2", 60)], waiting, free_seats=0, capacity=3, rules=RULES)
    assert {d["application"]["id"]: d["position"] for d in decisions} == {"n1": 2, "n2": 4}


def test_selection_with_no_candidates_decides_nothing():
    assert domain.decide_track([], [app("w", 90)], free_seats=3, capacity=3, rules=RULES) == []


def test_seats_held_by_unfinished_admissions_are_completed_and_those_of_withdrawn_are_freed():
    to_admit, to_release = domain.seat_repairs(
        {"a": "admitted", "b": "screened", "c": "withdrawn", "d": "waitlisted", "e": None, "f": "rejected"})
    assert to_admit == ["b", "d"]
    assert to_release == ["c", "e", "f"]


def test_applications_and_withdrawals_are_possible_until_the_programme_ends():
    program = {"ends_on": date(2026, 6, 30)}
    assert domain.program_open(program, datetime(2026, 6, 30, 23, 0, tzinfo=timezone.utc))
    assert not domain.program_open(program, datetime(2026, 7, 1, 0, 1, tzinfo=timezone.utc))


def test_teams_are_locked_on_the_team_lock_date_or_after_the_programme_ends_without_one():
    program = {"team_lock_date": date(2026, 4, 1), "ends_on": date(2026, 6, 30)}
    assert not domain.teams_locked(program, datetime(2026, 3, 31, 23, tzinfo=timezone.utc))
    assert domain.teams_locked(program, datetime(2026, 4, 1, 0, 1, tzinfo=timezone.utc))
    no_lock = {"team_lock_date": None, "ends_on": date(2026, 6, 30)}
    assert not domain.teams_locked(no_lock, datetime(2026, 6, 30, tzinfo=timezone.utc))
    assert domain.teams_locked(no_lock, datetime(2026, 7, 1, tzinfo=timezone.utc))


def test_team_size_must_lie_within_the_programmes_limits():
    limits = {"min": 3, "max": 5}
    assert domain.team_size_error(2, limits) == "a team has at least 3 members"
    assert domain.team_size_error(6, limits) == "a team has at most 5 members"
    assert domain.team_size_error(3, limits) is None and domain.team_size_error(5, limits) is None


def test_a_membership_left_by_an_interrupted_request_can_be_taken():
    now = T0 + timedelta(hours=1)
    active = {"status": "active", "members": ["s1"], "created_at": T0}
    assert domain.membership_holds(active, "s1", now)
    assert not domain.membership_holds(active, "s2", now)  # left the team, record not yet removed
    assert domain.membership_holds({"status": "forming", "members": [], "created_at": now}, "s1", now)
    assert not domain.membership_holds({"status": "forming", "members": [], "created_at": T0}, "s1", now)
    assert not domain.membership_holds({"status": "failed", "members": [], "created_at": now}, "s1", now)
    assert not domain.membership_holds(None, "s1", now)


def staff(id_, load=0, max_load=2, active=True):
    return {"id": id_, "load": load, "max_load": max_load, "active": active}


def teams(n):
    return [{"id": f"t{i}"} for i in range(n)]


def test_assignment_balances_load_and_never_exceeds_a_maximum():
    pairs, left = domain.plan_assignments(teams(5), [staff("m1"), staff("m2"), staff("m3")])
    counts = {}
    for _, s in pairs:
        counts[s] = counts.get(s, 0) + 1
    assert left == [] and sorted(counts.values()) == [1, 2, 2]
    pairs, left = domain.plan_assignments(teams(8), [staff("m1"), staff("m2"), staff("m3")])
    assert len(pairs) == 6 and left == ["t6", "t7"]


def test_assignment_prefers_the_least_loaded_and_skips_those_who_left_or_are_full():
    pairs, left = domain.plan_assignments(
        teams(2), [staff("busy", load=3, max_load=4), staff("gone", active=False), staff("full", load=2),
                   staff("free", load=0, max_load=1)])
    assert pairs == [("t0", "free"), ("t1", "busy")] and left == []


def test_assignment_without_anyone_leaves_every_team_without():
    assert domain.plan_assignments(teams(2), []) == ([], ["t0", "t1"])


def test_the_roster_shows_team_mentor_and_tutor_of_each_admitted_student():
    apps = [{"id": "a1", "student_id": "s1", "name": "Li", "track": "ug", "status": "admitted", "major": "EC",
             "year_of_study": 3, "promoted": False},
            {"id": "a2", "student_id": "s2", "name": "Wu", "track": "ug", "status": "admitted", "major": "EC",
             "year_of_study": 2, "promoted": True}]
    team = {"id": "t1", "name": "Falcons", "status": "active", "members": ["s1"], "mentor_id": "m1", "tutor_id": None}
    rows = domain.roster_rows(apps, [team], [{"id": "m1", "name": "Ms Zhao"}])
    assert rows[0]["team_name"] == "Falcons" and rows[0]["mentor_name"] == "Ms Zhao"
    assert rows[0]["tutor_id"] is None
    assert rows[1]["team_id"] is None and rows[1]["promoted"] is True
