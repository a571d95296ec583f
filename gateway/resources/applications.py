"""/programs/{id}/applications, /applications/{id}, /programs/{id}/selection:
students apply through the LMS, staff screen and select (enrollment service)."""
from flask import url_for
from flask_smorest import Blueprint

from contracts.enrollment import (ApplicationCreateSchema, ApplicationListQuerySchema,
                                  ApplicationPageSchema, ApplicationSchema, ScreeningScoreSchema,
                                  SelectionResultSchema, SelectionRunSchema, WithdrawalSchema)
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
@blp.response(200, SelectionResultSchema)
def run_selection(data, program_id):
    """Run the programme's selection rule: admit the best screened applications up
    to each track's capacity, waitlist the rest, reject those below the rules;
    each decision with its reason. Re-running changes nothing already decided."""
    return reply(call("enrollment", "run_selection", program_id, SelectionRunSchema().dump(data)))
