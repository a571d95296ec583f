"""The gradebook: one row per student with each assessment's state and percent and the
weighted total (the rules are in services.assessment.domain: grade_item, weighted_total)."""
from services.assessment import access, domain


def columns(store, school_id, program_id):
    """Every published assessment except the rules quiz (a selection tool, not a grade)."""
    return [a for a in store.list_assessments(school_id, program_id, status="published")
            if a["kind"] != "rules_quiz"]


def rows(store, program_id, students, assessments, now):
    """The rows of ``students`` for the ``assessments`` (the gradebook's columns)."""
    teams = store.teams(program_id)
    by_work, overrides, runs = {}, {}, {}
    for s in store.program_submissions(program_id):
        by_work.setdefault((s["assessment_id"], s["student_id"]), []).append(s)
    for o in store.program_overrides(program_id):
        overrides[(o["assessment_id"], o["student_id"])] = o
    for e in store.competition_entries(program_id=program_id):
        runs.setdefault((e["assessment_id"], e["team_id"] or e["student_id"]), []).append(e)
    found = []
    for student in students:
        sid = student["student_id"]
        team = access.team_of(store, program_id, sid, teams)
        items = []
        for a in assessments:
            if not domain.is_for(a, student.get("track")):
                continue
            run = domain.counted_run(runs.get((a["id"], sid)), a["scoring"]) or \
                (domain.counted_run(runs.get((a["id"], team["id"])), a["scoring"]) if team else None)
            items.append(domain.grade_item(a, by_work.get((a["id"], sid), []), overrides.get((a["id"], sid)),
                                           run["percent"] if run else None, now))
        found.append({"student_id": sid, "track": student.get("track"), "team_id": team["id"] if team else None,
                     "items": items, "total": domain.weighted_total(
                         [{"assessment_id": a["id"], "weight": a["weight"]} for a in assessments], items)})
    return found
