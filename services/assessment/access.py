"""Who sees what in assessment, as plain functions over the repository and the caller.

A student (the LMS acting ``student:<id>``) sees only their own work; a mentor or tutor
(the LMS acting ``staff:<id>`` for a team's tutor or mentor, or a partner key naming its
mentor ``staff:<id>``) only their teams'; school staff (an admin key, or the LMS acting
for staff who mentor or tutor no team) everything of their school; a partner its own
proposals, the competition scores it posted, and the programmes it works in (it teaches
a module, mentors a team or runs an assessment there). Another school's anything, and
a programme a partner has no part in, answer 404.
"""
from contracts.assessment import AssessmentSchema, SubmissionSchema
from contracts.base import dump
from contracts.errors import Forbidden, NotFound
from services.assessment import domain
from services.common.acting import acting_student, named_staff

ALL = None  # a grader scope that covers every team (school staff)


def program(store, caller, program_id):
    """The programme, if it is the caller's business: its school's, or a partner's that
    teaches, mentors or runs an assessment there."""
    found = store.get_program(caller["school_id"], program_id)
    if found is None or not partner_may_see(store, caller, program_id):
        raise NotFound(f"no programme {program_id}")
    return found


def partner_may_see(store, caller, program_id):
    return caller["role"] != "partner" or store.partner_in_program(
        caller["school_id"], program_id, caller["partner_id"])


def assessment(store, caller, assessment_id):
    """The assessment as this caller may see it: the LMS and mentors published
    ones (a student only for their track), a partner also its own proposals."""
    a = store.assessments.get(assessment_id, school_id=caller["school_id"])
    if a is None or not may_see(store, caller, a):
        raise NotFound(f"no assessment {assessment_id}")
    return a


def may_see(store, caller, a):
    if caller["role"] == "admin":
        return True
    own = caller["role"] == "partner" and a["partner_id"] == caller.get("partner_id")
    if a["status"] != "published":
        # a proposal: its partner and the school's staff (who review it)
        return own or (caller["role"] == "lms" and named_staff(caller) is not None
                       and scope(store, caller, a["program_id"]) is ALL)
    if caller["role"] == "partner":
        return own or partner_may_see(store, caller, a["program_id"])
    student_id = acting_student(caller)
    if student_id is not None:
        student = store.get_student(caller["school_id"], a["program_id"], student_id)
        return student is not None and domain.is_for(a, student.get("track"))
    return True


def view(caller, a):
    """An assessment as the caller sees it: the quiz's pool only for staff and its partner."""
    shown = dict(a)
    if caller["role"] == "lms" or (caller["role"] == "partner" and a["partner_id"] != caller.get("partner_id")):
        shown["quiz"] = None  # the pool stays with staff and its partner; students get papers
    return dump(AssessmentSchema, shown)


def student(store, caller, a):
    """The acting student, eligible for this assessment (admitted; for the rules
    quiz also while the application is open) and of one of its tracks."""
    student_id = acting_student(caller)
    if student_id is None:
        raise Forbidden("only a student (the LMS acting for one) hands in work")
    found = store.get_student(caller["school_id"], a["program_id"], student_id)
    allowed = ("applied", "admitted") if a["kind"] == "rules_quiz" else ("admitted",)
    if found is None or found["status"] not in allowed:
        raise Forbidden("the student may not take this assessment",
                        {"student_id": ["not admitted" if a["kind"] != "rules_quiz"
                                        else "no open application or admission"]})
    if not domain.is_for(a, found.get("track")):
        raise NotFound(f"no assessment {a['id']}")
    return found


def team_of(store, program_id, student_id, teams=None):
    """The student's team in the programme (``teams``: the programme's, when read already)."""
    for team in teams if teams is not None else store.teams(program_id):
        if student_id in (team.get("members") or []):
            return team
    return None


def scope(store, caller, program_id):
    """The teams whose work this caller may grade and see: ALL (school staff) or a set of team ids."""
    if caller["role"] == "admin":
        return ALL
    person = named_staff(caller)
    if caller["role"] == "partner":
        if person is None:
            return set()
        return {t["id"] for t in store.teams(program_id)
                if t.get("mentor_id") == person and t.get("mentor_partner_id") == caller.get("partner_id")}
    if person is None:  # the LMS acting for a student
        return set()
    mine = {t["id"] for t in store.teams(program_id)
            if person in (t.get("mentor_id"), t.get("tutor_id"), t.get("tutor_person_id"))}
    return mine or ALL  # staff who mentor or tutor no team are the school's staff


def require_school_staff(store, caller, program_id):
    """Not a student, not a partner, not a mentor or tutor: the school's own staff."""
    if acting_student(caller) is not None or caller["role"] == "partner" \
            or scope(store, caller, program_id) is not ALL:
        raise Forbidden("only school staff may do this")


def may_see_work(store, caller, submission, teams=False):
    """``teams``: the caller's scope when known already (else it is looked up)."""
    student_id = acting_student(caller)
    if student_id is not None:
        return submission["student_id"] == student_id
    teams = scope(store, caller, submission["program_id"]) if teams is False else teams
    return teams is ALL or submission.get("team_id") in teams


def submission(store, caller, submission_id):
    """The submission, if the caller may see it (404 otherwise: never say whose it is)."""
    s = store.submissions.get(submission_id, school_id=caller["school_id"])
    if s is None or not may_see_work(store, caller, s):
        raise NotFound(f"no submission {submission_id}")
    return s


def submission_view(store, caller, s, now):
    """A submission as the caller sees it: a student gets the answer keys only after the deadline."""
    shown = dict(s)
    if acting_student(caller) is not None and shown.get("results") is not None:
        deadline = store.assessments.get(s["assessment_id"])["deadline"]  # as it is now
        if now <= deadline:
            shown["results"] = None  # no answer keys before the deadline
    return dump(SubmissionSchema, shown)
