"""The supervision service: thin nameko entrypoints over services.supervision.domain.

It keeps projections of what the other services and the partners' platforms report
(the funnel as counters, each student's stages and last activity, platform accounts),
finds idle accounts with a timer, and raises alerts once per cause.
"""
import hashlib
import logging
import os
import random
import time
import uuid
from collections import defaultdict

import requests
from eventlet.semaphore import Semaphore
from nameko.timer import timer
from pymongo.errors import ConnectionFailure

from contracts.assessment import (ASSESSMENT_PUBLISHED, COMPETITION_SCORE_RECORDED, DEADLINE_MISSED,
                                  SUBMISSION_RECEIVED)
from contracts.base import dump, load
from contracts.content import (ATTENDANCE_RECORDED, FEEDBACK_SUBMITTED, QUESTION_ANSWERED, QUESTION_ASKED,
                               QUESTION_OVERDUE, REPLAY_WATCHED, SESSION_CANCELLED, SESSION_CHANGED,
                               SESSION_SCHEDULED)
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED,
                                  STUDENT_ADMITTED, STUDENT_WITHDRAWN, TEAM_CHANGED, TEAM_FORMED, TUTOR_ASSIGNED)
from contracts.errors import Conflict, Forbidden, NotFound
from contracts.events import make_event
from contracts.incentives import CREDITS_AWARDED, CREDITS_DEDUCTED, CREDITS_REVERSED
from contracts.supervision import (ACCOUNT_RECLAIM_REQUESTED, ALERT_RAISED, ALERT_RESOLVED, FUNNEL_STAGES,
                                   STAGE_REACHED, STUDENT_IDLE, TELEMETRY_INGESTED, AccountMappingsSchema,
                                   AccountPageSchema, AccountQuerySchema, AlertActionSchema, IdlePageQuerySchema,
                                   IdlePageSchema, MappingResultSchema, AlertPageSchema, AlertQuerySchema,
                                   AlertSchema, FunnelSchema, PageQuerySchema, ReportSchema,
                                   RulesSchema, StagePageSchema, StudentActivitySchema)
from services.common.acting import ensure_self, is_student
from services.common.events import Outbox, on_event
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.supervision import domain, reports, xapi
from services.supervision.models import DOCUMENTS, OUTBOX
from services.supervision.repository import SupervisionRepository

log = logging.getLogger("praxis.supervision")
ACTOR = "supervision"
CHECK_SECONDS = float(os.environ.get("PRAXIS_IDLE_CHECK_SECONDS", "60"))
XAPI_SECONDS = float(os.environ.get("PRAXIS_XAPI_SECONDS", "5"))
RETRIES = 8
BATCH_RETRIES = 40  # handlers writing the same students at once (telemetry, the idle check) contend


# stored telemetry is folded into the summaries every PRAXIS_COMPACT_SECONDS (reads add
# what is not folded yet), up to COMPACT_BATCHES batches (of up to 5,000 records) a pass
COMPACT_SECONDS = float(os.environ.get("PRAXIS_COMPACT_SECONDS", "10"))
COMPACT_BATCHES = 40
COMPACTING_ONE_AT_A_TIME = Semaphore(1)
DECIDING_ONE_AT_A_TIME = Semaphore(1)


class ProgramNotYetKnown(ConnectionFailure):
    """A passing failure: services.common.events retries the event with backoff."""


class Contended(ConnectionFailure):
    """Records kept changing under concurrent events (e.g. batches for the same accounts):
    a passing failure, retried with backoff and then requeued, never dropped (each
    batch is applied to an account once, so a retry finishes what was left)."""


def backoff(attempt):
    """A short random pause before re-reading records that lost a race."""
    time.sleep(random.uniform(0, 0.02 * (attempt + 1)))


def event_id(*parts):
    """Event ids derived from their cause: the same cause gives the same id."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


class SupervisionService(PraxisService):
    name = "supervision"

    store = Storage(SupervisionRepository, documents=DOCUMENTS)
    outbox = Outbox(*OUTBOX)

    # --- helpers ------------------------------------------------------------------

    def _event(self, program, event_type, payload, key):
        return make_event(event_type, payload, school_id=program["school_id"], actor=ACTOR,
                          event_id=event_id(event_type.type, key))

    def _program(self, program_id, school_id=None):
        """The programme's record, or a stand-in while its program.created is on the way."""
        program = self.store.programs.get(program_id)
        return program if program is not None else domain.stub_program(program_id, school_id)

    def _own_program(self, caller, program_id):
        program = self.store.programs.get(program_id)
        if program is None or program["school_id"] != caller["school_id"]:
            raise NotFound(f"no programme {program_id}")
        return program

    def _known_program(self, program_id, school_id):
        """The programme's record; for an event about a programme whose program.created
        has not arrived yet (another queue), a stand-in record that program.created
        completes later, so what the event counts is kept."""
        program = self.store.programs.get(program_id)
        if program is None:
            self.store.programs.insert(domain.stub_program(program_id, school_id))
            program = self.store.programs.get(program_id)
        return program

    def _change_program(self, program_id, change, school_id=None):
        """Apply ``change(program)`` under the rev guard (re-read on a lost race); an
        event (``school_id`` given) about a programme not known yet makes its stand-in."""
        for _ in range(RETRIES):
            program = (self._known_program(program_id, school_id) if school_id
                       else self.store.programs.get(program_id))
            if program is None:
                raise ProgramNotYetKnown(f"programme {program_id} not known yet")
            if change(program) is False:
                return program
            if not self.store.programs.save_many([(program, [])]):
                return program
        raise Conflict("the programme changed too often meanwhile; retry")

    def _change_students(self, program, changes, now, create=True):
        """Apply ``changes[student_id](student)`` (returns events or None) to each
        student under the rev guard; flag the stages now due, owe stage.reached for
        each first time and move the funnel counters. Returns the saved students."""
        pending = {domain.student_key(program["id"], sid): (sid, fn) for sid, fn in changes.items()}
        saved = {}
        for attempt in range(BATCH_RETRIES):
            found = self.store.students.many(pending)
            batch, first = [], {}
            for key, (sid, fn) in pending.items():
                student = found.get(key)
                if student is None:
                    if not create:
                        continue
                    student = domain.new_student(program["id"], program["school_id"], sid)
                before = set(student["stages"])
                events = list(fn(student) or [])
                for stage in domain.stages_due(program, student):
                    domain.reach(student, stage, now)
                first[key] = [stage for stage in FUNNEL_STAGES if stage in student["stages"] and stage not in before]
                for stage in first[key]:
                    events.append(self._event(program, STAGE_REACHED, {
                        "program_id": program["id"], "student_id": sid, "stage": stage,
                        "reached_at": domain.iso(student["stages"][stage]), "track": student.get("track")},
                        f"{key}:{stage}"))
                student["idle_clock"] = 0.0 if program.get("stub") else domain.idle_clock_start(program, student)
                if first[key]:  # the counter move it owes, stored with the stage in the same write
                    student.setdefault("uncounted", []).append({"id": uuid.uuid4().hex, "stages": first[key]})
                batch.append((student, events))
            lost = set(self.store.students.save_many(batch))
            # the counters move once per stage first reached by a save that won (a lost
            # race re-reads the student and decides again); a move owed by an earlier
            # save that died before moving them (a crash, the database gone) is made now
            owed = []
            for student, _ in batch:
                if student["id"] not in lost:
                    saved[student["id"]] = student
                    owed += [(student["id"], move) for move in student.get("uncounted") or []]
            if owed:
                self.store.count(program["id"], owed)
            pending = {k: v for k, v in pending.items() if k in lost}
            if not pending:
                return saved
            backoff(attempt)
        raise Contended("students changed too often meanwhile")

    def _raise_alert(self, program, kind, parts, message, now, student_id=None, subject_id=None, mentor_id=None,
                     teams=None):
        """Raise an alert once per cause (its id is derived from the cause), to the
        student's team's mentor and tutor."""
        alert, event = self._new_alert(program, kind, parts, message, now, student_id, subject_id, mentor_id, teams)
        return self.store.alerts.insert(alert, [event]), alert

    def _new_alert(self, program, kind, parts, message, now, student_id=None, subject_id=None, mentor_id=None,
                   teams=None):
        """An alert record and its alert.raised, both with the id derived from the cause."""
        alert_id = domain.alert_id(kind, program["id"], *parts)
        team = domain.team_of(program, student_id, teams) if student_id else None
        alert = {"id": alert_id, "program_id": program["id"], "school_id": program["school_id"], "kind": kind,
                 "message": message, "status": "open", "student_id": student_id,
                 "team_id": team and team["id"], "mentor_id": mentor_id or (team and team.get("mentor_id")),
                 "tutor_id": team and team.get("tutor_id"), "subject_id": subject_id,
                 "raised_ts": now, "note": None, "updated_by": None}
        payload = {k: alert[k] for k in ("program_id", "kind", "message", "student_id", "team_id", "mentor_id",
                                         "tutor_id", "subject_id")}
        return alert, self._event(program, ALERT_RAISED, {"alert_id": alert_id, **payload}, alert_id)

    def _resolve_alert(self, program, alert_id, by, note=""):
        for _ in range(RETRIES):
            alert = self.store.alerts.get(alert_id)
            if alert is None or alert["status"] == "resolved":
                return alert
            alert.update(status="resolved", note=note or alert.get("note"), updated_by=by)
            event = self._event(program, ALERT_RESOLVED, {
                "alert_id": alert_id, "program_id": alert["program_id"], "kind": alert["kind"],
                "resolved_by": by, "note": note, "student_id": alert.get("student_id")}, alert_id)
            if not self.store.alerts.save_many([(alert, [event])]):
                return alert
        raise Conflict("the alert changed meanwhile; retry")

    # --- programmes, sessions, teams (enrollment's and content's events) -------------

    @on_event(PROGRAM_CREATED)
    def on_program_created(self, event):
        program = domain.new_program(event.school_id, event.payload, event.occurred_at)
        if self.store.programs.insert(program):
            return

        def complete(stub):  # events about the programme came first: complete their stand-in
            if not stub.get("stub"):
                return False
            completed = domain.complete_stub(stub, program)
            stub.clear()
            stub.update(completed)
        self._change_program(program["id"], complete)

    def _session(self, event, status):
        p = event.payload

        def change(program):
            if status == "cancelled":
                if p["session_id"] not in program["sessions"]:
                    return False
                program["sessions"][p["session_id"]]["status"] = "cancelled"
                return None
            program["sessions"][p["session_id"]] = {
                "title": p["title"], "starts_ts": domain.ts(p["starts_at"]), "ends_ts": domain.ts(p["ends_at"]),
                "tracks": p["tracks"], "status": status, "instructor_id": p["instructor_id"]}
        self._change_program(p["program_id"], change, event.school_id)

    @on_event(SESSION_SCHEDULED)
    def on_session_scheduled(self, event):
        self._session(event, "scheduled")

    @on_event(SESSION_CHANGED)
    def on_session_changed(self, event):
        self._session(event, "scheduled")

    @on_event(SESSION_CANCELLED)
    def on_session_cancelled(self, event):
        self._session(event, "cancelled")

    def _team(self, event, **fields):
        program_id, team_id = event.payload["program_id"], event.payload["team_id"]

        def change(program):
            team = program.setdefault("teams", {}).setdefault(team_id, {"mentor_id": None, "tutor_id": None,
                                                                        "members": []})
            team.update(fields)
            if fields.get("partner_id") and fields["partner_id"] not in program["partners"]:
                program["partners"].append(fields["partner_id"])
            team.pop("partner_id", None)
        self._change_program(program_id, change, event.school_id)

    @on_event(TEAM_FORMED)
    def on_team_formed(self, event):
        self._team(event, members=event.payload["members"])

    @on_event(TEAM_CHANGED)
    def on_team_changed(self, event):
        p = event.payload
        self._team(event, members=[] if p["change"] == "disbanded" else p["members"])

    @on_event(MENTOR_ASSIGNED)
    def on_mentor_assigned(self, event):
        self._team(event, mentor_id=event.payload["mentor_id"], partner_id=event.payload["partner_id"])

    @on_event(MENTOR_UNASSIGNED)
    def on_mentor_unassigned(self, event):
        self._team(event, mentor_id=None)

    @on_event(TUTOR_ASSIGNED)
    def on_tutor_assigned(self, event):
        self._team(event, tutor_id=event.payload["tutor_id"])

    # --- the funnel's early stages ------------------------------------------------------

    def _student_event(self, event, change):
        program = self._known_program(event.payload["program_id"], event.school_id)
        return self._change_students(program, {event.payload["student_id"]: change}, domain.ts(event.occurred_at))

    @on_event(APPLICATION_SUBMITTED)
    def on_application_submitted(self, event):
        at, p = domain.ts(event.occurred_at), event.payload

        def change(student):
            student["track"] = p["track"]
            student["name"] = p["name"]
            if student["status"] is None or student["status"] == "registered":
                student["status"] = "registered"
            domain.reach(student, "registered", at)
        self._student_event(event, change)

    @on_event(STUDENT_ADMITTED)
    def on_student_admitted(self, event):
        at, p = domain.ts(event.occurred_at), event.payload

        def change(student):
            student.update(track=p["track"], status="admitted", admitted_ts=student.get("admitted_ts") or at)
            domain.reach(student, "admitted", at)
        self._student_event(event, change)

    @on_event(STUDENT_WITHDRAWN)
    def on_student_withdrawn(self, event):
        self._student_event(event, lambda student: student.update(status="withdrawn"))

    @on_event(ATTENDANCE_RECORDED)
    def on_attendance_recorded(self, event):
        at, p = domain.ts(event.occurred_at), event.payload

        def change(student):
            student["attended"][p["session_id"]] = p["status"]
            if p["status"] in domain.TRAINED_BY:
                domain.note_lms(student, "replay" if p["status"] == "watched_replay" else "attendance", at)
        # the programme read once: its sessions and rules (all the alerts need) are
        # those of this moment; the funnel counters the write moved are not used
        program = self._known_program(p["program_id"], event.school_id)
        saved = self._change_students(program, {p["student_id"]: change}, at)
        for student in saved.values():
            self._attendance_alerts(program, student, at)
        if p["status"] in domain.TRAINED_BY:
            title = program["sessions"].get(p["session_id"], {}).get("title")
            self._keep_statement(p["program_id"], xapi.from_attendance(event, title), at)

    @on_event(REPLAY_WATCHED)
    def on_replay_watched(self, event):
        self._student_event(event, lambda s: domain.note_lms(s, "replay", domain.ts(event.occurred_at)))

    @on_event(QUESTION_ASKED)
    def on_question_asked(self, event):
        self._student_event(event, lambda s: domain.note_lms(s, "question", domain.ts(event.occurred_at)))

    @on_event(QUESTION_ANSWERED)
    def on_question_answered(self, event):
        p = event.payload

        def change(program):
            asked = domain.ts(p["due_at"]) - program.get("sla_seconds", 24 * 3600)
            if p["role"] == "mentor":
                times = program.setdefault("answers", {}).setdefault(p["author_id"], [])
                times.append(max(0.0, domain.ts(p["answered_at"]) - asked))
                del times[:-500]  # the median of the latest answers
        program = self._change_program(p["program_id"], change, event.school_id)
        self._resolve_alert(program, domain.alert_id("question_overdue", p["program_id"], p["question_id"]),
                            "system", "answered")

    @on_event(QUESTION_OVERDUE)
    def on_question_overdue(self, event):
        p = event.payload
        program = self._known_program(p["program_id"], event.school_id)
        created, _ = self._raise_alert(
            program, "question_overdue", [p["question_id"]],
            f"a question of {p['student_id']} is unanswered past its deadline",
            domain.ts(event.occurred_at), student_id=p["student_id"], subject_id=p["question_id"],
            mentor_id=p.get("mentor_id"))

        def count(program):
            overdue = program.setdefault("overdue", {})
            key = p.get("mentor_id") or "unassigned"
            overdue[key] = overdue.get(key, 0) + 1
        if created:
            self._change_program(p["program_id"], count)

    @on_event(FEEDBACK_SUBMITTED)
    def on_feedback_submitted(self, event):
        p = event.payload

        def change(program):
            score = program.setdefault("instructors", {}).setdefault(p["instructor_id"], {"sum": 0, "n": 0})
            score["sum"] += (p["clarity"] + p["practical_value"] + p["pace"]) / 3
            score["n"] += 1
        self._change_program(p["program_id"], change, event.school_id)

    # --- assessment: submitting, finished, missing work -----------------------------------

    @on_event(ASSESSMENT_PUBLISHED)
    def on_assessment_published(self, event):
        p = event.payload

        def change(program):
            program.setdefault("assessments", {})[p["assessment_id"]] = {
                "title": p["title"], "kind": p["assessment_kind"], "tracks": p["tracks"],
                "deadline_ts": domain.ts(p["deadline"])}
        self._change_program(p["program_id"], change, event.school_id)

    @on_event(SUBMISSION_RECEIVED)
    def on_submission_received(self, event):
        p = event.payload

        def change(student):
            student.setdefault("submitted", {})[p["assessment_id"]] = domain.ts(p["submitted_at"])
            domain.note_lms(student, "submission", domain.ts(p["submitted_at"]))
        self._student_event(event, change)
        program = self.store.programs.get(p["program_id"])
        title = program.get("assessments", {}).get(p["assessment_id"], {}).get("title")
        self._keep_statement(p["program_id"], xapi.from_submission(event, title), domain.ts(p["submitted_at"]))

    @on_event(DEADLINE_MISSED)
    def on_deadline_missed(self, event):
        p = event.payload
        saved = self._student_event(event, lambda s: s.setdefault("missed", {}).update({p["assessment_id"]: 1}))
        program = self.store.programs.get(p["program_id"])
        title = program.get("assessments", {}).get(p["assessment_id"], {}).get("title", p["assessment_id"])
        for student in saved.values():
            self._raise_alert(program, "deadline_missed", [p["assessment_id"], student["student_id"]],
                              f"{student['student_id']} handed in nothing for {title} by its deadline",
                              domain.ts(event.occurred_at), student_id=student["student_id"],
                              subject_id=p["assessment_id"])

    @on_event(COMPETITION_SCORE_RECORDED)
    def on_competition_score_recorded(self, event):
        p = event.payload
        program = self._known_program(p["program_id"], event.school_id)
        if not program.get("competition_seen"):
            program = self._change_program(p["program_id"], lambda prog: prog.update(competition_seen=True))
        students = set(p["student_ids"]) | ({p["student_id"]} if p.get("student_id") else set())
        self._change_students(program, {sid: (lambda s: s.update(competition=True)) for sid in students},
                              domain.ts(event.occurred_at))

    # --- incentives: each student's credits ------------------------------------------------

    def _credit_entry(self, event):
        """A ledger entry incentives announced, added once to the student's credits: the
        sum of every award, deduction and reversal (the lifetime balance; the exchange
        spends only the spendable one and announces no entry). Each entry counts once
        whatever the delivery order or redelivery: its digest is kept on the student's
        record in the same write as the sum."""
        p = event.payload
        key = hashlib.sha256(p["entry_id"].encode()).hexdigest()[:16]

        def change(student):
            entries = student.setdefault("credit_entries", {})
            if key not in entries:
                entries[key] = p["amount"]
                student["credits"] = (student.get("credits") or 0) + p["amount"]
        self._student_event(event, change)

    @on_event(CREDITS_AWARDED)
    def on_credits_awarded(self, event):
        self._credit_entry(event)

    @on_event(CREDITS_DEDUCTED)
    def on_credits_deducted(self, event):
        self._credit_entry(event)

    @on_event(CREDITS_REVERSED)
    def on_credits_reversed(self, event):
        self._credit_entry(event)

    # --- telemetry ---------------------------------------------------------------------

    @on_event(TELEMETRY_INGESTED)
    def on_telemetry_ingested(self, event):
        """A batch of platform records: each new record stored once (on the platform's
        record id) and the batch noted for the compaction: two
        bulk writes, and no account or student written per record (at 10,000 students a
        5,000-record batch touches 5,000 accounts and each such write costs several
        inserts: bench/README.md). The summaries take the batch at the next compaction
        (compact_telemetry), and every read adds what is not folded yet, so a read shows
        every stored record. What must show at once is decided now (_decide_now): a
        first login that makes a student `active`, activity that ends an idle spell."""
        item = self._store_batch(event)
        now = time.time()
        program = item["program"]
        self.store.add_unfolded(item["batch_id"], program["id"], item["school_id"], now)
        if not program.get("stub") and not program.get("telemetry_seen"):
            self._change_program(program["id"], lambda prog: prog.update(telemetry_seen=True))
        with DECIDING_ONE_AT_A_TIME:  # handlers side by side would decide for the same students
            self._decide_now(item, now)

    def _decide_now(self, item, now):
        """Fold the batch now into the students it decides something for: those it may
        make `active` (a login after the first session, not active yet) and those in an
        idle spell (activity ends it), with all their accounts' records in it; the
        student remembers the batch, so the compaction does not add it again. The
        programme lists the accounts in a spell (``in_spell``); a spell missing there
        still ends at the compaction, which the idle check runs first."""
        program = item["program"]
        if program.get("stub"):
            return
        first = domain.first_session_ts(program)
        logins = [a for a, delta in item["deltas"].items()
                  if first is not None and delta["last"].get("login", 0) >= first]
        mapped = self.store.mapped_students(program["id"], logins) if logins else {}
        due = self.store.short_of(program["id"], set(mapped.values()), "active") if mapped else set()
        due |= {sid for account_id, sid in program.get("in_spell") or [] if account_id in item["deltas"]}
        if not due:
            return
        owed = defaultdict(lambda: defaultdict(domain.empty_platform))  # student -> batch -> delta
        accounts_of = defaultdict(set)
        for account in self.store.accounts_of_students({domain.student_key(program["id"], sid) for sid in due}):
            delta = item["deltas"].get(account["account_id"])
            if delta:
                domain.add_platform(owed[account["student_id"]][item["batch_id"]], delta)
                accounts_of[account["student_id"]].add(account["account_id"])
        self._fold_students(program, owed, accounts_of, now)

    @timer(interval=COMPACT_SECONDS)
    def compact_telemetry(self):
        for program_id in self.store.unfolded_programs():
            self.compact(program_id)

    def compact(self, program_id):
        """Fold the programme's stored batches into the accounts' and students' summaries,
        oldest first and many at once: each account and each student is written once for
        all of them (at 10,000 students, 20 batches of 5,000 records take 10,000 account
        and 10,000 student writes, not 100,000 of each). A batch is forgotten only once
        folded; a fold cut short (a crash, the database gone) runs again under the
        accounts' and students' per-batch guards, so each batch counts once. One pass at
        a time in a process; several processes fold side by side under the same guards."""
        with COMPACTING_ONE_AT_A_TIME:
            while True:
                batches = self.store.unfolded(program_id, limit=COMPACT_BATCHES)
                if not batches:
                    return
                program = self._program(program_id, batches[0]["school_id"])
                self._fold([{"program": program, "school_id": b["school_id"], "batch_id": b["id"],
                             "deltas": b["deltas"]} for b in batches], time.time())
                self.store.drop_unfolded([b["id"] for b in batches])
                log.info("telemetry folded", extra={"program_id": program_id, "batches": len(batches)})
                if len(batches) < COMPACT_BATCHES:
                    return

    def _store_batch(self, event):
        """Insert the batch's records once each (on the platform's record id); what the
        new ones add, per account."""
        p = event.payload
        program = self._program(p["program_id"], event.school_id)
        records, seen = [], set()
        for r in p["records"]:
            rid = domain.record_id(p["program_id"], r)
            if rid not in seen:
                seen.add(rid)
                records.append({"id": rid, "account_id": r["account_id"], "kind": r["kind"],
                                "ts": domain.ts(r["at"])})
        new_ids = self.store.insert_records(p["batch_id"], records)
        by_account = defaultdict(list)
        for record in records:
            if record["id"] in new_ids:
                by_account[record["account_id"]].append(record)
        return {"program": program, "school_id": event.school_id, "batch_id": p["batch_id"],
                "deltas": {a: domain.records_delta(rs) for a, rs in by_account.items()}}

    def _fold(self, items, now):
        """Fold stored batches (of one or more programmes) into accounts, then into the
        mapped students from the accounts' deltas (each batch once per student)."""
        by_program = defaultdict(list)
        for item in items:
            by_program[item["program"]["id"]].append(item)
        for program_items in by_program.values():
            program = program_items[-1]["program"]
            batches = [(item["batch_id"], item["deltas"]) for item in program_items]
            mapped = self.store.fold_accounts(program["id"], program_items[-1]["school_id"], batches)
            owed = defaultdict(lambda: defaultdict(domain.empty_platform))  # student -> batch -> delta
            accounts_of = defaultdict(set)
            for batch_id, deltas in batches:
                for account_id, delta in deltas.items():
                    if account_id in mapped:
                        domain.add_platform(owed[mapped[account_id]][batch_id], delta)
                        accounts_of[mapped[account_id]].add(account_id)
            self._fold_students(program, owed, accounts_of, now)

    def _fold_students(self, program, owed, accounts_of, now):
        """Add each batch's delta to the student once; activity after an idle spell ends it."""
        ended = []

        def change_for(sid):
            def change(student):
                domain.fold_into_student(student, owed[sid], accounts_of[sid])
                self._end_idle_spell(student, ended)
            return change
        self._change_students(program, {sid: change_for(sid) for sid in owed}, now)
        self._resolve_ended_spells(program, ended)

    @staticmethod
    def _end_idle_spell(student, ended):
        idle = student.get("idle")
        if idle and (student["platform"]["last_ts"] or 0) > idle["since"]:
            ended.append((idle["spell_id"], student["student_id"]))
            student["idle"] = None

    def _resolve_ended_spells(self, program, ended):
        for spell, _ in ended:
            for kind in ("student_idle", "account_reclaim"):
                self._resolve_alert(program, domain.alert_id(kind, program["id"], spell), "system",
                                    "platform activity ended the idle spell")
        gone = {sid for _, sid in ended}

        def forget(p):
            kept = [pair for pair in p.get("in_spell") or [] if pair[1] not in gone]
            if len(kept) == len(p.get("in_spell") or []):
                return False
            p["in_spell"] = kept
        if gone:
            self._change_program(program["id"], forget)

    def _refresh_platform(self, program, student_ids, now):
        """Recompute the students' platform activity from their accounts; activity
        after an idle spell ends it (and resolves its alerts)."""
        if not student_ids:
            return
        keys = {domain.student_key(program["id"], sid): sid for sid in student_ids}
        accounts = defaultdict(list)
        for account in self.store.accounts_of_students(keys):
            accounts[account["student_key"]].append(account)
        ended = []

        def change_for(key):
            def change(student):
                student["platform"] = domain.merge_platform(accounts[key])
                student["accounts"] = sorted(a["account_id"] for a in accounts[key])
                # the merge holds every batch its accounts folded: none is added again
                folded = [b for a in accounts[key] for b in a.get("batches") or []]
                student["platform_batches"] = list(dict.fromkeys(folded))[-domain.KEEP_BATCHES * 2:]
                self._end_idle_spell(student, ended)
            return change
        self._change_students(program, {sid: change_for(key) for key, sid in keys.items()}, now)
        self._resolve_ended_spells(program, ended)

    @rpc
    def map_accounts(self, caller, program_id, data):
        """Map platform accounts to students (bulk); records already counted for an
        unmapped account count for the student from now on."""
        data = load(AccountMappingsSchema, data)
        program = self._own_program(caller, program_id)
        wanted = {m["account_id"]: m["student_id"] for m in data["accounts"]}
        pending = {f"{program_id}:{a}": a for a in wanted}
        touched = set(wanted.values())
        for _ in range(RETRIES):
            found = self.store.accounts.many(pending)
            changes = []
            for key, account_id in pending.items():
                account = found.get(key) or domain.new_account(program_id, program["school_id"], account_id)
                if account.get("student_id"):
                    touched.add(account["student_id"])
                account["student_id"] = wanted[account_id]
                account["student_key"] = domain.student_key(program_id, wanted[account_id])
                account["mapped_by"] = caller["actor"]
                changes.append((account, []))
            lost = set(self.store.accounts.save_many(changes))
            pending = {k: v for k, v in pending.items() if k in lost}
            if not pending:
                break
        else:
            raise Conflict("platform accounts changed too often meanwhile; retry")
        self._refresh_platform(program, touched, time.time())
        unmapped = self.store.count_unmapped(program_id) + len(
            self.store.unstored_accounts(program_id, self.store.unfolded_ids(program_id)))
        return dump(MappingResultSchema, {"mapped": len(wanted), "unmapped": unmapped})

    @rpc
    def list_accounts(self, caller, program_id, query=None):
        """The programme's platform accounts by account id (paged), or only the unmapped
        ones. The page is cut by the database; an account named only by records not
        folded yet (no stored account until the compaction) is listed too, and each
        account's counts add its records not folded yet."""
        query = load(AccountQuerySchema, query)
        self._own_program(caller, program_id)
        start, limit = query["offset"], query["limit"]
        unfolded = self.store.unfolded_ids(program_id)
        unstored = self.store.unstored_accounts(program_id, unfolded)  # unmapped, all of them
        if unstored:  # merged into the order: the stored ids up to the page's end, and these
            stored = self.store.account_ids(program_id, query["unmapped"], 0, start + limit + 1)
            ids = sorted(set(stored) | set(unstored))[start:start + limit + 1]
        else:
            ids = self.store.account_ids(program_id, query["unmapped"], start, limit + 1)
        page = ids[:limit]
        accounts = self.store.accounts_of(program_id, page)
        summaries = {a: domain.merge_platform([accounts[a]] if a in accounts else []) for a in page}
        not_folded = defaultdict(list)  # account id -> its records in batches it has not folded
        for record in self.store.records_of(unfolded, page):
            if record["batch_id"] not in (accounts.get(record["account_id"]) or {}).get("batches", ()):
                not_folded[record["account_id"]].append(record)
        for account_id, records in not_folded.items():
            domain.add_platform(summaries[account_id], domain.records_delta(records))
        items = [{"account_id": a, "student_id": (accounts.get(a) or {}).get("student_id"),
                  "counts": summaries[a]["counts"],
                  "last_activity_at": domain.moment(max(summaries[a]["last"].values(), default=None))}
                 for a in page]
        return dump(AccountPageSchema, {"items": items, "limit": limit, "offset": start,
                                        "has_more": len(ids) > limit})

    # --- reading the funnel and students -------------------------------------------------

    @rpc
    def get_funnel(self, caller, program_id, known_program=None):
        """The funnel from its counters. ``known_program`` (from enrollment, passed by
        the gateway) answers an empty funnel for a programme supervision has not heard
        of yet instead of 404."""
        program = self.store.programs.get(program_id)
        if program is None or program.get("stub") or program["school_id"] != caller["school_id"]:
            if known_program and known_program.get("school_id") == caller["school_id"] \
                    and known_program.get("id") == program_id:
                stub = program if program and program["school_id"] == caller["school_id"] else None
                return dump(FunnelSchema, domain.funnel_view(domain.placeholder_program(known_program, stub)))
            raise NotFound(f"no programme {program_id}")
        return dump(FunnelSchema, domain.funnel_view(program))

    @rpc
    def stage_students(self, caller, program_id, stage, query=None):
        query = load(PageQuerySchema, query)
        if stage not in FUNNEL_STAGES:
            raise NotFound(f"no stage {stage}")
        self._own_program(caller, program_id)
        students, more = self.store.students_in(program_id, stage, **query)
        items = [{"student_id": s["student_id"], "track": s.get("track"),
                  "reached_at": domain.moment(s["stages"].get(stage))} for s in students]
        return dump(StagePageSchema, {"items": items, "has_more": more, **query})

    @rpc
    def student_activity(self, caller, program_id, student_id):
        if is_student(caller):
            ensure_self(caller, student_id)
        self._own_program(caller, program_id)
        student = self.store.students.get(domain.student_key(program_id, student_id))
        if student is None:
            raise NotFound(f"no student {student_id} in programme {program_id}")
        fresh = [b for b in self.store.unfolded_ids(program_id) if b not in (student.get("platform_batches") or [])]
        if fresh and student["accounts"]:  # the stored records not folded into the summary yet
            domain.add_platform(student["platform"], domain.records_delta(
                self.store.records_of(fresh, student["accounts"])))
        return dump(StudentActivitySchema, domain.activity_view(student))

    # --- rules, idle accounts, alerts ----------------------------------------------------

    @rpc
    def set_rules(self, caller, program_id, data):
        rules = load(RulesSchema, data)
        self._own_program(caller, program_id)
        self._change_program(program_id, lambda program: program.update(rules=rules))
        return dump(RulesSchema, rules)

    @rpc
    def get_rules(self, caller, program_id):
        program = self._own_program(caller, program_id)
        return dump(RulesSchema, {**domain.DEFAULT_RULES, **program.get("rules", {})})

    @timer(interval=CHECK_SECONDS)
    def check_programs(self):
        now = time.time()
        for program in self.store.running_programs(now):
            self.check_program(program["id"], now)

    @rpc
    def run_checks(self, caller, program_id):
        """Run the idle check and the attendance alerts of a programme now (the timer
        does it every PRAXIS_IDLE_CHECK_SECONDS); the same once-per-spell claims hold."""
        self._own_program(caller, program_id)
        return self.check_program(program_id, time.time())

    def check_program(self, program_id, now):
        """The idle check and the attendance alerts of one programme at ``now``.
        One idle spell gives one student.idle, one alert and (after the grace
        period) one reclaim, however often this runs and in however many
        processes: each is claimed by inserting a record with the spell's id. Stored
        telemetry is folded first, so that the idle clocks hold every record."""
        self.compact(program_id)
        program = self.store.programs.get(program_id)
        if program is None:
            return {"idle": 0, "reclaimed": 0}
        rules = {**domain.DEFAULT_RULES, **program.get("rules", {})}
        claims, alerts, marks, teams = [], [], {}, domain.team_index(program)
        for student in self.store.idle_candidates(program_id, now - rules["idle_days"] * domain.DAY):
            verdict = domain.idle_verdict(program, student, now)
            if verdict is None:
                continue
            known = student.get("idle") or {}
            if known.get("spell_id") == verdict["spell_id"] and (known.get("reclaimed") or not verdict["reclaim"]):
                continue  # this spell is fully handled
            claims.append(self._idle_claim(program, student, verdict, now, teams, alerts))
            if verdict["reclaim"]:
                claims.append(self._reclaim_claim(program, student, verdict, rules, now, teams, alerts))
            marks[student["student_id"]] = verdict
        # every claim of this run in bulk, then the alerts: each is inserted once, whichever
        # run or process gets there first (a duplicate is someone else's claim)
        claimed = self.store.claims.insert_many(claims)
        self.store.alerts.insert_many(alerts)
        if marks:
            def mark(verdict):
                return lambda s: s.update(idle={"spell_id": verdict["spell_id"], "since": verdict["since"],
                                                "reclaimed": verdict["reclaim"]})
            marked = self._change_students(program, {sid: mark(v) for sid, v in marks.items()}, now, create=False)
            # the accounts in a spell, for the telemetry handler to end the spell at once
            pairs = [[account_id, student["student_id"]] for student in marked.values()
                     for account_id in student["accounts"]]
            self._change_program(program_id, lambda p: p.update(in_spell=[
                *[pair for pair in p.get("in_spell") or [] if pair[1] not in marks], *pairs]))
        self._check_attendance(program, now)
        return {"idle": sum(1 for c in claimed if c.endswith(":idle")),
                "reclaimed": sum(1 for c in claimed if c.endswith(":reclaim"))}

    def _idle_claim(self, program, student, verdict, now, teams, alerts):
        """The claim of an idle spell with its student.idle (and its alert, added to ``alerts``)."""
        sid, spell = student["student_id"], verdict["spell_id"]
        team = domain.team_of(program, sid, teams)
        idle_event = self._event(program, STUDENT_IDLE, {
            "program_id": program["id"], "student_id": sid, "team_id": team and team["id"],
            "idle_since": domain.iso(verdict["since"]), "spell_id": spell,
            "account_id": (student["accounts"] or [None])[0], "idle_days": verdict["idle_days"]}, spell)
        alert, event = self._new_alert(program, "student_idle", [spell],
                                       f"{sid} has not used the platform for {verdict['idle_days']} days", now,
                                       student_id=sid, teams=teams)
        alerts.append((alert, [event]))
        return {"id": f"{spell}:idle", "program_id": program["id"], "ts": now}, [idle_event]

    def _reclaim_claim(self, program, student, verdict, rules, now, teams, alerts):
        """The claim of a spell's reclaim with its account.reclaim_requested (and its alert)."""
        sid, spell = student["student_id"], verdict["spell_id"]
        event = self._event(program, ACCOUNT_RECLAIM_REQUESTED, {
            "program_id": program["id"], "student_id": sid, "account_id": (student["accounts"] or [None])[0],
            "track": student.get("track"), "spell_id": spell, "idle_since": domain.iso(verdict["since"]),
            "promote_waitlisted": rules["promote_waitlisted"]}, spell)
        alert, alert_event = self._new_alert(
            program, "account_reclaim", [spell], f"{sid}'s platform account is to be released: idle past the grace "
                                                 "period", now, student_id=sid, teams=teams)
        alerts.append((alert, [alert_event]))
        return {"id": f"{spell}:reclaim", "program_id": program["id"], "ts": now}, [event]

    def _check_attendance(self, program, now):
        """After a session ended: every student's attendance standing (once per end)."""
        ended = [s["ends_ts"] for s in program["sessions"].values()
                 if s["status"] == "scheduled" and program.get("attendance_checked_ts", 0) < s["ends_ts"] <= now]
        if not ended:
            return
        offset, teams = 0, domain.team_index(program)
        while True:
            students, more = self.store.students_in(program["id"], limit=500, offset=offset)
            for student in students:
                self._attendance_alerts(program, student, now, teams)
            if not more:
                break
            offset += 500
        self._change_program(program["id"], lambda p: p.update(attendance_checked_ts=max(ended)))

    def _attendance_alerts(self, program, student, now, teams=None):
        for kind, message in domain.attendance_alerts(program, student, now):
            self._raise_alert(program, kind, [student["student_id"]], message, now,
                              student_id=student["student_id"], teams=teams)

    @rpc
    def idle_accounts(self, caller, program_id, query=None):
        """Students in an idle spell the idle check has found (activity ends it), by id."""
        query = load(IdlePageQuerySchema, query)
        program = self._own_program(caller, program_id)
        teams = domain.team_index(program)
        items = [{"student_id": s["student_id"], "accounts": s["accounts"],
                  "team_id": (teams.get(s["student_id"]) or {}).get("id"),
                  "idle_since": domain.moment(s["idle"]["since"]), "spell_id": s["idle"]["spell_id"],
                  "reclaim_requested": bool(s["idle"].get("reclaimed"))}
                 for s in self.store.idle_students(program_id)]
        items.sort(key=lambda i: i["student_id"])
        start, limit = query["offset"], query["limit"]
        return dump(IdlePageSchema, {"items": items[start:start + limit], "limit": limit, "offset": start,
                                     "has_more": len(items) > start + limit})

    @rpc
    def list_alerts(self, caller, program_id, query=None):
        query = load(AlertQuerySchema, query)
        self._own_program(caller, program_id)
        alerts, more = self.store.list_alerts(program_id, **query)
        page = {k: query[k] for k in ("limit", "offset")}
        return dump(AlertPageSchema, {"items": [_alert_row(a) for a in alerts], "has_more": more, **page})

    @rpc
    def update_alert(self, caller, alert_id, data):
        """Acknowledge (with a note) or resolve an alert."""
        data = load(AlertActionSchema, data)
        alert = self.store.alerts.get(alert_id)
        if alert is None or alert["school_id"] != caller["school_id"]:
            raise NotFound(f"no alert {alert_id}")
        if caller["role"] == "partner":
            raise Forbidden("partners do not handle the school's alerts")
        program = self.store.programs.get(alert["program_id"])
        if data["status"] == "resolved":
            return _alert_out(self._resolve_alert(program, alert_id, caller["actor"], data["note"]))
        if alert["status"] == "resolved":
            raise Conflict("the alert is resolved already")
        alert.update(status="acknowledged", note=data["note"], updated_by=caller["actor"])
        if self.store.alerts.save_many([(alert, [])]):
            raise Conflict("the alert changed meanwhile; retry")
        return _alert_out(alert)

    # --- xAPI ---------------------------------------------------------------------------

    def _keep_statement(self, program_id, statement, ts):
        self.store.add_statement(program_id, xapi.validate(statement), ts)

    @timer(interval=XAPI_SECONDS)
    def deliver_statements(self):
        """Send pending statements to the LRS (when one is configured); a failure
        leaves them pending for the next run, and the LRS keeps each id once."""
        lrs = xapi.LrsClient()
        if not lrs.configured:
            return 0
        delivered = 0
        while True:
            pending = self.store.pending_statements(500)
            if not pending:
                return delivered
            try:
                held = lrs.send(pending)
            except requests.RequestException as exc:  # the LRS is away: the statements wait
                log.warning("xAPI delivery failed; statements stay pending", extra={"reason": repr(exc)})
                return delivered
            self.store.mark_delivered(held, time.time())
            delivered += len(held)
            if len(held) < len(pending):
                return delivered

    @rpc
    def list_statements(self, caller, program_id, query=None):
        query = load(PageQuerySchema, query)
        self._own_program(caller, program_id)
        items, more = self.store.statements_of(program_id, **query)
        return {"items": items, "has_more": more, **query}

    # --- reports -----------------------------------------------------------------------

    @rpc
    def report(self, caller, program_id):
        program = self._own_program(caller, program_id)
        students, offset = [], 0
        while True:
            page, more = self.store.students_in(program_id, limit=500, offset=offset)
            students += page
            if not more:
                break
            offset += 500
        unfolded = self.store.unfolded(program_id)
        if unfolded:  # the stored records not folded into the students' summaries yet
            by_account = {account_id: student for student in students for account_id in student["accounts"]}
            for batch in unfolded:
                for account_id, delta in batch["deltas"].items():
                    student = by_account.get(account_id)
                    if student is not None and batch["id"] not in (student.get("platform_batches") or []):
                        domain.add_platform(student["platform"], delta)
        alerts, _ = self.store.list_alerts(program_id, limit=100_000)
        return dump(ReportSchema, reports.programme_report(program, students, alerts, time.time()))


def _alert_row(alert):
    return {**alert, "raised_at": domain.moment(alert["raised_ts"])}


def _alert_out(alert):
    return dump(AlertSchema, _alert_row(alert))
