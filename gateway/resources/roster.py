"""/programs/{id}/roster and /programs/{id}/roster.csv: the admitted students
with track, team, mentor, tutor and status (enrollment service)."""
import csv
import io

from flask import Response, stream_with_context
from flask_smorest import Blueprint

from contracts.enrollment import ROSTER_COLUMNS, RosterQuerySchema, RosterSchema
from gateway.auth import acting, roles
from gateway.resources import call, reply

blp = Blueprint("roster", __name__, description="The programme's roster, also as CSV")
CSV_PAGE = 1000  # rows per RPC while the CSV streams


@blp.route("/programs/<program_id>/roster", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.arguments(RosterQuerySchema, location="query")
@blp.response(200, RosterSchema)
def get_roster(query, program_id):
    """A page of the admitted students (and those who withdrew after admission) with
    track, team, mentor, tutor and status (``limit``/``offset``, ``has_more``)."""
    return reply(call("enrollment", "roster", program_id, query))


@blp.route("/programs/<program_id>/roster.csv", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.doc(responses={"200": {"description": "The roster as CSV",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_roster_csv(program_id):
    """The roster as CSV (one row per student, a header line first), streamed a page
    at a time: the gateway never holds the whole roster."""
    first = call("enrollment", "roster", program_id, {"limit": CSV_PAGE, "offset": 0})  # errors before streaming

    def lines():
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        page, offset = first, 0
        while True:
            for row in page["rows"]:
                writer.writerow({k: _cell(v) for k, v in row.items()})
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if not page["has_more"]:
                return
            offset += CSV_PAGE
            page = call("enrollment", "roster", program_id, {"limit": CSV_PAGE, "offset": offset})

    return Response(stream_with_context(lines()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="roster-{program_id}.csv"'})


def _cell(value):
    """No formula injection when the file is opened in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
