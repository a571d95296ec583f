"""The enrollment service: nameko entrypoints over services.enrollment.domain.

Every state change is one guarded write by ``_id`` carrying the events it owes
(repository). Capacity is a per-track seat counter taken with a guarded $inc;
steps that span two documents (a seat and an application, a team and its
members' claims, a mentor's load and a team) are ordered so that a crash in
between leaves something the next run repairs, never a double effect.
"""
import hashlib
import json
import logging
from datetime import datetime, timezone

from nameko.timer import timer

from contracts.assessment import QUIZ_SCORED
from contracts.base import PageQuerySchema, dump, load, more, page, page_of
from contracts.enrollment import (
    APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED, STUDENT_REJECTED,
    STUDENT_WAITLISTED, STUDENT_WITHDRAWN, TEAM_CHANGED, TEAM_FORMED, TUTOR_ASSIGNED,
    ApplicationCreateSchema, ApplicationListQuerySchema, ApplicationPageSchema, ApplicationSchema,
    AssignmentResultSchema, MentorCreateSchema, ProgramCreateSchema, ProgramListQuerySchema,
    ProgramSchema, RosterQuerySchema, RosterSchema, ScreeningScoreSchema, SelectionResultSchema, SelectionRunSchema,
    StaffLeaveResultSchema, StaffSchema, TeamCreateSchema, TeamListQuerySchema, TeamMemberSchema,
    TeamSchema, TutorCreateSchema, WithdrawalSchema)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event
from contracts.jobs import ImportStartSchema, JobSchema
from contracts.supervision import ACCOUNT_RECLAIM_REQUESTED
from services.common import jobs as job_views
from services.common.acting import acting_student, ensure_self, stamp
from services.common.events import Outbox, holding_relay, on_event
from services.common.jobs import Jobs
from services.common.operations import by_operation, repeated
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.enrollment import domain, importer
from services.enrollment.models import DOCUMENTS, OUTBOX_DOCUMENTS
from services.enrollment.repository import EnrollmentRepository, ProgramRepository

log = logging.getLogger("praxis.enrollment")

STAFF_KINDS = {"mentor": MentorCreateSchema, "tutor": TutorCreateSchema}
MANY = 100_000  # "all" for internal listings of one programme


def _operations(record, caller):
    """The record's kept operation ids with the caller's added, as fields to set in the
    write that changes it (none without an operation id): a retry then finds them."""
    kept = by_operation(record, caller)
    return {"operations": kept["operations"]} if kept is not record else {}


class EnrollmentService(PraxisService):
    name = "enrollment"

    programs = Storage(ProgramRepository, documents=DOCUMENTS)
    store = Storage(EnrollmentRepository)  # applications, seats, teams, mentors and tutors
    outbox = Outbox(*OUTBOX_DOCUMENTS)
    jobs = Jobs()  # selection and imports run after the request has its 202

    def _now(self):
        return datetime.now(timezone.utc)

    def _event(self, caller, event_type, payload):
        return make_event(event_type, payload, school_id=caller["school_id"],
                          actor=caller["actor"], correlation_id=caller.get("correlation_id"))

    def _program(self, caller, program_id):
        program = self.programs.get(caller["school_id"], program_id)
        if program is None:
            raise NotFound(f"no programme {program_id}")
        return program

    def _track(self, program, key):
        track = domain.track_of(program, key)
        if track is None:
            raise InvalidInput(f"programme {program['id']} has no track '{key}'",
                               {"track": [f"unknown track; use one of {[t['key'] for t in program['tracks']]}"]})
        return track

    def _application(self, caller, application_id):
        """The application as the caller may see it: a student only their own."""
        app = self.store.get_application(caller["school_id"], application_id)
        own = acting_student(caller)
        if app is None or (own is not None and app["student_id"] != own):
            raise NotFound(f"no application {application_id}")
        return app

    # --- programmes ----------------------------------------------------------

    @rpc
    def create_program(self, caller, data):
        """``caller``: school_id, actor, correlation_id and operation_id (the
        Idempotency-Key, so a call that runs twice creates one programme)."""
        data = load(ProgramCreateSchema, data)
        if data["ends_on"] < self._now().date():
            reason = f"lies in the past: a programme that ended on {data['ends_on']} could take no one"
            raise InvalidInput(f"ends_on {reason}", {"ends_on": [reason]})
        program = domain.new_program(
            data, school_id=caller["school_id"],
            actor=stamp(caller, "created_by"), program_id=caller.get("operation_id"))
        event = self._event(caller, PROGRAM_CREATED, domain.program_created_payload(program))
        return dump(ProgramSchema, self.programs.add(program, events=[event]))

    @rpc
    def get_program(self, caller, program_id):
        return dump(ProgramSchema, self._program(caller, program_id))

    @rpc
    def list_programs(self, caller, query=None):
        query = load(ProgramListQuerySchema, query)
        return page([dump(ProgramSchema, p) for p in self.programs.list(caller["school_id"], **more(query))], query)

    # --- applications --------------------------------------------------------

    @rpc
    def submit_application(self, caller, program_id, data):
        """A student applies (through the LMS). 409 if the student already has a
        live application to the programme; a retried operation has one effect."""
        data = load(ApplicationCreateSchema, data)
        ensure_self(caller, data["student_id"])
        stored, _created = self._submit(caller, program_id, data)
        return dump(ApplicationSchema, stored)

    def _submit(self, caller, program_id, data, program=None):
        """(application, created): a retried operation finds the one it stored."""
        program = program or self._program(caller, program_id)
        self._track(program, data["track"])
        now = self._now()
        if not domain.program_open(program, now):
            raise Conflict(f"programme {program_id} has ended")
        app = domain.new_application(data, program, school_id=caller["school_id"],
                                     actor=stamp(caller, "submitted_by"), now=now,
                                     application_id=caller.get("operation_id"))
        quiz = self.store.quiz_score(self._score_key(caller["school_id"], program_id, data["student_id"]))
        if quiz is not None:  # the quiz was scored before the application arrived
            app.update(status="screened", score=quiz["score"], score_source="quiz",
                       scored_at=quiz["occurred_at"])
        event = self._event(caller, APPLICATION_SUBMITTED, domain.application_submitted_payload(app))
        stored, created = self.store.insert_application(app, events=[event])
        if created:
            log.info("application submitted", extra={"correlation_id": caller.get("correlation_id"),
                                                       "application_id": stored["id"]})
        return stored, created

    @rpc
    def get_application(self, caller, application_id):
        return dump(ApplicationSchema, self._application(caller, application_id))

    @rpc
    def list_applications(self, caller, program_id, query=None):
        query = load(ApplicationListQuerySchema, query)
        self._program(caller, program_id)
        found = self.store.list_applications(caller["school_id"], program_id, status=query.get("status"),
                                            track=query.get("track"), student_id=acting_student(caller),
                                            limit=query["limit"] + 1,
                                            offset=query["offset"])
        return dump(ApplicationPageSchema, {"items": found[:query["limit"]], "limit": query["limit"],
                                            "offset": query["offset"],
                                            "has_more": len(found) > query["limit"]})

    @rpc
    def record_screening_score(self, caller, application_id, data):
        """Staff record a screening score by hand (e.g. from an interview)."""
        data = load(ScreeningScoreSchema, data)
        app = self._application(caller, application_id)
        after = self.store.update_application(app["id"], domain.SCORABLE, {
            "status": "screened", "score": data["score"], "score_source": "manual",
            "score_note": data["note"], "scored_at": self._now()})
        if after is None:
            raise Conflict(f"application {application_id} is already {self._application(caller, application_id)['status']}: "
                           "a decided application keeps its decision")
        return dump(ApplicationSchema, after)

    @staticmethod
    def _score_key(school_id, program_id, student_id):
        return f"{school_id}:{program_id}:{student_id}"

    @on_event(QUIZ_SCORED)
    def on_quiz_scored(self, event):
        """The rules-understanding quiz gives the screening score (latest counts);
        it changes nothing once the application was decided. The application gets
        the kept (latest) score, looked at again after each write: of two scores
        handled at once (a retake), the later one stands whatever the order of
        the writes (the handler whose write came last finds the later score kept)."""
        payload = event.payload
        if payload["kind"] != "rules_understanding":
            return
        key = self._score_key(event.school_id, payload["program_id"], payload["student_id"])
        if not self.store.record_quiz_score(key, payload["score"], payload["quiz_id"], event.occurred_at):
            return  # an older score than the one kept
        for _ in range(10):
            kept = self.store.quiz_score(key)
            app = self.store.live_application(event.school_id, payload["program_id"], payload["student_id"])
            if app is None or app["status"] not in domain.SCORABLE:
                return
            if app.get("scored_at") and app["scored_at"] > kept["occurred_at"]:
                return  # a later score (by hand) counts
            if app.get("score_source") == "quiz" and app.get("score") == kept["score"]:
                return  # the kept score is the application's
            self.store.update_application(app["id"], domain.SCORABLE, {
                "status": "screened", "score": kept["score"], "score_source": "quiz",
                "scored_at": kept["occurred_at"]})
            log.info("quiz score recorded", extra={"event_id": event.event_id,
                                                    "correlation_id": event.correlation_id,
                                                    "application_id": app["id"]})

    @rpc
    def withdraw(self, caller, application_id, data=None):
        """A student withdraws (any time before the programme ends); an admitted
        student's place goes to the first waitlisted student of the track."""
        data = load(WithdrawalSchema, data)
        app = self._application(caller, application_id)
        if repeated(app, caller):  # a retry of this withdrawal after its reply was lost: withdrawn once
            return dump(ApplicationSchema, app)
        program = self._program(caller, app["program_id"])
        now = self._now()
        if not domain.program_open(program, now):
            raise Conflict(f"programme {program['id']} has ended")
        return dump(ApplicationSchema, self._withdraw(caller, program, app, data["reason"], now))

    def _withdraw(self, caller, program, app, reason, now, statuses=domain.WITHDRAWABLE, extra=None):
        """Withdraw ``app`` if its status is one of ``statuses`` (Conflict otherwise),
        then release its team and seat (``_release_place``). The write is guarded on
        the status read, so previous_status is exact; ``extra`` fields go into it."""
        for _ in range(10):
            if app["status"] not in statuses:
                raise Conflict(f"application {app['id']} is {app['status']}")
            previous = app["status"]
            event = self._event(caller, STUDENT_WITHDRAWN, domain.student_payload(app, previous_status=previous))
            after = self.store.update_application(app["id"], (previous,), {
                "status": "withdrawn", "previous_status": previous, "withdrawn_at": now,
                "withdrawal_reason": reason, **(extra or {}), **_operations(app, caller),
                "live_key": domain.closed_key(app["program_id"], app["student_id"], app["id"])}, [event])
            if after is not None:
                break
            app = self.store.get_application(program["school_id"], app["id"])
        else:
            raise Conflict(f"application {app['id']} is changing; try again")
        self._release_place(caller, program, app, previous)
        return after

    def _release_place(self, caller, program, app, previous):
        """After a withdrawal: the student leaves their team, the seat is freed, and an
        admitted student's place goes to the first waitlisted student of the track.
        Each step may run again (a redelivered event after a crash) with no second effect."""
        self._leave_team_on_withdrawal(caller, program, app)
        freed = self.store.release_seat(program["id"], app["track"], app["id"])
        if freed or previous == "admitted":
            self._fill_from_waitlist(caller, program, domain.track_of(program, app["track"]))

    @on_event(ACCOUNT_RECLAIM_REQUESTED)
    def on_account_reclaim_requested(self, event):
        """Supervision reclaims an idle student's platform account (the idle spell
        outlasted the grace period). When the programme's supervision rules say so
        (``promote_waitlisted``), the student's place is released as by a withdrawal
        (reason and spell kept on the application, student.withdrawn published) and the
        first waitlisted student of the track is admitted (student.admitted, promoted).
        Once per spell: a redelivery finds the application withdrawn for this spell and
        only finishes what a crash may have cut short (team, seat, waitlist)."""
        p = event.payload
        extra = {"event_id": event.event_id, "correlation_id": event.correlation_id,
                 "program_id": p["program_id"], "spell_id": p["spell_id"]}
        if not p["promote_waitlisted"]:
            return
        program = self.programs.get(event.school_id, p["program_id"])
        if program is None:
            log.warning("reclaim for a programme enrollment does not know; ignored", extra=extra)
            return
        caller = {"school_id": event.school_id, "actor": "supervision:reclaim",
                  "correlation_id": event.correlation_id}
        app = self.store.live_application(event.school_id, program["id"], p["student_id"])
        if app is not None and app["status"] == "admitted":
            now = self._now()
            if not domain.program_open(program, now):
                log.info("reclaim after the programme ended: the place stays", extra=extra)
                return
            account = f"platform account {p['account_id']}" if p["account_id"] else "platform account"
            reason = f"{account} reclaimed: idle since {p['idle_since'].date()}, past the grace period"
            try:
                self._withdraw(caller, program, app, reason, now, statuses=("admitted",),
                               extra={"reclaim_spell": p["spell_id"]})
            except Conflict:  # withdrawn by the student meanwhile: that withdrawal released the place
                log.info("reclaimed student no longer admitted", extra=extra)
                return
            log.info("place of an idle student released", extra={**extra, "application_id": app["id"]})
            return
        for done in self.store.list_applications(event.school_id, program["id"], status="withdrawn",
                                                 student_id=p["student_id"], limit=MANY):
            if done.get("reclaim_spell") == p["spell_id"]:  # the same spell again: finish, never redo
                self._release_place(caller, program, done, "admitted")

    def _leave_team_on_withdrawal(self, caller, program, app):
        team_id = self.store.membership(program["id"], app["student_id"])
        if team_id is not None:
            self._remove_member(caller, team_id, app["student_id"])

    # --- selection -----------------------------------------------------------

    @rpc
    def run_selection(self, caller, program_id, data=None):
        """Admit the best screened applications up to each track's capacity,
        waitlist the rest in rank order, reject the ineligible; every decision
        with its reason. Decided applications keep their decision."""
        data = load(SelectionRunSchema, data)
        program = self._program(caller, program_id)
        tracks = [self._track(program, k) for k in data["tracks"]] or program["tracks"]
        decisions, pending, unchanged = [], [], 0
        for track in tracks:
            made, waiting, kept = self._select_track(caller, program, track)
            decisions += made
            pending += waiting
            unchanged += kept
        log.info("selection ran", extra={"correlation_id": caller.get("correlation_id"),
                                         "program_id": program_id, "decisions": len(decisions)})
        return dump(SelectionResultSchema, {"program_id": program_id, "decisions": decisions,
                                            "pending": pending, "unchanged": unchanged})

    def _select_track(self, caller, program, track, bulk=False):
        school_id, key, capacity = caller["school_id"], track["key"], track["capacity"]
        self.store.ensure_counter(school_id, program["id"], key, capacity)
        decisions = self._repair_seats(caller, program, track)
        decisions += self._fill_from_waitlist(caller, program, track)
        # applications first, then the counter: a seat taken in between belongs
        # to an application we still see as screened, and is completed below
        apps = self.store.applications_in(school_id, program["id"], key, domain.LIVE)
        counter = self.store.seat_counter(program["id"], key)
        holders = set(counter["holders"])
        pending = [a["id"] for a in apps if a["status"] == "submitted"]
        kept = sum(1 for a in apps if a["status"] in ("admitted", "waitlisted", "rejected"))
        candidates = []
        for app in apps:
            if app["status"] != "screened":
                continue
            if app["id"] in holders:  # another run is admitting it
                made = self._admit(caller, app, "admitted by a concurrent selection run",
                                   ("screened",), promoted=False, reserved=False)
                decisions += [made] if made else []
            else:
                candidates.append(app)
        waitlisted = [a for a in apps if a["status"] == "waitlisted"]
        planned = domain.decide_track(candidates, waitlisted, capacity=capacity,
                                      free_seats=capacity - counter["admitted"],
                                      rules=program.get("selection_rules") or {})
        in_bulk = self._apply_decisions_in_bulk(caller, program, track, planned) if bulk else None
        if in_bulk is not None:
            decisions += in_bulk
        else:
            for decision in planned:
                made = self._apply_decision(caller, program, track, decision)
                decisions += [made] if made else []
        decisions += self._fill_from_waitlist(caller, program, track)
        return decisions, pending, kept

    # --- jobs: selection and imports ------------------------------------------

    @rpc
    def get_job(self, caller, job_id):
        job = self.jobs.get(caller["school_id"], job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return dump(JobSchema, job_views.view(job))

    @rpc
    def start_selection(self, caller, program_id, data=None):
        """Selection as a job (answered at once): one at a time per programme; the
        same operation id (Idempotency-Key) finds the job it started."""
        data = load(SelectionRunSchema, data)
        program = self._program(caller, program_id)
        for key in data["tracks"]:
            self._track(program, key)  # an unknown track is refused now, not in the job
        job, created = self.jobs.create(caller, "selection", SelectionRunSchema().dump(data),
                                        program_id=program_id, lock=f"selection:{program_id}")
        if created:
            self.jobs.run(job, self._selection_job)
        return dump(JobSchema, job_views.view(self.jobs.get(caller["school_id"], job["_id"])))

    def _selection_job(self, job, progress):
        caller, program_id = job["caller"], job["program_id"]
        program = self._program(caller, program_id)
        tracks = [self._track(program, k) for k in job["params"]["tracks"]] or program["tracks"]
        decisions, pending, unchanged = [], [], 0
        # the decisions' events are published once they are all written (see holding_relay)
        with holding_relay():
            for done, track in enumerate(tracks):
                progress(tracks=len(tracks), tracks_done=done, decisions=len(decisions))
                made, waiting, kept = self._select_track(caller, program, track, bulk=True)
                decisions += made
                pending += waiting
                unchanged += kept
        counts = {"tracks": len(tracks), "tracks_done": len(tracks), "decisions": len(decisions)}
        log.info("selection job ran", extra={"job_id": job["_id"], "program_id": program_id, **counts})
        return {"result": dump(SelectionResultSchema, {"program_id": program_id, "decisions": decisions,
                                                       "pending": pending, "unchanged": unchanged}),
                "progress": counts}

    @rpc
    def start_import(self, caller, program_id, data):
        """Import applications from a posted CSV or JSON-lines file, as a job. Each
        line is one application submitted as through the API; a line's id comes
        from its content, so the same file posted again changes nothing."""
        data = load(ImportStartSchema, data)
        self._program(caller, program_id)
        job, created = self.jobs.create(caller, "application_import", data, program_id=program_id)
        if created:
            self.jobs.run(job, self._import_job)
        return dump(JobSchema, job_views.view(self.jobs.get(caller["school_id"], job["_id"])))

    def _import_job(self, job, progress, chunk=200):
        caller, program_id = job["caller"], job["program_id"]
        program = self._program(caller, program_id)
        try:
            lines = list(importer.parsed_lines(job["params"]["format"], job["params"]["content"]))
        except importer.ImportAborted as exc:
            return {"error": str(exc)}
        counts = {"total": len(lines), "done": 0, "imported": 0, "unchanged": 0, "duplicates": 0, "rejected": 0}
        report = []
        for start in range(0, len(lines), chunk):
            part = lines[start:start + chunk]
            outcomes = self._import_lines(caller, program, [(line, data) for line, data, _ in part if data is not None])
            for line, data, reason in part:
                entry = {"line": line, "student_id": (data or {}).get("student_id"), "application_id": None,
                         "reason": reason, **(outcomes[line] if data is not None else {"outcome": "rejected"})}
                counts[{"imported": "imported", "unchanged": "unchanged", "duplicate": "duplicates",
                        "rejected": "rejected"}[entry["outcome"]]] += 1
                report.append(entry)
            counts["done"] += len(part)
            progress(**counts)
        return {"result": {k: v for k, v in counts.items() if k != "done"}, "report": report, "progress": counts}

    def _import_lines(self, caller, program, lines):
        """Submit these lines' applications as ``submit_application`` would, with one
        bulk insert: {line: outcome}. Each line's id comes from its content, so a
        line posted again finds the application it made (unchanged)."""
        now, outcomes, apps = self._now(), {}, []
        if not domain.program_open(program, now):
            return {line: {"outcome": "rejected", "reason": f"programme {program['id']} has ended"} for line, _ in lines}
        for line, data in lines:
            if domain.track_of(program, data["track"]) is None:
                outcomes[line] = {"outcome": "rejected", "reason": f"track: unknown track '{data['track']}'; use one of "
                                                                  f"{[t['key'] for t in program['tracks']]}"}
                continue
            content = json.dumps(ApplicationCreateSchema().dump(data), sort_keys=True, default=str)
            app_id = hashlib.sha256(f"{program['id']}:{content}".encode()).hexdigest()[:32]
            apps.append((line, domain.new_application(data, program, school_id=caller["school_id"],
                                                      actor=stamp(caller, "submitted_by"), now=now,
                                                      application_id=app_id)))
        scores = self.store.quiz_scores([self._score_key(caller["school_id"], program["id"], a["student_id"])
                                         for _, a in apps])
        for _, app in apps:
            quiz = scores.get(self._score_key(caller["school_id"], program["id"], app["student_id"]))
            if quiz is not None:  # the quiz was scored before the application arrived
                app.update(status="screened", score=quiz["score"], score_source="quiz", scored_at=quiz["occurred_at"])
        stored = self.store.insert_applications(
            [(app, [self._event(caller, APPLICATION_SUBMITTED, domain.application_submitted_payload(app))])
             for _, app in apps])
        for line, app in apps:
            result = stored[app["id"]]
            if result == "duplicate":
                outcomes[line] = {"outcome": "duplicate", "reason": f"student {app['student_id']} already has a "
                                                                    f"live application to programme {program['id']}"}
            else:
                outcomes[line] = {"outcome": "imported" if result == "created" else "unchanged",
                                  "application_id": app["id"]}
        return outcomes

    @timer(interval=30)
    def resume_jobs(self):
        """Jobs whose service died run again (each of their steps is idempotent)."""
        self.jobs.resume({"selection": self._selection_job, "application_import": self._import_job})

    def _apply_decisions_in_bulk(self, caller, program, track, planned):
        """Apply ``planned`` decisions with one seat update and bulk application
        writes (each still guarded, each carrying its event); a decision whose
        application changed meanwhile goes the one-by-one way. None when the seats
        could not all be taken at once (the caller decides one by one then)."""
        admits = [d["application"]["id"] for d in planned if d["decision"] == "admitted"]
        if not self.store.reserve_seats(program["id"], track["key"], admits, track["capacity"]):
            return None
        now, writes = self._now(), []
        for d in planned:
            app, reason = d["application"], d["reason"]
            if d["decision"] == "admitted":
                event = self._event(caller, STUDENT_ADMITTED, domain.student_payload(app, reason=reason, promoted=False))
                changes = {"status": "admitted", "promoted": False, "waitlist_position": None}
            elif d["decision"] == "waitlisted":
                event = self._event(caller, STUDENT_WAITLISTED, domain.student_payload(
                    app, position=d["position"], reason=reason))
                changes = {"status": "waitlisted", "waitlist_position": d["position"]}
            else:
                event = self._event(caller, STUDENT_REJECTED, domain.student_payload(app, reason=reason))
                changes = {"status": "rejected"}
            writes.append((app["id"], ("screened",), {**changes, "decision_reason": reason, "decided_at": now}, [event]))
        applied = self.store.update_applications(writes)
        made = []
        for d in planned:
            app = d["application"]
            after = applied.get(app["id"])
            if after is not None:
                made.append(self._decision(after, d["decision"], d["reason"], d.get("position")))
            elif d["decision"] == "admitted":  # changed meanwhile (withdrawn): give its seat back
                current = self.store.get_application(app["school_id"], app["id"])
                if current is None or current["status"] != "admitted":
                    self.store.release_seat(program["id"], track["key"], app["id"])
        return made

    def _apply_decision(self, caller, program, track, decision):
        app, now = decision["application"], self._now()
        if decision["decision"] == "admitted":
            seat = self.store.reserve_seat(program["id"], track["key"], app["id"], track["capacity"])
            if seat != "full":
                return self._admit(caller, app, decision["reason"], ("screened",), promoted=False,
                                   reserved=seat == "reserved")
            waiting = self.store.applications_in(caller["school_id"], program["id"], track["key"], ("waitlisted",))
            decision = {**decision, "decision": "waitlisted",
                        "position": 1 + sum(1 for w in waiting if domain.rank_key(w) < domain.rank_key(app)),
                        "reason": f"all {track['capacity']} places were taken while selection ran"}
        if decision["decision"] == "waitlisted":
            event = self._event(caller, STUDENT_WAITLISTED, domain.student_payload(
                app, position=decision["position"], reason=decision["reason"]))
            changes = {"status": "waitlisted", "waitlist_position": decision["position"]}
        else:
            event = self._event(caller, STUDENT_REJECTED, domain.student_payload(app, reason=decision["reason"]))
            changes = {"status": "rejected"}
        after = self.store.update_application(app["id"], ("screened",), {
            **changes, "decision_reason": decision["reason"], "decided_at": now}, [event])
        return self._decision(after, decision["decision"], decision["reason"],
                              decision.get("position")) if after else None

    def _admit(self, caller, app, reason, statuses, *, promoted, reserved):
        """Admit an application that holds a seat; give the seat back if the
        application changed meanwhile (withdrawn, decided by another run)."""
        event = self._event(caller, STUDENT_ADMITTED, domain.student_payload(app, reason=reason, promoted=promoted))
        after = self.store.update_application(app["id"], statuses, {
            "status": "admitted", "decision_reason": reason, "decided_at": self._now(),
            "promoted": promoted, "waitlist_position": None}, [event])
        if after is None:
            current = self.store.get_application(app["school_id"], app["id"])
            if reserved and (current is None or current["status"] != "admitted"):
                self.store.release_seat(app["program_id"], app["track"], app["id"])
            return None
        return self._decision(after, "admitted", reason, None, promoted)

    @staticmethod
    def _decision(app, decision, reason, position, promoted=False):
        return {"application_id": app["id"], "student_id": app["student_id"], "track": app["track"],
                "decision": decision, "reason": reason, "position": position, "promoted": promoted}

    def _fill_from_waitlist(self, caller, program, track):
        """Promote waitlisted students, best rank first, while the track has places."""
        self.store.ensure_counter(program["school_id"], program["id"], track["key"], track["capacity"])
        promoted = []
        while True:
            waiting = self.store.applications_in(program["school_id"], program["id"], track["key"], ("waitlisted",))
            progressed = False
            for position, app in enumerate(waiting, 1):
                seat = self.store.reserve_seat(program["id"], track["key"], app["id"], track["capacity"])
                if seat == "full":
                    return promoted
                if seat == "held":
                    continue  # another request is promoting this one
                made = self._admit(caller, app, f"promoted from the waitlist (position {position}) "
                                                f"when a place in track '{track['key']}' became free",
                                   ("waitlisted",), promoted=True, reserved=True)
                if made:
                    promoted.append(made)
                    progressed = True
                    break
            if not progressed:
                return promoted

    def _repair_seats(self, caller, program, track):
        """Finish what a crash interrupted: a seat held by a screened or waitlisted
        application is an admission to complete, one held by a withdrawn
        application is a place to give back."""
        counter = self.store.seat_counter(program["id"], track["key"])
        apps = self.store.applications_by_id(counter["holders"])
        to_admit, to_release = domain.seat_repairs(
            {h: (apps[h]["status"] if h in apps else None) for h in counter["holders"]})
        for app_id in to_release:
            self.store.release_seat(program["id"], track["key"], app_id)
        done = []
        for app_id in to_admit:
            app = apps[app_id]
            made = self._admit(caller, app, "admitted (completing an interrupted admission)",
                               (app["status"],), promoted=app["status"] == "waitlisted", reserved=False)
            done += [made] if made else []
        return done

    # --- teams ---------------------------------------------------------------

    def _team(self, caller, team_id):
        """The team as the caller may see it: a student only their own."""
        team = self.store.get_team(caller["school_id"], team_id)
        own = acting_student(caller)
        if (team is None or team["status"] not in ("active", "disbanded")
                or (own is not None and own not in team["members"])):
            raise NotFound(f"no team {team_id}")
        return team

    def _team_to_join(self, caller, team_id):
        """A team a student may join is one they may name but not yet see."""
        team = self.store.get_team(caller["school_id"], team_id)
        if team is None or team["status"] not in ("active", "disbanded"):
            raise NotFound(f"no team {team_id}")
        return team

    def _team_view(self, team, program):
        return dump(TeamSchema, {**team, "complete": domain.is_complete(team, program.get("team_size") or {})})

    def _unlocked(self, program):
        if domain.teams_locked(program, self._now()):
            raise Conflict(f"teams of programme {program['id']} are locked since {program.get('team_lock_date') or program['ends_on']}")

    def _admitted_in_track(self, caller, program, student_id, track):
        app = self.store.live_application(caller["school_id"], program["id"], student_id)
        if app is None or app["status"] != "admitted":
            raise Conflict(f"student {student_id} is not admitted to programme {program['id']}",
                               {"members": [f"{student_id} is not admitted"]})
        if app["track"] != track:
            raise Conflict(f"student {student_id} is in track '{app['track']}', not '{track}'",
                               {"members": [f"{student_id} is in another track"]})

    def _claim(self, program, student_id, team_id):
        """Claim the student for the team; False if another team holds them."""
        now = self._now()
        holder = self.store.claim_membership(program["id"], student_id, team_id, now)
        if holder is None:
            return True
        if domain.membership_holds(self.store.get_team(None, holder), student_id, now):
            return False
        return self.store.take_membership(program["id"], student_id, holder, team_id, now)

    @rpc
    def form_team(self, caller, program_id, data):
        data = load(TeamCreateSchema, data)
        program = self._program(caller, program_id)
        self._track(program, data["track"])
        self._unlocked(program)
        members = data["members"]
        if len(set(members)) != len(members):
            raise InvalidInput("a student is listed twice", {"members": ["duplicate student ids"]})
        too = domain.team_size_error(len(members), program.get("team_size") or {})
        if too:
            raise InvalidInput(too, {"members": [too]})
        own = acting_student(caller)
        if own is not None and own not in members:
            raise Forbidden("a student forms a team they are a member of", {"members": ["must include the acting student"]})
        for student_id in members:
            self._admitted_in_track(caller, program, student_id, data["track"])
        team = self.store.insert_team(domain.new_team(
            data, program, school_id=caller["school_id"], actor=stamp(caller, "created_by"), now=self._now(),
            team_id=caller.get("operation_id")))
        if team["status"] != "forming":  # a retried operation
            return self._team_view(self._team(caller, team["id"]), program)
        claimed = []
        for student_id in members:
            if not self._claim(program, student_id, team["id"]):
                for done in claimed:
                    self.store.release_membership(program["id"], done, team["id"])
                self.store.fail_team(team["id"])
                raise Conflict(f"student {student_id} is already in a team of this programme")
            claimed.append(student_id)
        active = self.store.activate_team(team["id"], members, lambda current: [self._event(
            caller, TEAM_FORMED, domain.team_payload(current, members))])
        if active is None:
            raise Conflict("the team could not be formed; try again")
        return self._team_view(active, program)

    @rpc
    def get_team(self, caller, team_id):
        team = self._team(caller, team_id)
        return self._team_view(team, self._program(caller, team["program_id"]))

    @rpc
    def list_teams(self, caller, program_id, query=None):
        query = load(TeamListQuerySchema, query)
        program = self._program(caller, program_id)
        own = acting_student(caller)
        if own is not None:  # a student sees their own team only
            team_id = self.store.membership(program_id, own)
            team = self.store.get_team(caller["school_id"], team_id) if team_id else None
            teams = [team] if team and team["status"] == "active" and own in team["members"] else []
            return [self._team_view(t, program) for t in teams[query["offset"]:][:query["limit"]]]
        teams = self.store.list_teams(caller["school_id"], program_id, track=query.get("track"),
                                     without=query.get("without"), limit=query["limit"] + 1,
                                     offset=query["offset"])
        return page([self._team_view(t, program) for t in teams], query)

    @rpc
    def join_team(self, caller, team_id, data):
        student_id = load(TeamMemberSchema, data)["student_id"]
        ensure_self(caller, student_id)
        team = self._team_to_join(caller, team_id)
        program = self._program(caller, team["program_id"])
        self._unlocked(program)
        if team["status"] != "active":
            raise Conflict(f"team {team_id} is disbanded")
        if student_id in team["members"]:
            return self._team_view(team, program)
        self._admitted_in_track(caller, program, student_id, team["track"])
        if not self._claim(program, student_id, team_id):
            raise Conflict(f"student {student_id} is already in a team of this programme")
        maximum = (program.get("team_size") or {}).get("max", 50)
        after = self.store.add_member(team_id, student_id, maximum, lambda current: [self._event(
            caller, TEAM_CHANGED, {**domain.team_payload(current, [*current["members"], student_id]),
                                   "change": "joined", "student_id": student_id})])
        if after is None:
            current = self._team_to_join(caller, team_id)
            if student_id in current["members"]:
                return self._team_view(current, program)
            self.store.release_membership(program["id"], student_id, team_id)
            if current["status"] != "active":
                raise Conflict(f"team {team_id} is disbanded")
            raise Conflict(f"team {team_id} is full: a team has at most {maximum} members")
        return self._team_view(after, program)

    @rpc
    def leave_team(self, caller, team_id, student_id):
        ensure_self(caller, student_id)
        team = self._team(caller, team_id)
        program = self._program(caller, team["program_id"])
        if repeated(team, caller):  # a retry of this leave after its reply was lost: left once
            return self._team_view(team, program)
        self._unlocked(program)
        if team["status"] != "active" or student_id not in team["members"]:
            raise NotFound(f"student {student_id} is not a member of team {team_id}")
        after = self._remove_member(caller, team_id, student_id, _operations(team, caller))
        return self._team_view(after or self._team(caller, team_id), program)

    def _remove_member(self, caller, team_id, student_id, changes=None):
        team = self.store.get_team(caller["school_id"], team_id)
        if team is None:
            return None
        after = self.store.remove_member(team_id, student_id, lambda current: [self._event(
            caller, TEAM_CHANGED, {**domain.team_payload(current, [m for m in current["members"] if m != student_id]),
                                   "change": "left", "student_id": student_id})], changes)
        self.store.release_membership(team["program_id"], student_id, team_id)
        return after

    @rpc
    def disband_team(self, caller, team_id):
        team = self._team(caller, team_id)
        program = self._program(caller, team["program_id"])
        if repeated(team, caller):  # a retry of this disbanding after its reply was lost: disbanded once
            return self._team_view(team, program)
        self._unlocked(program)
        after = self.store.disband_team(team_id, lambda current: [self._event(
            caller, TEAM_CHANGED, {**domain.team_payload(current, []), "change": "disbanded",
                                   "student_id": None})], _operations(team, caller))
        if after is None:
            raise Conflict(f"team {team_id} is already disbanded")
        for student_id in after["members"]:
            self.store.release_membership(program["id"], student_id, team_id)
        for kind in ("mentor", "tutor"):
            if after[f"{kind}_id"]:
                self.store.release_load(after[f"{kind}_id"], team_id)
        return self._team_view(after, program)

    # --- mentors and tutors --------------------------------------------------

    def _staff(self, caller, staff_id, kind):
        staff = self.store.get_staff(caller["school_id"], staff_id)
        if staff is None or staff["kind"] != kind:
            raise NotFound(f"no {kind} {staff_id}")
        return staff

    @rpc
    def register_staff(self, caller, program_id, kind, data, person_id=None):
        """Register an enterprise mentor (with partner) or a school tutor; ``person_id``:
        the Praxis person they are (an LMS roster sync's instructor), kept on the record
        (its id stays the programme's) and on the team's ``tutor.assigned``."""
        data = load(STAFF_KINDS[kind], data)
        self._program(caller, program_id)
        staff = self.store.insert_staff({
            "id": caller.get("operation_id") or domain.uuid.uuid4().hex,
            "school_id": caller["school_id"], "program_id": program_id, "kind": kind,
            "partner_id": data.get("partner_id"), "name": data["name"], "email": data["email"],
            "max_load": data["max_load"], "load": 0, "teams": {}, "active": True,
            "created_at": self._now(), "person_id": person_id})
        return dump(StaffSchema, staff)

    @rpc
    def list_staff(self, caller, program_id, kind, query=None):
        """Mentors (or tutors) of a programme in the order they were registered."""
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        return page_of([dump(StaffSchema, s) for s in self.store.list_staff(caller["school_id"], program_id, kind)],
                       query)

    def _assign(self, caller, team, kind, staff):
        """Give ``team`` this mentor/tutor: first count the load (never over the
        maximum), then point the team at them, then free the previous one."""
        previous = team[f"{kind}_id"]
        if not self.store.reserve_load(staff["id"], team["id"], staff["max_load"]):
            return None
        if kind == "mentor":
            payload = {"team_id": team["id"], "program_id": team["program_id"], "mentor_id": staff["id"],
                       "partner_id": staff["partner_id"], "previous_mentor_id": previous}
            event = self._event(caller, MENTOR_ASSIGNED, payload)
        else:
            event = self._event(caller, TUTOR_ASSIGNED, {"team_id": team["id"], "program_id": team["program_id"],
                                                         "tutor_id": staff["id"], "previous_tutor_id": previous,
                                                         "tutor_person_id": staff.get("person_id")})
        if self.store.set_team_staff(team["id"], kind, previous, staff["id"], [event]) is None:
            self.store.release_load(staff["id"], team["id"])
            return None
        if previous:
            self.store.release_load(previous, team["id"])
        return {"team_id": team["id"], "kind": kind, "staff_id": staff["id"], "previous_staff_id": previous}

    def _assign_balanced(self, caller, program, kind, teams):
        """Assign teams automatically, least-loaded first; a lost race is retried."""
        assigned = []
        for _ in range(5):
            staff = self.store.list_staff(caller["school_id"], program["id"], kind)
            pairs, _left = domain.plan_for_programme(teams, staff, program, kind)
            by_id = {s["id"]: s for s in staff}
            teams_by_id = {t["id"]: t for t in teams}
            missed = []
            for team_id, staff_id in pairs:
                made = self._assign(caller, teams_by_id[team_id], kind, by_id[staff_id])
                if made:
                    assigned.append(made)
                else:
                    current = self.store.get_team(caller["school_id"], team_id)
                    if current and current["status"] == "active" and current[f"{kind}_id"] == teams_by_id[team_id][f"{kind}_id"]:
                        missed.append(current)
            if not missed:
                break
            teams = missed
        return assigned

    @rpc
    def assign_staff(self, caller, program_id):
        """Every team without a mentor (or tutor) gets one, balancing load."""
        program = self._program(caller, program_id)
        assigned = []
        for kind in ("mentor", "tutor"):
            self.store.repair_loads(caller["school_id"], program_id, kind)
            teams = self.store.list_teams(caller["school_id"], program_id, without=kind, limit=MANY)
            assigned += self._assign_balanced(caller, program, kind, teams)
        left = {kind: [t["id"] for t in self.store.list_teams(caller["school_id"], program_id,
                                                             without=kind, limit=MANY)]
                for kind in ("mentor", "tutor")}
        return dump(AssignmentResultSchema, {"assigned": assigned, "without_mentor": left["mentor"],
                                             "without_tutor": left["tutor"]})

    @rpc
    def assign_by_hand(self, caller, team_id, kind, staff_id):
        team = self._team(caller, team_id)
        program = self._program(caller, team["program_id"])
        if team["status"] != "active":
            raise Conflict(f"team {team_id} is disbanded")
        staff = self._staff(caller, staff_id, kind)
        if staff["program_id"] != team["program_id"]:
            raise InvalidInput(f"{kind} {staff_id} works on another programme", {f"{kind}_id": ["another programme"]})
        wrong_partner = domain.mentor_partner_error(program, team, staff) if kind == "mentor" else None
        if wrong_partner:
            raise InvalidInput(wrong_partner, {"mentor_id": [wrong_partner]})
        if team[f"{kind}_id"] == staff_id:
            return self._team_view(team, program)
        if not staff["active"]:
            raise Conflict(f"{kind} {staff_id} has left the programme")
        if self._assign(caller, team, kind, staff) is None:
            raise Conflict(f"{kind} {staff_id} already has the most teams allowed ({staff['max_load']}), "
                           "or the team changed meanwhile")
        return self._team_view(self._team(caller, team_id), program)

    @rpc
    def remove_staff(self, caller, staff_id, kind):
        """A mentor (or tutor) leaves: their teams are reassigned, balancing load;
        teams for whom nobody has room stay without and are listed."""
        staff = self._staff(caller, staff_id, kind)
        program = self._program(caller, staff["program_id"])
        self.store.deactivate_staff(staff_id)
        teams = [t for t in (self.store.get_team(caller["school_id"], i) for i in staff["teams"])
                 if t and t["status"] == "active" and t[f"{kind}_id"] == staff_id]
        reassigned = self._assign_balanced(caller, program, kind, teams)
        moved = {a["team_id"] for a in reassigned}
        unassigned = []
        for team in teams:
            if team["id"] in moved:
                continue
            # nobody has room: the team is left without (and listed as such)
            owed = [self._event(caller, MENTOR_UNASSIGNED, {
                "team_id": team["id"], "program_id": team["program_id"], "mentor_id": staff_id,
                "partner_id": staff["partner_id"], "reason": "the mentor left the programme"})
            ] if kind == "mentor" else []
            if self.store.set_team_staff(team["id"], kind, staff_id, None, owed) is not None:
                self.store.release_load(staff_id, team["id"])
            unassigned.append(team["id"])
        return dump(StaffLeaveResultSchema, {"staff": self._staff(caller, staff_id, kind),
                                             "reassigned": reassigned, "unassigned": unassigned})

    # --- the roster ----------------------------------------------------------

    @rpc
    def roster(self, caller, program_id, query=None):
        """A page of the admitted students (and those who withdrew after admission) with
        track, team, mentor, tutor and status. The page is of the admitted and withdrawn
        applications, so one may hold fewer rows than ``limit`` (a withdrawal before
        admission has no row); ``has_more`` says whether to ask for the next offset."""
        query = load(RosterQuerySchema, query)
        self._program(caller, program_id)
        school_id, limit, offset = caller["school_id"], query["limit"], query["offset"]
        found = self.store.roster_applications(school_id, program_id, offset, limit + 1)
        apps = [a for a in found[:limit] if a["status"] == "admitted" or a.get("previous_status") == "admitted"]
        teams = self.store.list_teams(school_id, program_id, limit=MANY)
        staff = [*self.store.list_staff(school_id, program_id, "mentor"),
                 *self.store.list_staff(school_id, program_id, "tutor")]
        return dump(RosterSchema, {"program_id": program_id, "rows": domain.roster_rows(apps, teams, staff),
                                   "limit": limit, "offset": offset, "has_more": len(found) > limit})
