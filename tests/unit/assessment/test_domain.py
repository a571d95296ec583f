"""Every grading rule of assessment as plain functions: partial credit, tolerance,
short text, late penalty and its cap, attempts, best/last, rubric totals, weighted
totals with missing work, seeded papers, and malformed quizzes refused with the field."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.assessment import AssessmentCreateSchema, QuestionBankCreateSchema
from contracts.base import load
from contracts.errors import InvalidInput
from services.assessment import domain

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)

MULTI = {"id": "m", "kind": "multiple_choice", "points": 4.0, "options": [
    {"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B", "correct": True},
    {"id": "c", "text": "C", "correct": False}, {"id": "d", "text": "D", "correct": False}]}
SINGLE = {"id": "s", "kind": "single_choice", "points": 2.0, "options": [
    {"id": "x", "text": "X", "correct": False}, {"id": "y", "text": "Y", "correct": True}]}
NUMERIC = {"id": "n", "kind": "numeric", "points": 1.0, "value": 3.5, "tolerance": 0.1}
TEXT = {"id": "t", "kind": "short_text", "points": 1.0, "accepted": ["Cross-border E-commerce"]}
TRUE_FALSE = {"id": "b", "kind": "true_false", "points": 1.0, "answer": False}


@pytest.mark.parametrize("given, points", [
    (["a", "b"], 4.0),          # every right option
    (["a"], 2.0),               # half of the right ones
    (["a", "c"], 0.0),          # a right and a wrong cancel out
    (["a", "b", "c"], 2.0),     # one wrong option takes one right's share
    (["a", "b", "c", "d"], 0.0),  # choosing everything earns nothing
    (["c"], 0.0),               # never below zero
    ([], 0.0),
])
def test_multiple_choice_partial_credit(given, points):
    assert domain.question_points(MULTI, given) == points


@pytest.mark.parametrize("given, points", [(3.5, 1.0), (3.6, 1.0), (3.4, 1.0), (3.61, 0.0), (3, 0.0)])
def test_numeric_answers_are_right_within_the_tolerance(given, points):
    assert domain.question_points(NUMERIC, given) == points


@pytest.mark.parametrize("given, points", [
    ("cross-border e-commerce", 1.0), ("  CROSS-BORDER   E-COMMERCE ", 1.0), ("crossborder ecommerce", 0.0)])
def test_short_text_ignores_case_and_spaces(given, points):
    assert domain.question_points(TEXT, given) == points


def test_single_choice_and_true_false_are_all_or_nothing():
    assert domain.question_points(SINGLE, "y") == 2.0 and domain.question_points(SINGLE, "x") == 0.0
    assert domain.question_points(TRUE_FALSE, False) == 1.0 and domain.question_points(TRUE_FALSE, True) == 0.0
    assert domain.question_points(SINGLE, None) == 0.0  # unanswered


def test_a_quiz_is_scored_with_per_question_results_and_refuses_misshapen_answers():
    raw, maximum, results = domain.score_quiz([SINGLE, MULTI, NUMERIC], {"s": "y", "m": ["a"]})
    assert (raw, maximum) == (4.0, 7.0)
    assert [r["points"] for r in results] == [2.0, 2.0, 0.0] and results[2]["given"] is None
    assert results[1]["correct"] == ["a", "b"]
    with pytest.raises(InvalidInput) as refused:
        domain.score_quiz([SINGLE, NUMERIC], {"s": "nope", "n": "three", "zz": 1})
    assert set(refused.value.errors["answers"]) == {"s", "n", "zz"}
    with pytest.raises(InvalidInput):
        domain.score_quiz([TRUE_FALSE], {"b": 1})  # 1 is not true
    for huge in (10 ** 400, float("inf"), True):
        with pytest.raises(InvalidInput):
            domain.score_quiz([NUMERIC], {"n": huge})


@pytest.mark.parametrize("late_by, days", [
    (timedelta(0), 0), (timedelta(seconds=-5), 0), (timedelta(seconds=1), 1), (timedelta(hours=24), 1),
    (timedelta(hours=24, seconds=1), 2), (timedelta(days=9, hours=3), 10)])
def test_days_late_count_every_day_started(late_by, days):
    assert domain.days_late(T0, T0 + late_by) == days


def test_the_late_penalty_is_per_day_started_and_capped():
    policy = {"accept": True, "penalty_per_day": 10.0, "penalty_cap": 30.0}
    assert [domain.late_penalty(policy, d) for d in (0, 1, 2, 3, 7)] == [0.0, 10.0, 20.0, 30.0, 30.0]
    assert domain.after_penalty(80.0, 25.0) == 60.0


def assessment(**over):
    a = {"id": "a1", "status": "published", "opens_at": T0, "deadline": T0 + timedelta(days=7),
         "max_attempts": 2, "late_policy": {"accept": False, "penalty_per_day": 0, "penalty_cap": 0}}
    return {**a, **over}


def test_attempts_opening_and_deadline_are_enforced():
    assert domain.submission_refusal(assessment(), 1, T0 + timedelta(hours=1)) is None
    assert "not open" in domain.submission_refusal(assessment(), 1, T0 - timedelta(seconds=1))
    assert "no attempts left" in domain.submission_refusal(assessment(), 3, T0 + timedelta(hours=1))
    assert "deadline" in domain.submission_refusal(assessment(), 1, T0 + timedelta(days=8))
    late_ok = assessment(late_policy={"accept": True, "penalty_per_day": 5, "penalty_cap": 20})
    assert domain.submission_refusal(late_ok, 1, T0 + timedelta(days=8)) is None
    assert "not published" in domain.submission_refusal(assessment(status="proposed"), 1, T0 + timedelta(hours=1))


def test_best_or_last_attempt_counts():
    attempts = [{"attempt": 1, "status": "graded", "score": 8.0, "percent": 80.0},
                {"attempt": 2, "status": "graded", "score": 6.0, "percent": 60.0},
                {"attempt": 3, "status": "submitted", "score": None, "percent": None}]
    assert domain.counted(attempts, "best")["attempt"] == 1
    assert domain.counted(attempts, "last")["attempt"] == 2  # the last *graded* one
    assert domain.counted(attempts[2:], "best") is None
    tie = [{"attempt": 1, "status": "graded", "score": 5.0, "percent": 50.0},
           {"attempt": 2, "status": "graded", "score": 5.0, "percent": 50.0}]
    assert domain.counted(tie, "best")["attempt"] == 1
    unequal_papers = [{"attempt": 1, "status": "graded", "score": 6.0, "percent": 60.0},
                      {"attempt": 2, "status": "graded", "score": 5.0, "percent": 100.0}]
    assert domain.counted(unequal_papers, "best")["attempt"] == 2  # the better share, not more points


RUBRIC = {"criteria": [
    {"id": "listing", "title": "Listing", "levels": [{"id": "weak", "points": 0}, {"id": "ok", "points": 3},
                                                      {"id": "good", "points": 5}]},
    {"id": "pricing", "title": "Pricing", "levels": [{"id": "weak", "points": 1}, {"id": "good", "points": 4}]}]}


def test_a_rubric_total_is_computed_from_the_levels_picked():
    assert domain.rubric_total(RUBRIC, {"listing": "ok", "pricing": "good"}) == 7.0
    assert domain.rubric_max(RUBRIC) == 9.0
    with pytest.raises(InvalidInput) as refused:
        domain.rubric_total(RUBRIC, {"listing": "great", "extra": "good"})
    assert set(refused.value.errors["levels"]) == {"listing", "pricing", "extra"}


def test_a_late_homework_grade_loses_its_penalty():
    s = {"late_penalty": 20.0, "max_score": 10.0, "status": "submitted"}
    graded = domain.graded(s, 8.0, by={"graded_by": "lms:k2", "graded_by_person": "staff:t"}, now=T0)
    assert (graded["raw_score"], graded["score"], graded["percent"], graded["status"]) == (8.0, 6.4, 64.0, "graded")


def test_weighted_total_with_missing_work_as_zero_and_ungraded_left_out():
    columns = [{"assessment_id": "q", "weight": 1.0}, {"assessment_id": "h", "weight": 3.0},
               {"assessment_id": "late", "weight": 2.0}, {"assessment_id": "x", "weight": 0.0}]
    past = assessment(id="h", deadline=T0, kind="homework", scoring="best")
    missing = domain.grade_item(past, [], None, None, T0 + timedelta(days=1))
    assert (missing["state"], missing["percent"]) == ("missing", 0.0)
    future = domain.grade_item(assessment(id="late", kind="quiz", scoring="best"), [], None, None, T0)
    assert (future["state"], future["percent"]) == ("not_due", None)
    ungraded = domain.grade_item(assessment(id="late", kind="homework", scoring="best"),
                                 [{"attempt": 1, "status": "submitted", "score": None}], None, None, T0)
    assert ungraded["state"] == "ungraded"
    quiz = {"assessment_id": "q", "percent": 80.0}
    assert domain.weighted_total(columns, [quiz, missing, future, ungraded]) == 20.0  # (80*1 + 0*3) / 4
    assert domain.weighted_total(columns, [future]) is None
    overridden = domain.grade_item(past, [], {"percent": 50.0, "reason": "illness"}, None, T0 + timedelta(days=1))
    assert (overridden["state"], overridden["percent"], overridden["computed_percent"]) == ("overridden", 50.0, 0.0)


def test_a_paper_is_the_same_on_every_reload_and_differs_between_students_and_attempts():
    pool = [{"id": f"q{i}", "kind": "single_choice", "text": "?", "points": 1.0, "options": [
        {"id": f"o{j}", "text": str(j), "correct": j == 0} for j in range(4)]} for i in range(20)]
    a = {"id": "quiz1", "questions": pool, "quiz": {"question_ids": [q["id"] for q in pool], "draw": 5}}
    first = domain.paper(a, "ann", 1)
    assert first == domain.paper(a, "ann", 1)
    assert len(first) == 5 and len({q["id"] for q in first}) == 5
    others = [domain.paper(a, "bob", 1), domain.paper(a, "ann", 2)]
    assert all([q["id"] for q in other] != [q["id"] for q in first] for other in others)
    orders = {tuple(o["id"] for o in q["options"]) for q in first}
    assert len(orders) > 1  # options are shuffled
    shown = domain.student_paper(first)
    assert all("correct" not in o for q in shown for o in q["options"])
    fixed = {**a, "quiz": {"question_ids": [q["id"] for q in pool[:3]], "draw": None}, "questions": pool[:3]}
    assert [q["id"] for q in domain.paper(fixed, "ann", 1)] == ["q0", "q1", "q2"]


def test_competition_runs_record_once_and_corrections_keep_history():
    a = {"id": "c1", "school_id": "jufe", "program_id": "p1", "max_score": 200.0}
    kw = dict(assessment=a, entry_id="e1", subject={"team_id": "t1", "student_id": None},
              by={"recorded_by": "partner:k", "recorded_by_person": None}, partner_id="xmall")
    outcome, entry = domain.record_run(None, {"run_id": "r1", "score": 150.0}, now=T0, **kw)
    assert (outcome, entry["percent"], entry["revision"]) == ("recorded", 75.0, 1)
    assert domain.record_run(entry, {"run_id": "r1", "score": 150.0}, now=T0, **kw)[0] == "unchanged"
    outcome, corrected = domain.record_run(entry, {"run_id": "r1", "score": 120.0}, now=T0 + timedelta(hours=1), **kw)
    assert (outcome, corrected["score"], corrected["revision"]) == ("corrected", 120.0, 2)
    assert [h["score"] for h in corrected["history"]] == [150.0]
    with pytest.raises(InvalidInput):
        domain.record_run(entry, {"run_id": "r1", "score": 1.0}, now=T0,
                          **{**kw, "subject": {"team_id": "t2", "student_id": None}})


def _refusal(schema, data):
    with pytest.raises(InvalidInput) as refused:
        load(schema, data)
    return refused.value.errors


def test_malformed_questions_are_refused_with_the_field_and_the_reason():
    def bank(*questions):
        return _refusal(QuestionBankCreateSchema, {"questions": list(questions)})
    no_right = bank({"id": "q1", "kind": "single_choice", "text": "?", "options": [
        {"id": "a", "text": "A"}, {"id": "b", "text": "B"}]})
    assert "needs a correct option" in no_right["questions"][0]["options"][0]
    no_tolerance = bank({"id": "q1", "kind": "numeric", "text": "?", "value": 3})
    assert "tolerance" in no_tolerance["questions"][0]["tolerance"][0]
    duplicate = bank({"id": "q1", "kind": "true_false", "text": "?", "answer": True},
                     {"id": "q1", "kind": "true_false", "text": "?", "answer": False})
    assert "duplicate question ids: q1" in duplicate["questions"][0]


def test_a_rubric_whose_levels_are_not_ordered_is_refused():
    base = {"kind": "homework", "title": "H", "module": "ops", "opens_at": T0.isoformat(),
            "deadline": (T0 + timedelta(days=1)).isoformat()}
    errors = _refusal(AssessmentCreateSchema, {**base, "rubric": {"criteria": [{"id": "c", "title": "C", "levels": [
        {"id": "hi", "title": "High", "points": 5}, {"id": "lo", "title": "Low", "points": 1}]}]}})
    assert "strictly rising" in errors["rubric"]["criteria"][0]["levels"][0]
    quiz = _refusal(AssessmentCreateSchema, {**base, "kind": "quiz", "quiz": {"question_ids": ["a", "a"]}})
    assert "duplicate" in quiz["quiz"]["question_ids"][0]
