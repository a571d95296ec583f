"""The programme report: one row per student, attendance per session, mentor
responsiveness and instructor scores (plain functions over the projections)."""
import csv
import io
import statistics

from contracts.supervision import FUNNEL_STAGES
from services.supervision import domain

CSV_COLUMNS = ("student_id", "track", "team_id", "stage", "attendance_rate", "platform_activity",
               "last_platform_activity_at", "submissions", "missing_work", "credits", "open_alerts")


def furthest_stage(student):
    reached = [s for s in FUNNEL_STAGES if s in student["stages"]]
    return reached[-1] if reached else None


def programme_report(program, students, alerts, now):
    teams = domain.team_index(program)
    open_alerts = {}
    for alert in alerts:
        if alert["status"] != "resolved" and alert.get("student_id"):
            open_alerts[alert["student_id"]] = open_alerts.get(alert["student_id"], 0) + 1
    tracked_work = "submitting" not in domain.untracked_stages(program)
    rows = []
    for student in sorted(students, key=lambda s: s["student_id"]):
        rate, _, _ = domain.attendance_standing(program, student, now)
        team = teams.get(student["student_id"])
        rows.append({
            "student_id": student["student_id"], "track": student.get("track"),
            "team_id": team and team["id"], "stage": furthest_stage(student),
            "attendance_rate": None if rate is None else round(rate, 4),
            "platform_activity": sum(student["platform"]["counts"].values()),
            "last_platform_activity_at": domain.moment(student["platform"].get("last_ts")),
            "submissions": len(student.get("submitted", {})) if tracked_work else None,
            "missing_work": len(student.get("missed", {})) if tracked_work else None,
            "credits": student.get("credits"),
            "open_alerts": open_alerts.get(student["student_id"], 0)})
    return {"program_id": program["id"], "funnel": domain.funnel_view(program), "students": rows,
            "sessions": session_attendance(program, students),
            "assessments": missing_work(program, students),
            "mentors": mentor_responsiveness(program), "instructors": instructor_scores(program)}


def session_attendance(program, students):
    out = []
    for sid, session in sorted(program.get("sessions", {}).items(), key=lambda kv: kv[1]["starts_ts"]):
        if session["status"] != "scheduled":
            continue
        expected = [s for s in students if s.get("status") == "admitted"
                    and (not session["tracks"] or s.get("track") in session["tracks"])]
        attended = sum(1 for s in expected if s["attended"].get(sid) in domain.TRAINED_BY)
        out.append({"session_id": sid, "title": session.get("title", ""), "starts_at": domain.iso(session["starts_ts"]),
                    "attended": attended, "expected": len(expected),
                    "rate": round(attended / len(expected), 4) if expected else None})
    return out


def missing_work(program, students):
    """Per assessment: how many handed in, how many missed the deadline."""
    return [{"assessment_id": aid, "title": a["title"], "kind": a["kind"], "deadline": domain.iso(a["deadline_ts"]),
             "submitted": sum(1 for s in students if aid in s.get("submitted", {})),
             "missed": sum(1 for s in students if aid in s.get("missed", {}))}
            for aid, a in sorted(program.get("assessments", {}).items(), key=lambda kv: kv[1]["deadline_ts"])]


def mentor_responsiveness(program):
    mentors = set(program.get("answers", {})) | set(program.get("overdue", {}))
    return [{"mentor_id": m, "answered": len(program.get("answers", {}).get(m, [])),
             "median_answer_hours": (round(statistics.median(program["answers"][m]) / 3600, 2)
                                     if program.get("answers", {}).get(m) else None),
             "overdue": program.get("overdue", {}).get(m, 0)} for m in sorted(mentors)]


def instructor_scores(program):
    return [{"instructor_id": i, "score": round(v["sum"] / v["n"], 2), "responses": v["n"]}
            for i, v in sorted(program.get("instructors", {}).items()) if v["n"]]


def report_csv(report):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report["students"]:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS})
    return out.getvalue()
