"""The rules of assessment as plain functions (no I/O): quiz papers drawn per
student and attempt, server-side scoring of every question kind, late penalties,
attempts and which one counts, rubric totals, and the gradebook's weighted total.

Records are plain dicts (as the repository stores them). Times are aware datetimes.
"""
import hashlib
import math
import random
import re

from contracts.errors import Conflict, InvalidInput
from services.common.acting import stamp

DAY = 86400.0
QUIZ_KINDS = ("quiz", "rules_quiz")
# kinds a student hands in (quizzes and homework); competition scores come from the partner
STUDENT_WORK = ("quiz", "rules_quiz", "homework")


# --- assessments ---------------------------------------------------------------

def check_tracks(tracks, program):
    unknown = sorted(set(tracks) - set(program.get("tracks") or []))
    if unknown:
        raise InvalidInput("unknown tracks", {"tracks": [f"not a track of the programme: {', '.join(unknown)}"]})


def quiz_questions(spec, bank):
    """The bank questions a quiz uses (a snapshot kept with the quiz: later bank
    additions never change a paper); refuse ids the bank does not hold."""
    missing = [qid for qid in spec["question_ids"] if qid not in bank]
    if missing:
        raise InvalidInput("the quiz names questions the bank does not hold",
                           {"quiz": {"question_ids": [f"unknown question ids: {', '.join(missing)}"]}})
    return [bank[qid] for qid in spec["question_ids"]]


def rubric_max(rubric):
    return sum(c["levels"][-1]["points"] for c in rubric["criteria"])


def max_score(data, questions):
    """The assessment's points. A quiz that draws from a pool says the richest paper's;
    each student's paper is scored against its own maximum (and counts in percent)."""
    if data["kind"] in QUIZ_KINDS:
        points = sorted((q["points"] for q in questions), reverse=True)
        return float(sum(points[:data["quiz"]["draw"] or len(points)]))
    if data["kind"] == "homework":
        return float(rubric_max(data["rubric"]))
    return float(data["max_score"])


def new_assessment(data, *, program, caller, assessment_id, questions, now, partner_id, status):
    check_tracks(data["tracks"], program)
    return {
        "id": assessment_id, "school_id": caller["school_id"], "program_id": program["id"],
        "kind": data["kind"], "title": data["title"], "module": data["module"],
        "description": data["description"], "opens_at": data["opens_at"], "deadline": data["deadline"],
        "late_policy": data["late_policy"], "max_attempts": data["max_attempts"],
        "scoring": data["scoring"], "tracks": data["tracks"], "weight": data["weight"],
        "quiz": data["quiz"], "questions": questions, "rubric": data["rubric"],
        "max_score": max_score(data, questions), "status": status, "partner_id": partner_id,
        **stamp(caller, "proposed_by"), "review_reason": None, "missed_scanned": False,
        "created_at": now, "updated_at": now,
    }


def change_assessment(assessment, changes, *, program, now):
    if assessment["status"] in ("rejected", "cancelled"):
        raise Conflict(f"a {assessment['status']} assessment cannot change")
    if "tracks" in changes:
        check_tracks(changes["tracks"], program)
    changed = {**assessment, **changes, "updated_at": now}
    if changed["deadline"] <= changed["opens_at"]:
        raise InvalidInput("deadline must be after opens_at", {"deadline": ["must be after opens_at"]})
    if changes.get("deadline") and changes["deadline"] > assessment["deadline"]:
        changed["missed_scanned"] = False  # a later deadline: missing work is judged again then
    return changed


def review(assessment, decision, reason, *, now):
    if assessment["status"] != "proposed":
        raise Conflict(f"only a proposed assessment is reviewed; this one is {assessment['status']}")
    return {**assessment, "status": "published" if decision == "approve" else "rejected",
            "review_reason": reason or None, "updated_at": now}


def is_for(assessment, track):
    return not assessment["tracks"] or track in assessment["tracks"]


def published_payload(a):
    policy = a["late_policy"]
    return {"program_id": a["program_id"], "assessment_id": a["id"], "assessment_kind": a["kind"],
            "module": a["module"], "title": a["title"], "tracks": a["tracks"], "opens_at": a["opens_at"],
            "deadline": a["deadline"], "max_attempts": a["max_attempts"], "weight": a["weight"],
            "max_score": a["max_score"], "late_accepted": policy["accept"],
            "late_penalty_per_day": policy["penalty_per_day"], "late_penalty_cap": policy["penalty_cap"],
            "partner_id": a["partner_id"]}


# --- papers: drawn per student and attempt ---------------------------------------------

def _rng(*parts):
    seed = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return random.Random(int(seed[:16], 16))


def paper(assessment, student_id, attempt):
    """The questions of this student's attempt, options shuffled: the same every
    time for the same (assessment, student, attempt), so a reload shows the same paper."""
    rng = _rng(assessment["id"], student_id, attempt)
    questions = list(assessment["questions"])
    draw = (assessment["quiz"] or {}).get("draw")
    if draw:
        questions = rng.sample(questions, draw)
    drawn = []
    for question in questions:
        options = list(question.get("options") or [])
        rng.shuffle(options)
        drawn.append({**question, "options": options})
    return drawn


def student_paper(questions):
    """What a student sees: no keys."""
    return [{"id": q["id"], "kind": q["kind"], "text": q["text"], "points": q["points"],
             "options": [{"id": o["id"], "text": o["text"]} for o in q.get("options") or []]}
            for q in questions]


# --- scoring ------------------------------------------------------------------------------

def _normal_text(text):
    return re.sub(r"\s+", "", text).casefold()


def _is_number(value):
    """A finite number a float holds (a JSON integer may be far larger)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def answer_error(question, given):
    """Why ``given`` is not an answer of the question's kind (None if it is)."""
    kind = question["kind"]
    option_ids = {o["id"] for o in question.get("options") or []}
    if kind == "single_choice" and not (isinstance(given, str) and given in option_ids):
        return "must be one of the question's option ids"
    if kind == "multiple_choice" and not (isinstance(given, list) and all(
            isinstance(g, str) and g in option_ids for g in given) and len(set(given)) == len(given)):
        return "must be a list of distinct option ids of the question"
    if kind == "true_false" and not isinstance(given, bool):
        return "must be true or false"
    if kind == "numeric" and not _is_number(given):
        return "must be a number"
    if kind == "short_text" and not (isinstance(given, str) and len(given) <= 1000):
        return "must be text (at most 1000 characters)"
    return None


def question_points(question, given):
    """Points earned (see BankQuestionSchema for the rules); an unanswered question earns 0."""
    if given is None:
        return 0.0
    kind, points = question["kind"], float(question["points"])
    if kind == "single_choice":
        right = next(o["id"] for o in question["options"] if o["correct"])
        return points if given == right else 0.0
    if kind == "multiple_choice":
        right = {o["id"] for o in question["options"] if o["correct"]}
        chosen = set(given)
        share = (len(chosen & right) - len(chosen - right)) / len(right)
        return round(points * max(0.0, share), 4)
    if kind == "true_false":
        return points if given is question["answer"] else 0.0
    if kind == "numeric":
        return points if abs(given - question["value"]) <= question["tolerance"] + 1e-9 else 0.0
    if kind == "short_text":
        return points if _normal_text(given) in {_normal_text(a) for a in question["accepted"]} else 0.0
    raise ValueError(f"unknown question kind {kind}")


def answer_key(question):
    kind = question["kind"]
    if kind == "single_choice":
        return next(o["id"] for o in question["options"] if o["correct"])
    if kind == "multiple_choice":
        return [o["id"] for o in question["options"] if o["correct"]]
    if kind == "true_false":
        return question["answer"]
    if kind == "numeric":
        return {"value": question["value"], "tolerance": question["tolerance"]}
    return list(question["accepted"])


def score_quiz(questions, answers):
    """(raw points, max points, per-question results); refuse answers to questions
    not on the paper or of the wrong shape, naming the question."""
    by_id = {q["id"]: q for q in questions}
    errors = {}
    for qid, given in answers.items():
        if qid not in by_id:
            errors[qid] = ["is not a question of this paper"]
        elif given is not None and answer_error(by_id[qid], given):
            errors[qid] = [answer_error(by_id[qid], given)]
    if errors:
        raise InvalidInput("some answers do not fit their questions", {"answers": errors})
    results = [{"question_id": q["id"], "given": answers.get(q["id"]),
                "points": question_points(q, answers.get(q["id"])), "max_points": float(q["points"]),
                "correct": answer_key(q)} for q in questions]
    return (round(sum(r["points"] for r in results), 4), float(sum(q["points"] for q in questions)), results)


# --- deadlines, lateness, attempts ---------------------------------------------------------

def days_late(deadline, at):
    """Days started after the deadline (0 on time): one second late is one day."""
    seconds = (at - deadline).total_seconds()
    return 0 if seconds <= 0 else math.ceil(seconds / DAY)


def late_penalty(policy, days):
    """Percent taken off: per day started, never more than the cap."""
    return 0.0 if days <= 0 else float(min(policy["penalty_cap"], policy["penalty_per_day"] * days))


def after_penalty(raw, penalty):
    return round(raw * (1 - penalty / 100.0), 4)


def percent(score, maximum):
    return round(100.0 * score / maximum, 2) if maximum else 0.0


def submission_refusal(assessment, attempt, now):
    """Why this attempt may not be handed in now (None if it may)."""
    if assessment["status"] != "published":
        return "the assessment is not published"
    if now < assessment["opens_at"]:
        return "the assessment is not open yet"
    if attempt > assessment["max_attempts"]:
        return f"no attempts left: at most {assessment['max_attempts']}"
    if now > assessment["deadline"] and not assessment["late_policy"]["accept"]:
        return "the deadline has passed and late work is refused"
    return None


def next_attempt(submissions):
    return max((s["attempt"] for s in submissions), default=0) + 1


def counted(submissions, scoring):
    """The graded submission that counts: the best (earliest of equals) or the last attempt."""
    graded = [s for s in submissions if s.get("score") is not None and s["status"] == "graded"]
    if not graded:
        return None
    if scoring == "last":
        return max(graded, key=lambda s: s["attempt"])
    # by percent: papers drawn from a pool may differ in their points
    return max(graded, key=lambda s: (s["percent"], -s["attempt"]))


def new_submission(assessment, student, team_id, attempt, data, *, submission_id, caller, now):
    days = days_late(assessment["deadline"], now)
    return {
        "id": submission_id, "school_id": assessment["school_id"], "program_id": assessment["program_id"],
        "assessment_id": assessment["id"], "assessment_kind": assessment["kind"],
        "module": assessment["module"], "student_id": student["student_id"], "team_id": team_id,
        "track": student.get("track"), "attempt": attempt, "status": "submitted", "submitted_at": now,
        "late": days > 0, "days_late": days, "late_penalty": late_penalty(assessment["late_policy"], days),
        "text": data.get("text") or None, "links": data.get("links") or [], "answers": data.get("answers") or {},
        "revision": 1, "max_score": assessment["max_score"], "raw_score": None, "score": None,
        "percent": None, "levels": None, "comments": None, "comment": None, "graded_by": None,
        "graded_by_person": None, "graded_at": None, "returned_by": None, "returned_by_person": None,
        "returned_at": None, "return_comment": None,
        "results": None, **stamp(caller, "submitted_by"), "deadline": assessment["deadline"],
    }


AUTO = {"graded_by": "auto", "graded_by_person": None}  # scored by the server


def graded(submission, raw, *, by, now, **fields):
    """The submission with its score: the late penalty taken off the raw points.
    ``by``: the audit fields of the grader (``stamp(caller, "graded_by")``, or AUTO)."""
    graded = {**submission, **fields}
    score = after_penalty(raw, graded["late_penalty"])
    return {**graded, "status": "graded", "raw_score": raw, "score": score,
            "percent": percent(score, graded["max_score"]), **by, "graded_at": now}


# --- rubrics ---------------------------------------------------------------------------------

def rubric_total(rubric, levels):
    """The total of the levels picked, one per criterion (computed, never typed)."""
    criteria = {c["id"]: c for c in rubric["criteria"]}
    errors = {}
    for cid in levels:
        if cid not in criteria:
            errors[cid] = ["is not a criterion of the rubric"]
    for cid, criterion in criteria.items():
        if cid not in levels:
            errors[cid] = ["pick a level"]
        elif levels[cid] not in {lv["id"] for lv in criterion["levels"]}:
            errors[cid] = [f"not a level of {cid}"]
    if errors:
        raise InvalidInput("pick one level of the rubric per criterion", {"levels": errors})
    return float(sum(next(lv["points"] for lv in criteria[cid]["levels"] if lv["id"] == level)
                     for cid, level in levels.items()))


def return_refusal(submission):
    if submission["assessment_kind"] != "homework":
        return "only homework is returned for revision"
    if submission["returned_at"] is not None:
        return "a submission is returned for revision once"
    if submission["status"] != "submitted":
        return f"only an ungraded submission is returned; this one is {submission['status']}"
    return None


def submission_payload(s, **extra):
    return {"program_id": s["program_id"], "assessment_id": s["assessment_id"],
            "assessment_kind": s["assessment_kind"], "module": s["module"], "student_id": s["student_id"],
            "team_id": s["team_id"], "track": s["track"], "deadline": s["deadline"], "submission_id": s["id"],
            "attempt": s["attempt"], "submitted_at": s["submitted_at"], "late": s["late"],
            "days_late": s["days_late"], "on_time": not s["late"], **extra}


def graded_payload(s, counted_percent):
    return submission_payload(s, score=s["score"], raw_score=s["raw_score"], max_score=s["max_score"],
                              percent=s["percent"], late_penalty=s["late_penalty"], graded_at=s["graded_at"],
                              graded_by=s["graded_by"], counted_percent=counted_percent)


# --- competition scores -------------------------------------------------------------------------

def record_run(existing, result, *, assessment, entry_id, subject, by, partner_id, now):
    """``by``: the audit fields of who posts (``stamp(caller, "recorded_by")``)."""
    """(outcome, entry): a new run is recorded; the same run with the same score
    changes nothing; the same run with another score is a correction (history kept)."""
    if existing is None:
        return "recorded", {
            "id": entry_id, "school_id": assessment["school_id"], "program_id": assessment["program_id"],
            "assessment_id": assessment["id"], "run_id": result["run_id"], **subject,
            "score": result["score"], "max_score": assessment["max_score"],
            "percent": percent(result["score"], assessment["max_score"]), "revision": 1, "history": [],
            "partner_id": partner_id, **by, "recorded_at": now}
    if (existing.get("team_id"), existing.get("student_id")) != (subject.get("team_id"), subject.get("student_id")):
        raise InvalidInput(f"run {result['run_id']} was recorded for another team or student",
                           {"results": [f"run {result['run_id']}: another subject"]})
    if existing["score"] == result["score"]:
        return "unchanged", existing
    history = existing["history"] + [{k: existing.get(k) for k in
                                      ("score", "recorded_at", "recorded_by", "recorded_by_person")}]
    return "corrected", {**existing, "score": result["score"],
                         "percent": percent(result["score"], existing["max_score"]),
                         "revision": existing["revision"] + 1, "history": history, **by, "recorded_at": now}


def counted_run(entries, scoring):
    """The run that counts for a team or student: the best, or the last recorded."""
    if not entries:
        return None
    if scoring == "last":  # the run posted last (a correction does not make a run newer)
        return max(entries, key=lambda e: e.get("created_at") or e["recorded_at"])
    return max(entries, key=lambda e: e["score"])


# --- the gradebook -----------------------------------------------------------------------------

def grade_item(assessment, submissions, override, competition_percent, now):
    """One cell: the state and the percent that counts."""
    due = now > assessment["deadline"]
    item = {"assessment_id": assessment["id"], "state": "not_due", "percent": None, "computed_percent": None,
            "override_percent": None, "override_reason": None, "late": False}
    if assessment["kind"] == "competition":
        if competition_percent is not None:
            item.update(state="graded", computed_percent=competition_percent)
        elif due:
            item.update(state="missing", computed_percent=0.0)
    else:
        best = counted(submissions, assessment["scoring"])
        if best is not None:
            item.update(state="late" if best["late"] else "graded", computed_percent=best["percent"],
                        late=best["late"])
        elif any(s["status"] == "returned" for s in submissions):
            item["state"] = "returned"
        elif submissions:
            item["state"] = "ungraded"
        elif due:
            item.update(state="missing", computed_percent=0.0)
    item["percent"] = item["computed_percent"]
    if override is not None:
        item.update(state="overridden", percent=override["percent"], override_percent=override["percent"],
                    override_reason=override["reason"])
    return item


def weighted_total(columns, items):
    """See contracts.assessment.TOTAL_RULE: items without a percent are left out."""
    weights = {c["assessment_id"]: c["weight"] for c in columns}
    counting = [(weights[i["assessment_id"]], i["percent"]) for i in items
                if i["percent"] is not None and weights[i["assessment_id"]] > 0]
    total_weight = sum(w for w, _ in counting)
    if not total_weight:
        return None
    return round(sum(w * p for w, p in counting) / total_weight, 2)
