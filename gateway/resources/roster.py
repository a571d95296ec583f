"""/programs/{id}/roster and /programs/{id}/roster.csv: the admitted students
with track, team, mentor, tutor and status (enrollment service)."""
import csv
import io

from flask import Response
from flask_smorest import Blueprint

from contracts.enrollment import ROSTER_COLUMNS, RosterSchema
from gateway.auth import acting, roles
from gateway.resources import call, reply

blp = Blueprint("roster", __name__, description="The programme's roster, also as CSV")


@blp.route("/programs/<program_id>/roster", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.response(200, RosterSchema)
def get_roster(program_id):
    """Admitted students (and those who withdrew after admission) with track,
    team, mentor, tutor and status."""
    return reply(call("enrollment", "roster", program_id))


@blp.route("/programs/<program_id>/roster.csv", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.doc(responses={"200": {"description": "The roster as CSV",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_roster_csv(program_id):
    """The roster as CSV (one row per student, a header line first)."""
    roster = call("enrollment", "roster", program_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in roster["rows"]:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="roster-{program_id}.csv"'})


def _cell(value):
    """No formula injection when the file is opened in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
