"""The assessment service: thin nameko entrypoints over services.assessment.domain.

Assessments of four kinds (quiz, homework, rules_quiz, competition) per programme
and module; a question bank; papers drawn per student and attempt and scored on
the server; homework graded with rubrics and returned for revision once; the
partner's competition scores; missing work after deadlines; the gradebook with
overrides. Who is admitted, who is in which team and who mentors or tutors it come
from enrollment's events, kept here as a local projection.

Who sees what is decided in services.assessment.access; the gradebook's rows are built in
services.assessment.gradebook; the rules are plain functions in services.assessment.domain.
"""
import logging
import os
import uuid
from datetime import datetime, timezone

from nameko.timer import timer

from contracts.assessment import (
    ASSESSMENT_PUBLISHED, COMPETITION_SCORE_RECORDED, DEADLINE_MISSED, GRADE_OVERRIDDEN, QUIZ_SCORED,
    SUBMISSION_GRADED, SUBMISSION_RECEIVED, SUBMISSION_RETURNED, TOTAL_RULE, AssessmentCreateSchema,
    AssessmentListQuerySchema, AssessmentReviewSchema, AssessmentUpdateSchema,
    CompetitionEntrySchema, CompetitionScoresCreateSchema, GradebookQuerySchema,
    GradebookSchema, GradeCreateSchema, OverrideCreateSchema, OverrideSchema, PaperQuerySchema, PaperSchema,
    QuestionBankCreateSchema, QuestionListQuerySchema, BankQuestionOutSchema, QueueItemSchema, ReturnCreateSchema,
    RevisionSchema, SubmissionCreateSchema, SubmissionListQuerySchema)
from contracts.base import PageQuerySchema, dump, load, page, page_of
from contracts.content import SESSION_CHANGED, SESSION_SCHEDULED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED,
                                  STUDENT_ADMITTED, STUDENT_REJECTED, STUDENT_WITHDRAWN, TEAM_CHANGED,
                                  TEAM_FORMED, TUTOR_ASSIGNED)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event
from services.assessment import access, domain, gradebook
from services.assessment.access import ALL
from services.assessment.models import DOCUMENTS, OUTBOX_DOCUMENTS
from services.assessment.repository import AssessmentRepository, natural_id
from services.common.acting import acting_student, key_of, named_staff, stamp
from services.common.events import Outbox, on_event
from services.common.operations import by_operation, repeated
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage

log = logging.getLogger("praxis.assessment")

# how often the deadline timer looks for assessments whose deadline passed
DEADLINE_SCAN_SECONDS = float(os.environ.get("PRAXIS_DEADLINE_SCAN_SECONDS", "30"))


def _now():
    return datetime.now(timezone.utc)


def _new_id(caller):
    # the Idempotency-Key's operation id: a retried call makes the same record
    return caller.get("operation_id") or uuid.uuid4().hex


def _system(school_id, actor, correlation_id=None):
    return {"school_id": school_id, "actor": actor, "correlation_id": correlation_id}


class AssessmentService(PraxisService):
    name = "assessment"

    store = Storage(AssessmentRepository, documents=DOCUMENTS)
    outbox = Outbox(*OUTBOX_DOCUMENTS)

    # --- helpers ------------------------------------------------------------------

    def _event(self, caller, event_type, payload, school_id=None):
        return make_event(event_type, payload, school_id=school_id or caller["school_id"],
                          actor=caller["actor"], correlation_id=caller.get("correlation_id"))

    def _counted_percent(self, submission, scoring):
        attempts = [submission if s["id"] == submission["id"] else s
                    for s in self.store.attempts(submission["assessment_id"], submission["student_id"])]
        if submission["id"] not in {s["id"] for s in attempts}:
            attempts.append(submission)
        best = domain.counted(attempts, scoring)
        return best["percent"] if best else 0.0

    # --- projections of enrollment's events (idempotent) --------------------------------

    @on_event(PROGRAM_CREATED)
    def on_program_created(self, event):
        p = event.payload
        self.store.keep_program({"id": p["program_id"], "school_id": event.school_id, "name": p["name"],
                                 "tracks": [t["key"] for t in p["tracks"]]})

    def _keep_student(self, event, status):
        p = event.payload
        self.store.keep_student({"school_id": event.school_id, "program_id": p["program_id"],
                                 "student_id": p["student_id"], "track": p["track"], "status": status},
                                event.occurred_at)

    @on_event(APPLICATION_SUBMITTED)
    def on_application_submitted(self, event):
        self._keep_student(event, "applied")  # may take the rules quiz

    @on_event(STUDENT_ADMITTED)
    def on_student_admitted(self, event):
        self._keep_student(event, "admitted")

    @on_event(STUDENT_REJECTED)
    def on_student_rejected(self, event):
        self._keep_student(event, "rejected")

    @on_event(STUDENT_WITHDRAWN)
    def on_student_withdrawn(self, event):
        self._keep_student(event, "withdrawn")

    def _keep_team(self, event, disbanded=False):
        p = event.payload
        self.store.keep_team({"id": p["team_id"], "school_id": event.school_id, "program_id": p["program_id"],
                              "track": p["track"], "name": p["name"],
                              "members": [] if disbanded else p["members"], "disbanded": disbanded},
                             event.occurred_at)

    @on_event(TEAM_FORMED)
    def on_team_formed(self, event):
        self._keep_team(event)

    @on_event(TEAM_CHANGED)
    def on_team_changed(self, event):
        self._keep_team(event, disbanded=event.payload["change"] == "disbanded")

    @on_event(MENTOR_ASSIGNED)
    def on_mentor_assigned(self, event):
        p = event.payload
        self.store.keep_mentor(p["team_id"], event.school_id, p["program_id"], p["mentor_id"], p["partner_id"],
                               event.occurred_at)

    @on_event(MENTOR_UNASSIGNED)
    def on_mentor_unassigned(self, event):
        p = event.payload  # a later assignment (newer fact) is never rolled back by this one
        self.store.keep_mentor(p["team_id"], event.school_id, p["program_id"], None, None, event.occurred_at)

    @on_event(TUTOR_ASSIGNED)
    def on_tutor_assigned(self, event):
        p = event.payload
        self.store.keep_tutor(p["team_id"], event.school_id, p["program_id"], p["tutor_id"], event.occurred_at,
                              p.get("tutor_person_id"))

    def _keep_teaching(self, event):
        p = event.payload
        if p["partner_id"]:
            self.store.keep_teaching(event.school_id, p["program_id"], p["partner_id"], p["module"])

    @on_event(SESSION_SCHEDULED)
    def on_session_scheduled(self, event):
        self._keep_teaching(event)  # the partner teaches the module: it may propose assessments for it

    @on_event(SESSION_CHANGED)
    def on_session_changed(self, event):
        self._keep_teaching(event)

    # --- the question bank -----------------------------------------------------------------

    @rpc
    def add_questions(self, caller, program_id, data):
        """Add questions to the programme's bank (all or none; ids are unique per programme).
        School staff, and partners for the quizzes they propose."""
        program = access.program(self.store, caller, program_id)
        if caller["role"] != "partner":
            access.require_school_staff(self.store, caller, program["id"])
        data = load(QuestionBankCreateSchema, data)
        now = _now()
        records = [{**q, "id": f"{program['id']}:{q['id']}", "question_id": q["id"], "school_id": caller["school_id"],
                    "program_id": program["id"], "partner_id": caller.get("partner_id"), "created_at": now}
                   for q in data["questions"]]
        taken = self.store.add_questions(records)
        if taken:
            raise InvalidInput("question ids already in the bank",
                               {"questions": [f"already in the bank: {', '.join(sorted(taken))}"]})
        return [self._question_view(q) for q in records]

    @staticmethod
    def _question_view(q):
        return dump(BankQuestionOutSchema, {**q, "id": q["question_id"]})

    @rpc
    def list_questions(self, caller, program_id, query=None):
        """The bank with its keys: school staff all of it, a partner the questions it added."""
        program = access.program(self.store, caller, program_id)
        if caller["role"] != "partner":
            access.require_school_staff(self.store, caller, program["id"])
        query = load(QuestionListQuerySchema, query)
        return page([self._question_view(q) for q in self.store.bank(
            caller["school_id"], program["id"], module=query.get("module"), limit=query["limit"] + 1,
            offset=query["offset"], partner_id=caller.get("partner_id") if caller["role"] == "partner" else None)],
            query)

    # --- assessments ---------------------------------------------------------------------------

    @rpc
    def create_assessment(self, caller, program_id, data):
        """School staff create (published at once); a partner proposes one for a module it
        teaches (a scheduled session of it is the partner's) and the school reviews it."""
        if caller["role"] != "partner":
            access.require_school_staff(self.store, caller, program_id)
        program = access.program(self.store, caller, program_id)
        data = load(AssessmentCreateSchema, data)
        if caller["role"] == "partner":
            if data["partner_id"] not in (None, caller["partner_id"]):
                raise InvalidInput("a partner proposes for itself", {"partner_id": ["must be your own or absent"]})
            if not self.store.teaches(caller["school_id"], program["id"], caller["partner_id"], data["module"]):
                raise InvalidInput("a partner proposes assessments for a module it teaches",
                                   {"module": ["the partner runs no scheduled session of this module"]})
            partner_id, status = caller["partner_id"], "proposed"
        else:
            partner_id, status = data["partner_id"], "published"
        questions = []
        if data["quiz"]:
            bank = {q["question_id"]: q for q in self.store.bank(caller["school_id"], program["id"])}
            questions = [{k: v for k, v in q.items() if k not in ("school_id", "program_id", "created_at", "rev")}
                         | {"id": q["question_id"]} for q in domain.quiz_questions(data["quiz"], bank)]
        a = domain.new_assessment(data, program=program, caller=caller, assessment_id=_new_id(caller),
                                  questions=questions, now=_now(), partner_id=partner_id, status=status)
        events = ([self._event(caller, ASSESSMENT_PUBLISHED, domain.published_payload(a))]
                  if status == "published" else [])
        if not self.store.assessments.insert(a, events):
            a = self.store.assessments.get(a["id"], school_id=caller["school_id"])  # a retry
        return access.view(caller, a)

    @rpc
    def list_assessments(self, caller, program_id, query=None):
        query = load(AssessmentListQuerySchema, query)
        program = access.program(self.store, caller, program_id)
        found = self.store.list_assessments(caller["school_id"], program["id"], status=query.get("status"),
                                            kind=query.get("kind"), module=query.get("module"))
        visible = [a for a in found if access.may_see(self.store, caller, a)]
        return page([access.view(caller, a) for a in visible[query["offset"]:query["offset"] + query["limit"] + 1]],
                    query)

    @rpc
    def get_assessment(self, caller, assessment_id):
        return access.view(caller, access.assessment(self.store, caller, assessment_id))

    @rpc
    def update_assessment(self, caller, assessment_id, data):
        """Change an assessment (school staff; a partner its own proposal). A published
        one announces itself again (assessment.published with the new values)."""
        a = access.assessment(self.store, caller, assessment_id)
        if caller["role"] == "partner":
            if a["partner_id"] != caller["partner_id"] or a["status"] != "proposed":
                raise Forbidden("a partner changes only its own proposals before review")
        else:
            access.require_school_staff(self.store, caller, a["program_id"])
        changes = load(AssessmentUpdateSchema, data)
        if repeated(a, caller):  # a retry of this change after its reply was lost: announced once
            return access.view(caller, a)
        program = access.program(self.store, caller, a["program_id"])
        changed = by_operation(domain.change_assessment(a, changes, program=program, now=_now()), caller)
        events = ([self._event(caller, ASSESSMENT_PUBLISHED, domain.published_payload(changed))]
                  if changed["status"] == "published" else [])
        return access.view(caller, self.store.assessments.save(changed, events))

    @rpc
    def cancel_assessment(self, caller, assessment_id):
        """Withdraw an assessment (school staff): it leaves the students' lists and the gradebook."""
        a = access.assessment(self.store, caller, assessment_id)
        access.require_school_staff(self.store, caller, a["program_id"])
        if a["status"] == "cancelled":
            return access.view(caller, a)
        return access.view(caller, self.store.assessments.save({**a, "status": "cancelled", "updated_at": _now()}))

    @rpc
    def review_assessment(self, caller, assessment_id, data):
        """Approve (publish) or reject a partner's proposal (school staff)."""
        a = access.assessment(self.store, caller, assessment_id)
        access.require_school_staff(self.store, caller, a["program_id"])
        data = load(AssessmentReviewSchema, data)
        if repeated(a, caller):  # a retry of this review after its reply was lost: reviewed once
            return access.view(caller, a)
        reviewed = by_operation(domain.review(a, data["decision"], data["reason"], now=_now()), caller)
        events = ([self._event(caller, ASSESSMENT_PUBLISHED, domain.published_payload(reviewed))]
                  if reviewed["status"] == "published" else [])
        return access.view(caller, self.store.assessments.save(reviewed, events))

    # --- papers and submissions -------------------------------------------------------------

    @rpc
    def paper(self, caller, assessment_id, query=None):
        """The student's paper for an attempt: the same questions and option order on
        every reload, no answer keys."""
        query = load(PaperQuerySchema, query)
        a = access.assessment(self.store, caller, assessment_id)
        if a["kind"] not in domain.QUIZ_KINDS:
            raise NotFound(f"assessment {assessment_id} is not a quiz")
        student = access.student(self.store, caller, a)
        now = _now()
        attempts = self.store.attempts(a["id"], student["student_id"])
        attempt = query.get("attempt") or domain.next_attempt(attempts)
        if attempt not in {s["attempt"] for s in attempts}:
            refusal = domain.submission_refusal(a, attempt, now)
            if refusal:
                raise Conflict(refusal)
        return dump(PaperSchema, {
            "assessment_id": a["id"], "student_id": student["student_id"], "attempt": attempt,
            "attempts_left": max(0, a["max_attempts"] - len(attempts)), "deadline": a["deadline"],
            "questions": domain.student_paper(domain.paper(a, student["student_id"], attempt))})

    @rpc
    def submit(self, caller, assessment_id, data):
        """Hand in an attempt. A quiz is scored at once; homework waits for its grader.
        The same attempt sent again (a double click, two tabs, a retry) is stored once."""
        data = load(SubmissionCreateSchema, data)
        a = access.assessment(self.store, caller, assessment_id)
        if a["kind"] not in domain.STUDENT_WORK:
            raise Conflict("competition scores come from the partner, not from students")
        student = access.student(self.store, caller, a)
        student_id = student["student_id"]
        attempts = self.store.attempts(a["id"], student_id)
        for stored in attempts:  # a retry of this hand-in (its reply lost) is not the next attempt
            if repeated(stored, caller):
                return self._submitted(caller, stored, created=False)
        attempt = data["attempt"] or domain.next_attempt(attempts)
        submission_id = natural_id(a["id"], student_id, attempt)
        for stored in attempts:
            if stored["id"] == submission_id:
                return self._submitted(caller, stored, created=False)
        now = _now()
        refusal = domain.submission_refusal(a, attempt, now)
        if refusal:
            raise Conflict(refusal)
        if a["kind"] == "homework" and not (data["text"].strip() or data["links"]):
            raise InvalidInput("hand in text or links", {"text": ["send the text or at least one link"]})
        if a["kind"] != "homework" and (data["text"] or data["links"]):
            raise InvalidInput("a quiz takes answers", {"text": ["quizzes take answers only"]})
        team = access.team_of(self.store, a["program_id"], student_id)
        s = by_operation(domain.new_submission(a, student, team["id"] if team else None, attempt, data,
                                               submission_id=submission_id, caller=caller, now=now), caller)
        events = [self._event(caller, SUBMISSION_RECEIVED, domain.submission_payload(s))]
        if a["kind"] in domain.QUIZ_KINDS:
            raw, maximum, results = domain.score_quiz(domain.paper(a, student_id, attempt), data["answers"])
            s = domain.graded(s, raw, by=domain.AUTO, now=now, results=results, max_score=maximum)
            counted = self._counted_percent(s, a["scoring"])
            events.append(self._event(caller, SUBMISSION_GRADED, domain.graded_payload(s, counted)))
            events.append(self._event(caller, QUIZ_SCORED, {
                "program_id": a["program_id"], "student_id": student_id, "quiz_id": a["id"],
                "kind": "rules_understanding" if a["kind"] == "rules_quiz" else "module_test",
                "score": counted, "module": a["module"], "attempt": attempt, "submission_id": s["id"]}))
        if not self.store.submissions.insert(s, events):
            # the same attempt arrived concurrently: the first one stands
            return self._submitted(caller, self.store.submissions.get(submission_id), created=False)
        return self._submitted(caller, s, created=True)

    def _submitted(self, caller, s, created):
        # SubmissionResultSchema (the submission is dumped already)
        return {"created": created, "submission": access.submission_view(self.store, caller, s, _now())}

    @rpc
    def get_submission(self, caller, submission_id):
        return access.submission_view(self.store, caller, access.submission(self.store, caller, submission_id), _now())

    @rpc
    def list_submissions(self, caller, assessment_id, query=None):
        """An assessment's submissions: a student their own, a mentor or tutor their teams'."""
        query = load(SubmissionListQuerySchema, query)
        a = access.assessment(self.store, caller, assessment_id)
        own = acting_student(caller)
        scope = ALL if own is not None else access.scope(self.store, caller, a["program_id"])
        found = self.store.assessment_submissions(a["id"], student_id=own or query.get("student_id"),
                                                  status=query.get("status"))
        visible = [s for s in found if access.may_see_work(self.store, caller, s, teams=scope)]
        now = _now()
        shown = visible[query["offset"]:query["offset"] + query["limit"] + 1]
        return page([access.submission_view(self.store, caller, s, now) for s in shown], query)

    def _gradable(self, caller, submission_id):
        if acting_student(caller) is not None:
            raise Forbidden("a student does not grade")
        s = access.submission(self.store, caller, submission_id)
        a = self.store.assessments.get(s["assessment_id"])
        if a["kind"] != "homework":
            raise Conflict("quizzes are scored by the server")
        return s, a

    @rpc
    def grade(self, caller, submission_id, data):
        """Grade homework with its rubric: one level per criterion; the total is computed.
        A graded submission may be graded again (the latest grade counts)."""
        s, a = self._gradable(caller, submission_id)
        data = load(GradeCreateSchema, data)
        if repeated(s, caller):  # a retry of this grade after its reply was lost: graded once
            return access.submission_view(self.store, caller, s, _now())
        if s["status"] == "returned":
            raise Conflict("the submission is back with the student for revision")
        unknown = sorted(set(data["comments"]) - {c["id"] for c in a["rubric"]["criteria"]})
        if unknown:
            raise InvalidInput("comments on unknown criteria", {"comments": [f"not criteria: {', '.join(unknown)}"]})
        raw = domain.rubric_total(a["rubric"], data["levels"])
        now = _now()
        graded = by_operation(domain.graded(s, raw, by=stamp(caller, "graded_by"), now=now, levels=data["levels"],
                                            comments=data["comments"], comment=data["comment"] or None), caller)
        event = self._event(caller, SUBMISSION_GRADED,
                            domain.graded_payload(graded, self._counted_percent(graded, a["scoring"])))
        return access.submission_view(self.store, caller, self.store.submissions.save(graded, [event]), now)

    @rpc
    def return_submission(self, caller, submission_id, data):
        """Send homework back for revision, once, with what to revise."""
        s, a = self._gradable(caller, submission_id)
        data = load(ReturnCreateSchema, data)
        if repeated(s, caller):  # a retry of this return after its reply was lost
            return access.submission_view(self.store, caller, s, _now())
        refusal = domain.return_refusal(s)
        if refusal:
            raise Conflict(refusal)
        now = _now()
        returned = by_operation({**s, "status": "returned", **stamp(caller, "returned_by"), "returned_at": now,
                                 "return_comment": data["comment"]}, caller)
        event = self._event(caller, SUBMISSION_RETURNED, domain.submission_payload(
            returned, returned_at=now, returned_by=key_of(caller), comment=data["comment"]))
        return access.submission_view(self.store, caller, self.store.submissions.save(returned, [event]), now)

    @rpc
    def revise(self, caller, submission_id, data):
        """The student hands in the revision of a returned submission (it keeps its
        attempt and its lateness) and it waits for grading again."""
        student_id = acting_student(caller)
        if student_id is None:
            raise Forbidden("only the student revises their work")
        s = access.submission(self.store, caller, submission_id)
        data = load(RevisionSchema, data)
        if s["status"] != "returned":
            raise Conflict("only a returned submission is revised")
        now = _now()
        revised = {**s, "status": "submitted", "text": data["text"] or None, "links": data["links"],
                   "revision": s["revision"] + 1, "resubmitted_at": now}
        return access.submission_view(self.store, caller, self.store.submissions.save(revised), now)

    @rpc
    def grading_queue(self, caller, program_id, query=None):
        """Ungraded homework of the grader's own teams (staff: every team), oldest first,
        with how long each has waited."""
        query = load(PageQuerySchema, query)
        program = access.program(self.store, caller, program_id)
        if acting_student(caller) is not None:
            raise Forbidden("a student has no grading queue")
        scope = access.scope(self.store, caller, program["id"])
        titles = {a["id"]: a["title"] for a in self.store.list_assessments(caller["school_id"], program["id"],
                                                                          kind="homework")}
        now = _now()
        queue = []
        for s in self.store.program_submissions(program["id"], status="submitted"):
            if s["assessment_id"] in titles and (scope is ALL or s.get("team_id") in scope):
                since = s.get("resubmitted_at") or s["submitted_at"]
                queue.append((since, {**s, "assessment_title": titles[s["assessment_id"]],
                                      "waited_seconds": int((now - since).total_seconds())}))
        queue.sort(key=lambda pair: pair[0])
        return page_of([dump(QueueItemSchema, item) for _, item in queue], query)

    # --- competition scores ---------------------------------------------------------------------

    @rpc
    def post_competition_scores(self, caller, assessment_id, data):
        """The partner posts the platform's results. The same run again changes nothing;
        the same run with another score is a correction (the old score kept in history)."""
        a = access.assessment(self.store, caller, assessment_id)
        if a["kind"] != "competition" or a["status"] != "published":
            raise Conflict("scores are posted to a published competition")
        if caller["role"] == "partner":
            if a["partner_id"] != caller["partner_id"]:  # the competition's own partner only
                raise NotFound(f"no assessment {assessment_id}")
        else:
            access.require_school_staff(self.store, caller, a["program_id"])
        data = load(CompetitionScoresCreateSchema, data)
        teams = {t["id"]: t for t in self.store.teams(a["program_id"])}
        errors = {}
        for i, result in enumerate(data["results"]):
            if result["team_id"] and result["team_id"] not in teams:
                errors[str(i)] = {"team_id": ["not a team of the programme"]}
            if result["student_id"]:
                student = self.store.get_student(caller["school_id"], a["program_id"], result["student_id"])
                if student is None or student["status"] != "admitted":
                    errors[str(i)] = {"student_id": ["not an admitted student of the programme"]}
        if errors:
            raise InvalidInput("some results name nobody in the programme", {"results": errors})
        # CompetitionPostResultSchema (the entries are dumped already)
        return {"results": [self._record_run(caller, a, result, teams) for result in data["results"]]}

    def _record_run(self, caller, a, result, teams):
        entry_id = natural_id(a["id"], result["run_id"])
        subject = {"team_id": result["team_id"], "student_id": result["student_id"]}
        now = _now()
        for _ in range(5):
            existing = self.store.entries.get(entry_id)
            outcome, entry = domain.record_run(existing, result, assessment=a, entry_id=entry_id, subject=subject,
                                               by=stamp(caller, "recorded_by"), partner_id=caller.get("partner_id"),
                                               now=now)
            if outcome == "unchanged":
                return {"run_id": result["run_id"], "outcome": outcome, "entry": dump(CompetitionEntrySchema, entry)}
            team = teams.get(entry["team_id"])
            members = list(team.get("members") or []) if team else [entry["student_id"]]
            event = self._event(caller, COMPETITION_SCORE_RECORDED, {
                "program_id": a["program_id"], "assessment_id": a["id"], "assessment_kind": "competition",
                "module": a["module"], "run_id": entry["run_id"], "entry_id": entry["id"], "team_id": entry["team_id"],
                "student_id": entry["student_id"], "student_ids": members, "track": team["track"] if team else None,
                "score": entry["score"], "max_score": entry["max_score"], "percent": entry["percent"],
                "revision": entry["revision"], "corrected": outcome == "corrected",
                "previous_score": existing["score"] if existing else None, "partner_id": entry["partner_id"],
                "recorded_at": now})
            try:
                if outcome == "recorded":
                    if not self.store.entries.insert({**entry, "created_at": now}, [event]):
                        continue  # recorded concurrently: compare with it
                else:
                    entry = self.store.entries.save(entry, [event])
            except Conflict:
                continue
            return {"run_id": result["run_id"], "outcome": outcome, "entry": dump(CompetitionEntrySchema, entry)}
        raise Conflict(f"run {result['run_id']} keeps changing; retry")

    @rpc
    def list_competition_scores(self, caller, assessment_id, query=None):
        """A partner sees the scores it posted; a student their own and their team's;
        a mentor or tutor their teams'; school staff all."""
        query = load(PageQuerySchema, query)
        a = access.assessment(self.store, caller, assessment_id)
        entries = self.store.competition_entries(assessment_id=a["id"])
        student_id = acting_student(caller)
        if caller["role"] == "partner" and named_staff(caller) is None:
            entries = [e for e in entries if e["partner_id"] == caller["partner_id"]]
        elif student_id is not None:
            team = access.team_of(self.store, a["program_id"], student_id)
            entries = [e for e in entries if e["student_id"] == student_id or (team and e["team_id"] == team["id"])]
        else:
            scope = access.scope(self.store, caller, a["program_id"])
            if scope is not ALL:
                teams = self.store.teams(a["program_id"])
                members = {m for t in teams if t["id"] in scope for m in t.get("members") or []}
                entries = [e for e in entries if e["team_id"] in scope or e["student_id"] in members]
        return page_of([dump(CompetitionEntrySchema, e) for e in entries], query)

    # --- the gradebook -------------------------------------------------------------------------------

    @rpc
    def gradebook(self, caller, program_id, query=None):
        """One row per admitted student (by student id) with each assessment's state and
        percent and the weighted total; a student sees their own row, a mentor or tutor
        their teams' students."""
        query = load(GradebookQuerySchema, query)
        program = access.program(self.store, caller, program_id)
        students = self.store.admitted_students(program["id"])
        if query.get("track"):
            students = [s for s in students if s.get("track") == query["track"]]
        own = acting_student(caller)
        if own is not None:
            students = [s for s in students if s["student_id"] == own]
        else:
            scope = access.scope(self.store, caller, program["id"])
            if scope is not ALL:
                members = {m for t in self.store.teams(program["id"]) if t["id"] in scope
                           for m in t.get("members") or []}
                students = [s for s in students if s["student_id"] in members]
        columns = gradebook.columns(self.store, caller["school_id"], program["id"])
        page = students[query["offset"]:query["offset"] + query["limit"]]
        return dump(GradebookSchema, {
            "program_id": program["id"], "total_rows": len(students), "limit": query["limit"],
            "offset": query["offset"], "total_rule": TOTAL_RULE,
            "columns": [{"assessment_id": a["id"], "title": a["title"], "kind": a["kind"], "module": a["module"],
                         "weight": a["weight"], "deadline": a["deadline"]} for a in columns],
            "rows": gradebook.rows(self.store, program["id"], page, columns, _now())})

    @rpc
    def override_grade(self, caller, program_id, data):
        """School staff override a student's percent for an assessment, with a reason;
        the computed percent stays beside it and earlier overrides stay in the history."""
        program = access.program(self.store, caller, program_id)
        access.require_school_staff(self.store, caller, program["id"])
        data = load(OverrideCreateSchema, data)
        a = self.store.assessments.get(data["assessment_id"], school_id=caller["school_id"])
        if a is None or a["program_id"] != program["id"] or a["status"] != "published":
            raise InvalidInput("no such published assessment in the programme",
                               {"assessment_id": ["not a published assessment of the programme"]})
        student = self.store.get_student(caller["school_id"], program["id"], data["student_id"])
        if student is None or student["status"] != "admitted" or not domain.is_for(a, student.get("track")):
            raise InvalidInput("the student does not take this assessment", {"student_id": ["not admitted for it"]})
        now = _now()
        row = gradebook.rows(self.store, program["id"], [student], [a], now)[0]
        computed = row["items"][0]["computed_percent"]
        override_id = natural_id(a["id"], student["student_id"])
        fields = {"percent": data["percent"], "computed_percent": computed, "reason": data["reason"],
                  **stamp(caller, "overridden_by"), "overridden_at": now}
        event = self._event(caller, GRADE_OVERRIDDEN, {
            "program_id": program["id"], "assessment_id": a["id"], "assessment_kind": a["kind"],
            "module": a["module"], "student_id": student["student_id"], "team_id": row["team_id"],
            "track": student.get("track"), "computed_percent": computed, "override_percent": data["percent"],
            "reason": data["reason"], "overridden_by": key_of(caller), "overridden_at": now})
        for _ in range(5):
            existing = self.store.overrides.get(override_id)
            if existing is not None and repeated(existing, caller):  # a retry of this override
                return dump(OverrideSchema, existing)
            try:
                if existing is None:
                    record = by_operation({"id": override_id, "school_id": caller["school_id"],
                                           "program_id": program["id"], "assessment_id": a["id"],
                                           "student_id": student["student_id"], "history": [], **fields}, caller)
                    if self.store.overrides.insert(record, [event]):
                        return dump(OverrideSchema, record)
                    continue
                kept = ("percent", "reason", "overridden_by", "overridden_by_person", "overridden_at")
                history = existing["history"] + [{k: existing.get(k) for k in kept}]
                return dump(OverrideSchema, self.store.overrides.save(
                    by_operation({**existing, **fields, "history": history}, caller), [event]))
            except Conflict:
                continue
        raise Conflict("the override changed meanwhile; retry")

    # --- deadlines ---------------------------------------------------------------------------------------

    @timer(interval=DEADLINE_SCAN_SECONDS)
    def scan_deadlines(self):
        """Raise deadline.missed once per admitted student of the assessment's tracks who
        handed in nothing (the record's natural id makes it once, also with several
        processes scanning); then mark the assessment scanned."""
        now = _now()
        raised = 0
        for a in self.store.past_deadline_unscanned(now):
            missed = self.missed_deadlines(a, now) if a["kind"] in ("quiz", "homework") else 0
            try:
                self.store.assessments.save({**a, "missed_scanned": True})
            except Conflict:
                pass  # changed meanwhile (e.g. a new deadline): the next scan looks again
            if missed:
                log.info("deadlines missed", extra={"assessment_id": a["id"], "count": missed})
            raised += missed
        return raised

    def missed_deadlines(self, a, now):
        caller = _system(a["school_id"], "assessment:deadline-timer")
        teams = self.store.teams(a["program_id"])
        handed_in = {s["student_id"] for s in self.store.assessment_submissions(a["id"])}
        count = 0
        for student in self.store.admitted_students(a["program_id"]):
            sid = student["student_id"]
            if sid in handed_in or not domain.is_for(a, student.get("track")):
                continue
            team = access.team_of(self.store, a["program_id"], sid, teams)
            event = self._event(caller, DEADLINE_MISSED, {
                "program_id": a["program_id"], "assessment_id": a["id"], "assessment_kind": a["kind"],
                "module": a["module"], "student_id": sid, "team_id": team["id"] if team else None,
                "track": student.get("track"), "deadline": a["deadline"], "max_score": a["max_score"],
                "weight": a["weight"]})
            count += self.store.missed.insert({"id": natural_id(a["id"], sid), "assessment_id": a["id"],
                                               "student_id": sid, "at": now}, [event])
        return count
