"""/programs/{id}/gradebook (JSON, paged), /programs/{id}/gradebook.csv and
/programs/{id}/grade-overrides (assessment service)."""
import csv
import io

from flask import Response
from flask_smorest import Blueprint

from contracts.assessment import (GradebookQuerySchema, GradebookSchema, OverrideCreateSchema, OverrideSchema,
                                  TOTAL_RULE)
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply
from gateway.resources.roster import _cell

blp = Blueprint("gradebook", __name__, description="The gradebook of a programme, with overrides")

PAGE = 500


@blp.route("/programs/<program_id>/gradebook", methods=["GET"])
@roles("admin", "lms", "partner")
@acting("student", "staff")
@blp.arguments(GradebookQuerySchema, location="query")
@blp.response(200, GradebookSchema)
def get_gradebook(query, program_id):
    """One row per admitted student with each assessment's state (not_due, missing,
    ungraded, returned, graded, late, overridden) and percent, and the weighted total.
    A student sees their own row, a mentor or tutor their teams' students."""
    return reply(call("assessment", "gradebook", program_id, query))


@blp.route("/programs/<program_id>/gradebook.csv", methods=["GET"])
@roles("admin", "lms")
@acting("staff")
@blp.doc(responses={"200": {"description": "The gradebook as CSV: student, track, team, one column per "
                                           "assessment (the percent, marked '(override)', '(missing)' or '(late)'; the "
                                           "state when nothing counts yet), total. "
                                           + TOTAL_RULE,
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_gradebook_csv(program_id):
    """The whole gradebook as CSV (a header line first)."""
    pages, offset = [], 0
    while True:
        page = call("assessment", "gradebook", program_id, {"limit": PAGE, "offset": offset})
        pages.append(page)
        offset += PAGE
        if offset >= page["total_rows"]:
            break
    columns = pages[0]["columns"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["student_id", "track", "team_id",
                     *[f"{c['title']} ({c['kind']}, weight {c['weight']:g}) [{c['assessment_id']}]" for c in columns],
                     "total"])
    for page in pages:
        for row in page["rows"]:
            items = {i["assessment_id"]: i for i in row["items"]}
            writer.writerow([_cell(row["student_id"]), _cell(row["track"]), _cell(row["team_id"]),
                             *[_grade_cell(items.get(c["assessment_id"])) for c in columns], _cell(row["total"])])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="gradebook-{program_id}.csv"'})


SUFFIX = {"overridden": " (override)", "missing": " (missing)", "late": " (late)"}


def _grade_cell(item):
    """The percent that counts, marked when it is an override, missing work or late
    work; the state alone when nothing counts yet; empty when not for the track."""
    if item is None:
        return ""
    if item["percent"] is None:
        return item["state"]
    return f"{item['percent']:g}{SUFFIX.get(item['state'], '')}"


@blp.route("/programs/<program_id>/grade-overrides", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.arguments(OverrideCreateSchema)
@blp.response(201, OverrideSchema)
def override_grade(data, program_id):
    """School staff override a student's percent for an assessment with a reason; the
    computed percent is kept beside it (emits grade.overridden)."""
    return reply(call("assessment", "override_grade", program_id, data), 201)
