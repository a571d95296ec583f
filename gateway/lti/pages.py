"""The Praxis pages a launch opens (``/lti/app/...``), server-rendered from
gateway/templates/lti/ with the launch session as the caller: the same services,
under the same person, as the API the pages call from the browser (with the
session's CSRF token) when something changes.

- a session: a student's check-in (a sign-in button for the code shown), staff's
  code and live count (and a button that opens the window);
- an assessment: a student's paper (or homework form), handed in from the page,
  and their scores; staff see the submissions;
- a student's credits and badges (a student only their own);
- a programme, and the staff home (the school's programmes, their sessions and
  assessments); staff (Instructor, TeachingAssistant) and LTI administrators also
  open each programme's dashboard (gateway/dashboard.py's page and its data).

Roles follow the API's: the check-in code and count are staff's, and so is the
dashboard (its report, funnel, idle accounts and alerts admit the LMS acting for
staff); a Learner gets 403.
"""
import functools

from flask import Blueprint, g, jsonify, redirect, render_template, request

from contracts.errors import Conflict, NotFound, PraxisError
from contracts.supervision import FUNNEL_STAGES
from gateway.errors import problem
from gateway.lti import session
from gateway.resources import call

bp = Blueprint("lti_pages", __name__, url_prefix="/lti/app")
STAFF_REFRESH = 10  # seconds: the staff session page's live count
LIMIT = {"limit": 200}


def launched(*lti_roles):
    """The page needs a launch session (401), of one of ``lti_roles`` if given (403);
    the session is the caller of the services the page reads."""
    def decorate(view):
        @functools.wraps(view)
        def page(**kwargs):
            current = session.current()
            if current is None:
                return problem(401, "Unauthorized", "no launch session: open Praxis from the LMS")
            if lti_roles and current["lti_role"] not in lti_roles:
                return problem(403, "Forbidden", f"this page is for {' or '.join(lti_roles)}")
            _, refusal = session.caller_from_cookie()
            if refusal is not None:
                return refusal
            g.lti = current
            return view(**kwargs)
        return page
    return decorate


def render(template, title, **data):
    text = render_template(f"lti/{template}", me=g.lti, title=title, page=request.path, **data)
    return text, 200, {"Content-Type": "text/html; charset=utf-8"}


def _student():
    return g.lti["acting"]["kind"] == "student"


@bp.route("/sessions/<session_id>/checkin")
@launched()
def checkin(session_id):
    if not _student():
        return redirect(f"/lti/app/sessions/{session_id}", 302)
    found = call("content", "get_session", session_id)
    return render("checkin.html", f"Check in: {found['title']}", session=found)


@bp.route("/sessions/<session_id>")
@launched()
def session_page(session_id):
    if _student():
        return redirect(f"/lti/app/sessions/{session_id}/checkin", 302)
    found = call("content", "get_session", session_id)
    try:
        code = call("content", "checkin_code", session_id)
    except Conflict:  # no window open now
        code = None
    status = call("content", "checkin_status", session_id, {"limit": 1})
    return render("session.html", found["title"], session=found, code=code, status=status, refresh=STAFF_REFRESH)


@bp.route("/assessments/<assessment_id>")
@launched()
def assessment(assessment_id):
    found = call("assessment", "get_assessment", assessment_id)
    paper = homework = closed = None
    if _student():
        if found["kind"] in ("quiz", "rules_quiz"):
            try:
                paper = call("assessment", "paper", assessment_id, {})
            except PraxisError as exc:  # not open yet, past its deadline, no attempt left
                closed = exc.detail
        else:
            homework = True
    submissions = call("assessment", "list_submissions", assessment_id, LIMIT)["items"]
    return render("assessment.html", found["title"], assessment=found, paper=paper, homework=homework,
                  closed=closed, submissions=submissions)


def _program_names():
    return {p["id"]: p["name"] for p in call("enrollment", "list_programs", LIMIT)["items"]}


@bp.route("/students/<student_id>/credits")
@launched()
def credits(student_id):
    if _student() and student_id != g.lti["acting"]["id"]:
        raise NotFound("no such student")  # a student sees their own credits only
    ledger = call("incentives", "get_ledger", student_id, {})
    badges = call("incentives", "student_badges", student_id, request.host_url.rstrip("/"), LIMIT)["items"]
    return render("credits.html", "Credits and badges", ledger=ledger, badges=badges, names=_program_names())


def _with_items(program):
    sessions = call("content", "list_sessions", program["id"], {"status": "scheduled", "limit": 200})["items"]
    assessments = call("assessment", "list_assessments", program["id"], LIMIT)["items"]
    return dict(program, sessions=sessions, assessments=assessments)


@bp.route("/programs/<program_id>")
@launched()
def program(program_id):
    found = call("enrollment", "get_program", program_id)
    return render("programs.html", found["name"], programs=[_with_items(found)])


@bp.route("/dashboard")
@launched("staff", "admin")
def home():
    """The staff home: the school's programmes (the 20 newest listed), their sessions and assessments."""
    programs = call("enrollment", "list_programs", {"limit": 20})["items"]
    return render("programs.html", "Praxis: your programmes", programs=[_with_items(p) for p in programs])


@bp.route("/programs/<program_id>/dashboard")
@launched("staff", "admin")
def dashboard(program_id):
    from gateway.dashboard import dashboard_data
    text = render_template("dashboard.html", data=dashboard_data(program_id), refresh=STAFF_REFRESH,
                           stages=FUNNEL_STAGES, data_url=f"/lti/app/programs/{program_id}/data.json")
    return text, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.route("/programs/<program_id>/data.json")
@launched("staff", "admin")
def dashboard_json(program_id):
    from gateway.dashboard import dashboard_data
    return jsonify(dashboard_data(program_id))



@bp.route("/deep-linking")
@launched("staff", "admin")
def picker():
    """The instructor's picker (a deep-linking launch): the school's programmes with
    their scheduled sessions and their assessments; the picks go to /lti/deep-linking."""
    programs = [_with_items(p) for p in call("enrollment", "list_programs", {"limit": 50})["items"]]
    return render("picker.html", "Add Praxis items to the course", programs=programs,
                  launch=request.args.get("launch", ""))
