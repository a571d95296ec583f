"""/programs/{id}/applications, /applications/{id}, /programs/{id}/selection:
students apply through the LMS, staff screen and select (enrollment service)."""
from flask import request, url_for
from flask_smorest import Blueprint

from contracts.enrollment import (ApplicationCreateSchema, ApplicationListQuerySchema,
                                  ApplicationPageSchema, ApplicationSchema, ScreeningScoreSchema,
                                  SelectionRunSchema, WithdrawalSchema)
from contracts.errors import InvalidInput
from contracts.jobs import JobSchema
from gateway.auth import acting, roles
from gateway.idempotency import idempotent
from gateway.resources import call, reply

blp = Blueprint("applications", __name__,
                description="Applications to a programme track, screening scores, selection with waitlists")


@blp.route("/programs/<program_id>/applications", methods=["POST"])
@roles("lms", "admin")
@acting("student", "staff")
@idempotent
@blp.arguments(ApplicationCreateSchema)
@blp.response(201, ApplicationSchema)
def submit_application(data, program_id):
    """A student applies to a track (the LMS, for the student). 409 if the student
    already has a live application to the programme."""
    app = call("enrollment", "submit_application", program_id, ApplicationCreateSchema().dump(data))
    return reply(app, 201, {"Location": url_for("applications.get_application", application_id=app["id"])})


@blp.route("/programs/<program_id>/applications", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.arguments(ApplicationListQuerySchema, location="query")
@blp.response(200, ApplicationPageSchema)
def list_applications(query, program_id):
    """The programme's applications in order of arrival, filtered by status and track."""
    return reply(call("enrollment", "list_applications", program_id, query))


@blp.route("/applications/<application_id>", methods=["GET"])
@roles("admin", "lms")
@acting("student", "staff")
@blp.response(200, ApplicationSchema)
def get_application(application_id):
    """One application with its status, score and the reason of its decision."""
    return reply(call("enrollment", "get_application", application_id))


@blp.route("/applications/<application_id>/withdrawal", methods=["POST"])
@roles("lms", "admin")
@acting("student", "staff")
@idempotent
@blp.arguments(WithdrawalSchema)
@blp.response(200, ApplicationSchema)
def withdraw(data, application_id):
    """The student withdraws (before the programme ends). An admitted student's
    place goes to the first waitlisted student of the track automatically."""
    return reply(call("enrollment", "withdraw", application_id, WithdrawalSchema().dump(data)))


@blp.route("/applications/<application_id>/screening-score", methods=["PUT"])
@roles("admin")
@idempotent
@blp.arguments(ScreeningScoreSchema)
@blp.response(200, ApplicationSchema)
def record_screening_score(data, application_id):
    """Staff record a screening score by hand (e.g. from an interview); the
    application becomes screened. 409 once it was decided."""
    return reply(call("enrollment", "record_screening_score", application_id,
                      ScreeningScoreSchema().dump(data)))


@blp.route("/programs/<program_id>/selection", methods=["POST"])
@roles("admin")
@idempotent
@blp.arguments(SelectionRunSchema)
@blp.response(202, JobSchema)
def run_selection(data, program_id):
    """Start the programme's selection as a job (202 with the job at once; follow it
    at /jobs/{id}, whose result lists the decisions): admit the best screened
    applications up to each track's capacity, waitlist the rest, reject those below
    the rules; each decision with its reason. Re-running changes nothing already
    decided. One selection runs at a time per programme (409 with the running job's
    id); a retry with the same Idempotency-Key answers the same job."""
    job = call("enrollment", "start_selection", program_id, SelectionRunSchema().dump(data))
    return reply(job, 202, {"Location": url_for("jobs.get_job", job_id=job["id"])})


IMPORT_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}


@blp.route("/programs/<program_id>/applications/imports", methods=["POST"])
@roles("admin", "lms")
@acting("staff")
@idempotent
@blp.doc(requestBody={"required": True, "description": (
    "The applications, one a line: CSV with a header line (columns "
    "student_id, name, track, major, year_of_study, prior_courses separated by ';', motivation; "
    "the first three required) or JSON lines (one application object a line)."),
    "content": {"text/csv": {"schema": {"type": "string"}, "example": (
        "student_id,name,track,major,year_of_study,prior_courses,motivation\n"
        "s001,Li Wei,undergraduate,E-commerce,3,Marketing;Logistics,Sell abroad\n")},
        "application/x-ndjson": {"schema": {"type": "string"}, "example": (
            '{"student_id": "s001", "name": "Li Wei", "track": "undergraduate"}\n')}}})
@blp.response(202, JobSchema)
def import_applications(program_id):
    """Import applications from a CSV or JSON-lines file as a job (202 with the job
    at once): each line is submitted as one application; the job's progress counts
    done, imported, unchanged, duplicates and rejected lines, and its report gives
    each line's outcome (a rejected line with its number and reason). The same
    file posted again changes nothing (its lines come back unchanged)."""
    kind = IMPORT_TYPES.get(request.mimetype)
    if kind is None:
        raise InvalidInput(f"send the file as {' or '.join(IMPORT_TYPES)}",
                           {"Content-Type": [f"one of {', '.join(IMPORT_TYPES)}"]})
    try:
        content = request.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the file must be UTF-8 text", {"body": ["not UTF-8"]})
    if not content.strip():
        raise InvalidInput("the file is empty", {"body": ["empty"]})
    job = call("enrollment", "start_import", program_id, {"format": kind, "content": content})
    return reply(job, 202, {"Location": url_for("jobs.get_job", job_id=job["id"])})
