"""What a supervisor reads about attendance: the programme's students x sessions
matrix with totals, and one student's history (plain functions, no storage)."""
from contracts.content import ATTENDANCE_STATUSES
from services.content.domain import session_is_for

NOT_YET = "not_yet"
CELLS = (*ATTENDANCE_STATUSES, NOT_YET)


def cell(session, track, record, now):
    """A student's status in a session: the record's, else ``not_yet`` (before the
    session ends, or any time for a recorded one: the replay may still be watched)
    or ``absent``; None when the session is not for the student's track."""
    if not session_is_for(session, track):
        return None
    if record and record.get("status"):
        return record["status"]
    if session["form"] == "recorded" or now < session["ends_at"]:
        return NOT_YET
    return "absent"


def _totals(cells):
    counts = dict.fromkeys(CELLS, 0)
    for value in cells:
        if value is not None:
            counts[value] += 1
    return counts


def matrix(program_id, students, sessions, records, now):
    """``students``: admitted (student_id, track); ``sessions``: in time order;
    ``records``: their attendance records. Cells follow the sessions' order."""
    by_key = {(r["session_id"], r["student_id"]): r for r in records}
    rows = []
    for student in sorted(students, key=lambda s: s["student_id"]):
        cells = [cell(s, student["track"], by_key.get((s["id"], student["student_id"])), now) for s in sessions]
        rows.append({"student_id": student["student_id"], "track": student["track"], "cells": cells,
                     "totals": _totals(cells)})
    columns = [{"session_id": s["id"], "title": s["title"], "form": s["form"], "starts_at": s["starts_at"],
                "ends_at": s["ends_at"], "totals": _totals(row["cells"][i] for row in rows)}
               for i, s in enumerate(sessions)]
    return {"program_id": program_id, "statuses": list(CELLS), "sessions": columns, "students": rows,
            "totals": _totals(c for row in rows for c in row["cells"])}


def history(program_id, student, sessions, records, now):
    """One student's attendance across the programme's sessions for their track."""
    by_session = {r["session_id"]: r for r in records}
    items = []
    for session in sessions:
        status = cell(session, student["track"], by_session.get(session["id"]), now)
        if status is None:
            continue
        record = by_session.get(session["id"]) or {}
        items.append({"session_id": session["id"], "title": session["title"], "form": session["form"],
                      "starts_at": session["starts_at"], "status": status, "source": record.get("source"),
                      "corrected": bool(record.get("corrected"))})
    return {"program_id": program_id, "student_id": student["student_id"], "track": student["track"],
            "sessions": items, "totals": _totals(i["status"] for i in items)}


def csv_rows(report):
    """The matrix as CSV rows: a header, one row per student with their totals,
    then one row per status with the per-session totals."""
    titles = [f"{s['title']} ({s['starts_at'].date() if hasattr(s['starts_at'], 'date') else s['starts_at'][:10]})"
              for s in report["sessions"]]
    yield ["student_id", "track", *titles, *report["statuses"]]
    for row in report["students"]:
        yield [row["student_id"], row["track"], *[c or "" for c in row["cells"]],
               *[row["totals"][s] for s in report["statuses"]]]
    for status in report["statuses"]:
        yield [f"total {status}", "", *[s["totals"][status] for s in report["sessions"]],
               *["" for _ in report["statuses"]]]
