"""The content service: thin nameko entrypoints over services.content.domain.

Training plan (sessions), courseware (materials), attendance (rotating check-in
codes, roll call, online presence, replays), questions with an answer SLA,
feedback and demand polls. Who may sign in comes from enrollment's events, kept
here as a local projection, so a sign-in never waits on another service.
"""
import logging
import secrets
import uuid
from datetime import datetime, timezone

from nameko.timer import timer

from contracts.base import PageQuerySchema, dump, load, more, page, page_of
from contracts.content import (
    ATTENDANCE_RECORDED, ATTENDING, CHECKIN_OPENED, FEEDBACK_SUBMITTED, FOLLOWUP_PROPOSED,
    MATERIAL_PUBLISHED, POLL_THRESHOLD_REACHED, QUESTION_ANSWERED, QUESTION_ASKED, QUESTION_OVERDUE,
    REPLAY_FORMS, REPLAY_WATCHED, SESSION_CANCELLED, SESSION_CHANGED, SESSION_SCHEDULED,
    AnswerCreateSchema, AttendanceMatrixSchema, AttendanceSchema, CheckinCodeSchema, CheckinStatusQuerySchema,
    CheckinStatusSchema, CheckinWindowOutSchema,
    CheckinWindowSchema, CorrectionSchema, FeedbackCreateSchema, FeedbackSchema, InstructorScoreSchema,
    MaterialCreateSchema, MaterialListQuerySchema, MaterialReviewSchema, MaterialSchema,
    MaterialVersionCreateSchema, PollCreateSchema, PollSchema, PresenceSchema, QuestionCreateSchema,
    QuestionSchema, RefusalReportSchema, ReplayProgressOutSchema, ReplayProgressSchema, ResolveSchema,
    RollCallResultSchema, RollCallSchema, SessionCancelSchema, SessionCreateSchema,
    SessionFeedbackSummarySchema, SessionListQuerySchema, SessionReviewSchema, SessionSchema,
    SessionUpdateSchema, SignInResultSchema, SignInSchema, StudentAttendanceSchema, VoteOutSchema, VoteSchema)
from contracts.enrollment import (MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED, STUDENT_WITHDRAWN,
                                  TEAM_CHANGED, TEAM_FORMED)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event
from services.common.acting import (acting_student, ensure_not_student, ensure_self,
                                    named_staff, redact_for, stamp)
from services.common.events import Outbox, on_event
from services.common.operations import by_operation, repeated
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.content import domain, reports
from services.content.models import DOCUMENTS, OUTBOX_DOCUMENTS
from services.content.repository import ContentRepository

log = logging.getLogger("praxis.content")

SIGNED_IN = ("present", "late")
REFUSAL_TEXT = {
    "no_window": "no check-in window was opened for this session",
    "window_not_open": "the check-in window is not open yet",
    "window_closed": "the check-in window is closed",
    "wrong_code": "the code is wrong",
    "expired_code": "the code has expired; use the one shown now",
    "not_admitted": "the student is not admitted to this programme",
    "not_for_track": "the session is not for the student's track",
    "session_not_scheduled": "the session is not scheduled",
    "session_ended": "the session has ended; staff correct past records",
}


def _now():
    return datetime.now(timezone.utc)


def _new_id(caller):
    # the Idempotency-Key's operation id: a retried call makes the same record
    return caller.get("operation_id") or uuid.uuid4().hex


def _millis(moment):
    """``moment`` as the database keeps it (milliseconds): an answer built before the
    write says what a later read says."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _signed_in_already(record):
    """A record a sign-in leaves as it is: any status but absent, or corrected by staff."""
    return record is not None and (record["status"] != "absent" or record["corrected"])


def _retrying(step, attempts=5):
    """Run a read-change-save step again when a concurrent change won (Conflict)."""
    for attempt in range(attempts):
        try:
            return step()
        except Conflict:
            if attempt == attempts - 1:
                raise


class ContentService(PraxisService):
    name = "content"

    store = Storage(ContentRepository, documents=DOCUMENTS)
    outbox = Outbox(*OUTBOX_DOCUMENTS, hinted=True)  # every write with events goes through _Records

    # --- helpers --------------------------------------------------------------

    def _event(self, caller, event_type, payload, school_id=None):
        return make_event(event_type, payload, school_id=school_id or caller["school_id"],
                          actor=caller["actor"], correlation_id=caller.get("correlation_id"))

    def _program(self, caller, program_id):
        program = self.store.get_program(caller["school_id"], program_id)
        if program is None:
            raise NotFound(f"no programme {program_id}")
        return program

    def _session(self, caller, session_id):
        """The session as this caller may see it: a partner only its own, the
        LMS (students) only scheduled ones, another school's never."""
        session = self.store.sessions.get(session_id, school_id=caller["school_id"])
        if (session is None
                or (caller["role"] == "partner" and session["partner_id"] != caller["partner_id"])
                or (caller["role"] == "lms" and session["status"] != "scheduled")):
            raise NotFound(f"no session {session_id}")
        self._ensure_partner_person(caller, session["program_id"])
        return session

    def _ensure_partner_person(self, caller, program_id, also=()):
        """A partner key names only a person of its own that the programme knows: an
        instructor of its own sessions or a mentor of its own assigned to a team
        (``also``: the instructor of the session it is proposing now)."""
        person = named_staff(caller)
        if caller["role"] != "partner" or person is None or person in also:
            return
        if person in self.store.partner_mentors(program_id, caller["partner_id"]):
            return
        if any(s["instructor"]["id"] == person for s in self.store.list_sessions(
                caller["school_id"], program_id, partner_id=caller["partner_id"], limit=1000)):
            return
        raise Forbidden(f"staff:{person} is not a mentor or instructor of this partner in this programme",
                        {"X-Acting-User": ["not a person of this partner"]})

    def _admitted(self, session, student_id):
        student = self.store.get_student(session["school_id"], session["program_id"], student_id)
        if student is None or student["status"] != "admitted":
            raise Conflict(REFUSAL_TEXT["not_admitted"], {"student_id": ["not_admitted"]})
        return student

    def _session_view(self, session, now=None):
        window = session.get("checkin")
        return dump(SessionSchema, {**session, "checkin_open": bool(
            window and domain.window_refusal(window, now or _now()) is None)})

    def _record_status(self, caller, session, record, existing, status, source, now, extra_events=()):
        """Store ``record`` with a new status and its attendance.recorded event."""
        previous = existing["status"] if existing else None
        record = {**record, "status": status, "source": source, "updated_at": now}
        events = [self._event(caller, ATTENDANCE_RECORDED, {
            "session_id": session["id"], "program_id": session["program_id"],
            "student_id": record["student_id"], "status": status, "previous_status": previous,
            "source": source}, school_id=session["school_id"]), *extra_events]
        if existing is None:
            if not self.store.attendance.insert(record, events):
                raise Conflict("recorded concurrently; retry")
            return record
        return self.store.attendance.save(record, events)

    # --- projections of enrollment's events (idempotent) --------------------------

    @on_event(PROGRAM_CREATED)
    def on_program_created(self, event):
        p = event.payload
        self.store.keep_program({
            "id": p["program_id"], "school_id": event.school_id, "name": p["name"],
            "tracks": [t["key"] for t in p["tracks"]],
            # events from before attendance_rules was added get the defaults
            "attendance_rules": domain.attendance_rules(p)})

    @on_event(STUDENT_ADMITTED)
    def on_student_admitted(self, event):
        p = event.payload
        self.store.keep_student({"school_id": event.school_id, "program_id": p["program_id"],
                                 "student_id": p["student_id"], "track": p["track"],
                                 "status": "admitted"}, event.occurred_at)

    @on_event(STUDENT_WITHDRAWN)
    def on_student_withdrawn(self, event):
        p = event.payload
        self.store.keep_student({"school_id": event.school_id, "program_id": p["program_id"],
                                 "student_id": p["student_id"], "track": p["track"],
                                 "status": "withdrawn"}, event.occurred_at)
        # (polls count the admitted students when they close)

    def _keep_team(self, event, disbanded=False):
        p = event.payload
        self.store.keep_team({"id": p["team_id"], "school_id": event.school_id,
                              "program_id": p["program_id"], "track": p["track"], "name": p["name"],
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
        self.store.keep_mentor(p["team_id"], event.school_id, p["program_id"], p["mentor_id"],
                               p["partner_id"], event.occurred_at)

    @on_event(MENTOR_UNASSIGNED)
    def on_mentor_unassigned(self, event):
        # a later assignment (newer fact) is never rolled back by this one
        p = event.payload
        self.store.keep_mentor(p["team_id"], event.school_id, p["program_id"], None, None,
                               event.occurred_at)

    # --- sessions ---------------------------------------------------------------

    @rpc
    def create_session(self, caller, program_id, data):
        program = self._program(caller, program_id)
        data = load(SessionCreateSchema, data)
        self._ensure_partner_person(caller, program_id, also=(data["instructor"]["id"],))
        session = domain.new_session(data, program=program, caller=caller,
                                     session_id=_new_id(caller), now=_now())
        events = ([self._event(caller, SESSION_SCHEDULED, domain.session_payload(session))]
                  if session["status"] == "scheduled" else [])
        self.store.sessions.insert(session, events)
        return self._session_view(self.store.sessions.get(session["id"]))

    @rpc
    def list_sessions(self, caller, program_id, query=None):
        query = load(SessionListQuerySchema, query)
        self._program(caller, program_id)
        if caller["role"] == "lms":
            query["status"] = "scheduled"
        partner_id = caller["partner_id"] if caller["role"] == "partner" else None
        now = _now()
        return page([self._session_view(s, now) for s in self.store.list_sessions(
            caller["school_id"], program_id, partner_id=partner_id, **more(query))], query)

    @rpc
    def list_proposals(self, caller, program_id, query=None):
        """Sessions waiting for the school's review: partners' proposals and the follow-ups
        polls proposed (drafts), oldest first."""
        query = load(PageQuerySchema, query)
        ensure_not_student(caller)
        self._program(caller, program_id)
        found = [s for status in ("proposed", "draft")
                 for s in self.store.list_sessions(caller["school_id"], program_id, status=status, limit=500)]
        now = _now()
        return page_of([self._session_view(s, now) for s in sorted(found, key=lambda s: (s["created_at"], s["id"]))],
                       query)

    @rpc
    def get_session(self, caller, session_id):
        return self._session_view(self._session(caller, session_id))

    @rpc
    def update_session(self, caller, session_id, data):
        changes = load(SessionUpdateSchema, data)

        def step():
            session = self._session(caller, session_id)
            program = self._program(caller, session["program_id"])
            updated, changed = domain.change_session(session, changes, program=program, now=_now())
            events = ([self._event(caller, SESSION_CHANGED, {**domain.session_payload(updated), "changed": changed})]
                      if changed and updated["status"] == "scheduled" else [])
            return self.store.sessions.save(updated, events)
        return self._session_view(_retrying(step))

    @rpc
    def review_session(self, caller, session_id, data):
        review = load(SessionReviewSchema, data)

        def step():
            session = self._session(caller, session_id)
            if repeated(session, caller):
                return session  # a retry of this review after its reply was lost: reviewed once
            session = by_operation({**domain.review_session(session, review["decision"], review["reason"], now=_now()),
                                    **stamp(caller, "reviewed_by")}, caller)
            events = ([self._event(caller, SESSION_SCHEDULED, domain.session_payload(session))]
                      if session["status"] == "scheduled" else [])
            return self.store.sessions.save(session, events)
        return self._session_view(_retrying(step))

    @rpc
    def cancel_session(self, caller, session_id, data):
        reason = load(SessionCancelSchema, data)["reason"]

        def step():
            session = self._session(caller, session_id)
            if session["status"] == "cancelled":
                return session  # cancelling twice changes nothing
            session = {**session, "status": "cancelled", "cancel_reason": reason, "updated_at": _now()}
            event = self._event(caller, SESSION_CANCELLED, {
                "session_id": session["id"], "program_id": session["program_id"], "reason": reason})
            return self.store.sessions.save(session, [event])
        return self._session_view(_retrying(step))

    # --- check-in -------------------------------------------------------------------

    @rpc
    def open_checkin(self, caller, session_id, data):
        ensure_not_student(caller)
        params = load(CheckinWindowSchema, data)
        window_id = _new_id(caller)

        def step():
            session = self._session(caller, session_id)
            if (session.get("checkin") or {}).get("window_id") == window_id:
                return session  # a retried call: the window it opened
            rules = domain.attendance_rules(self.store.get_program(caller["school_id"], session["program_id"]))
            window = domain.new_window(session, params, window_id=window_id,
                                       secret=secrets.token_hex(32), now=_now(), rules=rules)
            event = self._event(caller, CHECKIN_OPENED, {
                "session_id": session["id"], "program_id": session["program_id"],
                "window_id": window_id, "opens_at": window["opens_at"], "closes_at": window["closes_at"]})
            return self.store.sessions.save({**session, "checkin": window}, [event])
        session = _retrying(step)
        self.store.open_tally(session_id)  # so sign-ins' $inc find it (its first read counts anew)
        return dump(CheckinWindowOutSchema, {**session["checkin"], "session_id": session["id"]})

    @rpc
    def close_checkin(self, caller, session_id):
        ensure_not_student(caller)
        def step():
            session = self._session(caller, session_id)
            window, now = session.get("checkin"), _now()
            if window is None or domain.window_refusal(window, now):
                raise Conflict("the check-in window is not open", {"window": ["not open"]})
            return self.store.sessions.save({**session, "checkin": {**window, "closes_at": now}})
        session = _retrying(step)
        return dump(CheckinWindowOutSchema, {**session["checkin"], "session_id": session["id"]})

    @rpc
    def checkin_code(self, caller, session_id):
        ensure_not_student(caller)
        session = self._session(caller, session_id)
        return dump(CheckinCodeSchema, domain.current_code(session["id"], session.get("checkin"), _now()))

    @rpc
    def sign_in(self, caller, session_id, data):
        """Few round trips on the common path (a first sign-in): the session, the student,
        one insert of the record with its event, one insert of both claims. The existing
        record is read only when the insert finds one or the sign-in is refused."""
        data, now = load(SignInSchema, data), _now()
        session = self.store.sessions.get(session_id, school_id=caller["school_id"])
        if session is None:
            raise NotFound(f"no session {session_id}")
        student_id = data["student_id"]
        ensure_self(caller, student_id)
        record_id = f"{session_id}:{student_id}"
        student = self.store.get_student(caller["school_id"], session["program_id"], student_id)
        reason = domain.signin_refusal(session, student, data["code"], now)
        if reason:
            existing = self.store.attendance.get(record_id)
            if _signed_in_already(existing):
                return self._sign_in_result(caller, False, existing)
            self.store.add_refusal({"id": uuid.uuid4().hex, "school_id": caller["school_id"],
                                    "session_id": session_id, "student_id": student_id,
                                    "reason": reason, "at": now, "device_id": data["device_id"],
                                    "address": data["address"]})
            log.info("sign-in refused", extra={"correlation_id": caller.get("correlation_id"),
                                               "session_id": session_id, "reason": reason})
            # a wrong or expired code is bad input (422); the session's or student's state refuses otherwise (409)
            refused = InvalidInput if reason in ("wrong_code", "expired_code") else Conflict
            raise refused(f"sign-in refused: {REFUSAL_TEXT[reason]}", {"sign_in": [reason]})
        rules = domain.attendance_rules(self.store.get_program(caller["school_id"], session["program_id"]))
        status = domain.signin_status(session, rules, now)
        now = _millis(now)
        fields = {"signed_in_at": now, "device_id": data["device_id"], "address": data["address"]}
        try:
            try:  # most sign-ins are the first: insert without reading (a duplicate raises Conflict)
                stored = self._record_status(caller, session, {
                    **domain.new_record(session, student_id, now=now), **fields}, None, status, "checkin", now)
            except Conflict:
                existing = self.store.attendance.get(record_id)
                if existing is None or _signed_in_already(existing):
                    # signing in twice answers the record made the first time (and staff's word is final)
                    raise
                stored = self._record_status(caller, session, {**existing, **fields}, existing, status,
                                             "checkin", now)
        except Conflict:  # the same student signed in concurrently: that record stands
            return self._sign_in_result(caller, False, self.store.attendance.get(record_id))
        # one device or address signing in several students: flag every such record.
        # Each student flags itself when it is not the first; the second also flags
        # the first (whose record exists: it was stored before its claim). So a
        # campus address shared by hundreds costs each sign-in O(1) writes.
        claims = [(kind, value) for kind, value in (("device", data["device_id"]), ("address", data["address"]))
                  if value]
        flagged = False
        for kind, students in self.store.claim_all(session_id, claims, student_id).items():
            position = students.index(student_id)
            if position >= 1:
                to_flag = [student_id] + ([students[0]] if position == 1 else [])
                self.store.flag(session_id, to_flag, f"shared_{kind}")
                flagged = True
        return self._sign_in_result(caller, True, self.store.attendance.get(record_id) if flagged else stored)

    @staticmethod
    def _attendance_view(caller, record):
        """A student sees their own record without device ids, addresses or flags."""
        return dump(AttendanceSchema, redact_for(caller, record, device_id=None, address=None, flags=[]))

    def _sign_in_result(self, caller, created, record):
        return dump(SignInResultSchema, {"created": created, "record": redact_for(
            caller, record, device_id=None, address=None, flags=[])})

    @rpc
    def checkin_status(self, caller, session_id, query=None):
        """Counts from the session's tally (kept by every attendance write) and a page of
        each list: never every student of the programme."""
        ensure_not_student(caller)
        query = load(CheckinStatusQuerySchema, query)
        session, now = self._session(caller, session_id), _now()
        limit, offset = query["limit"], query["offset"]
        tracks = session["tracks"] or None
        signed = self.store.session_students(session_id, SIGNED_IN, offset, limit + 1)
        watched = self.store.session_students(session_id, ("watched_replay",), offset, limit + 1)
        flagged = self.store.flagged_students(session_id, offset, limit + 1)
        tally = self.store.session_tally(session_id)  # counts kept by the writes
        signed_in_count = sum(tally[status] for status in SIGNED_IN)
        expected = self.store.count_admitted(session["program_id"], tracks)
        attended = signed_in_count + tally["watched_replay"]
        # neither signed in nor watched the replay
        not_signed = self.store.not_signed_in(session_id, session["program_id"], tracks,
                                              (*SIGNED_IN, "watched_replay"), offset, limit + 1,
                                              signed_share=min(1.0, attended / expected) if expected else 0.0)
        window = session.get("checkin")
        return dump(CheckinStatusSchema, {
            "session_id": session_id,
            "window_open": bool(window) and domain.window_refusal(window, now) is None,
            "closes_at": window["closes_at"] if window else None,
            "expected": expected,
            "signed_in": sorted(signed[:limit]), "not_signed_in": sorted(not_signed[:limit]),
            "watched_replay": sorted(watched[:limit]), "flagged": sorted(flagged[:limit]),
            "signed_in_count": signed_in_count,
            "attended": attended,
            "flagged_count": tally["flagged"],
            "limit": limit, "offset": offset,
            "has_more": any(len(part) > limit for part in (signed, watched, flagged, not_signed))})

    # --- what a supervisor reads (services.content.reports) ------------------------------------

    @rpc
    def attendance_matrix(self, caller, program_id):
        """Admitted students x scheduled sessions, with per-student and per-session totals."""
        self._program(caller, program_id)
        sessions = self.store.scheduled_sessions(caller["school_id"], program_id)
        records = self.store.records_of_sessions([s["id"] for s in sessions])
        return dump(AttendanceMatrixSchema, reports.matrix(
            program_id, self.store.admitted_students(program_id), sessions, records, _now()))

    @rpc
    def student_attendance(self, caller, program_id, student_id):
        """One student's attendance across the programme's sessions for their track
        (a student acting through the LMS reads only their own)."""
        ensure_self(caller, student_id)
        self._program(caller, program_id)
        student = self.store.get_student(caller["school_id"], program_id, student_id)
        if student is None:
            raise NotFound(f"no student {student_id} in programme {program_id}")
        sessions = self.store.scheduled_sessions(caller["school_id"], program_id)
        records = self.store.records_of_sessions([s["id"] for s in sessions], student_id=student_id)
        return dump(StudentAttendanceSchema, reports.history(program_id, student, sessions, records, _now()))

    @rpc
    def checkin_refusals(self, caller, session_id):
        ensure_not_student(caller)
        self._session(caller, session_id)
        by_student = {}
        for student_id, reason, n in self.store.refusal_counts(session_id):
            entry = by_student.setdefault(student_id, {"student_id": student_id, "total": 0, "reasons": {}})
            entry["total"] += n
            entry["reasons"][reason] = n
        return dump(RefusalReportSchema, {
            "refusals": self.store.refusals(session_id),
            "by_student": sorted(by_student.values(), key=lambda e: (-e["total"], e["student_id"]))})

    # --- attendance ---------------------------------------------------------------------

    @rpc
    def list_attendance(self, caller, session_id, query=None):
        query = load(PageQuerySchema, query)
        self._session(caller, session_id)
        own = acting_student(caller)
        return page_of([self._attendance_view(caller, r) for r in
                        sorted(self.store.session_records(session_id), key=lambda r: r["student_id"])
                        if own is None or r["student_id"] == own], query)

    @rpc
    def roll_call(self, caller, session_id, data):
        ensure_not_student(caller)
        data, now = load(RollCallSchema, data), _now()
        session = self._session(caller, session_id)
        if session["status"] != "scheduled":
            raise Conflict("roll call only for a scheduled session", {"status": [session["status"]]})
        domain.refuse_after_end(session, now, "a roll call")
        admitted = {s["student_id"] for s in self.store.admitted_students(session["program_id"])
                    if domain.session_is_for(session, s["track"])}
        listed = list(dict.fromkeys(data["present"]))
        result = {"marked_present": [], "marked_absent": [],
                  "unknown": [s for s in listed if s not in admitted]}

        def mark(student_id, status, bucket, only_new=False):
            def step():
                existing = self.store.attendance.get(f"{session_id}:{student_id}")
                if only_new and existing:
                    return
                new_status = domain.automatic_status(existing, status)
                if new_status:
                    record = existing or domain.new_record(session, student_id, now=now)
                    self._record_status(caller, session, record, existing, new_status, "roll_call", now)
                    result[bucket].append(student_id)
            _retrying(step)

        for student_id in listed:
            if student_id in admitted:
                mark(student_id, "present", "marked_present")
        if data["mark_others_absent"]:
            for student_id in sorted(admitted - set(listed)):
                mark(student_id, "absent", "marked_absent", only_new=True)
        return dump(RollCallResultSchema, result)

    @rpc
    def correct_attendance(self, caller, session_id, student_id, data):
        ensure_not_student(caller)
        data, now = load(CorrectionSchema, data), _now()
        session = self._session(caller, session_id)

        def step():
            existing = self.store.attendance.get(f"{session_id}:{student_id}")
            if existing is not None and repeated(existing, caller):
                return existing  # a retry of this correction after its reply was lost
            if existing is None:
                self._admitted(session, student_id)
            record = existing or domain.new_record(session, student_id, now=now)
            corrected = by_operation(domain.correct(record, data["status"], data["reason"], by=stamp(caller, "by"),
                                                    now=now), caller)
            return self._record_status(caller, session, corrected, existing, data["status"], "correction", now)
        return dump(AttendanceSchema, _retrying(step))

    @rpc
    def record_presence(self, caller, session_id, data):
        """A join or leave from the meeting platform of an online session."""
        ensure_not_student(caller)
        data, now = load(PresenceSchema, data), _now()
        session = self._session(caller, session_id)
        if session["form"] != "live_online":
            raise Conflict("join and leave records are for live online sessions", {"form": [session["form"]]})
        self._admitted(session, data["student_id"])
        rules = domain.attendance_rules(self.store.get_program(caller["school_id"], session["program_id"]))

        def step():
            existing = self.store.attendance.get(f"{session_id}:{data['student_id']}")
            record = existing or domain.new_record(session, data["student_id"], now=now)
            item = {"kind": data["kind"], "at": data["at"]}
            millis = int(item["at"].timestamp() * 1000)  # the database keeps milliseconds
            if any(p["kind"] == item["kind"] and int(p["at"].timestamp() * 1000) == millis
                   for p in record["presence"]):
                return record  # the same report again (the LMS retried): counted once
            presence = record["presence"] + [item]
            minutes = domain.minutes_present(presence, session["starts_at"], session["ends_at"], now)
            record = {**record, "presence": presence, "minutes_present": minutes, "updated_at": now}
            new_status = domain.online_update(existing, domain.online_status(minutes, session, rules))
            if new_status:
                return self._record_status(caller, session, record, existing, new_status, "online", now)
            return self.store.attendance.save(record)
        return dump(AttendanceSchema, _retrying(step))

    @rpc
    def replay_progress(self, caller, session_id, data):
        data, now = load(ReplayProgressSchema, data), _now()
        session = self._session(caller, session_id)
        ensure_self(caller, data["student_id"])
        if session["form"] not in REPLAY_FORMS:
            raise Conflict("this session has no replay", {"form": [session["form"]]})
        self._admitted(session, data["student_id"])
        rules = domain.attendance_rules(self.store.get_program(caller["school_id"], session["program_id"]))

        def step():
            existing = self.store.attendance.get(f"{session_id}:{data['student_id']}")
            share = max(data["watched_share"], (existing or {}).get("replay_share") or 0)
            counted = domain.replay_counts(session, share, rules)
            new_status = domain.automatic_status(existing, "watched_replay") if counted else None
            status = existing["status"] if existing else None
            if new_status:
                record = {**(existing or domain.new_record(session, data["student_id"], now=now)),
                          "replay_share": share}
                watched = self._event(caller, REPLAY_WATCHED, {
                    "session_id": session_id, "program_id": session["program_id"],
                    "student_id": data["student_id"], "watched_share": share})
                status = self._record_status(caller, session, record, existing, new_status, "replay", now,
                                             [watched])["status"]
            elif existing and share != existing.get("replay_share"):
                self.store.attendance.save({**existing, "replay_share": share, "updated_at": now})
            return {"session_id": session_id, "student_id": data["student_id"], "watched_share": share,
                    "counted": counted, "status": status}
        return dump(ReplayProgressOutSchema, _retrying(step))

    # --- questions ----------------------------------------------------------------------

    @rpc
    def ask_question(self, caller, session_id, data):
        data = load(QuestionCreateSchema, data)
        ensure_self(caller, data["student_id"])
        session = self._session(caller, session_id)
        student = self._admitted(session, data["student_id"])
        program = self.store.get_program(caller["school_id"], session["program_id"])
        question = domain.new_question(
            session, student, self.store.team_of(session["program_id"], student["student_id"]),
            data["text"], question_id=_new_id(caller), rules=domain.attendance_rules(program), now=_now())
        event = self._event(caller, QUESTION_ASKED, domain.question_payload(question))
        self.store.questions.insert(question, [event])
        return dump(QuestionSchema, self.store.questions.get(question["id"]))

    @rpc
    def list_questions(self, caller, session_id, query=None):
        query = load(PageQuerySchema, query)
        self._session(caller, session_id)
        own = acting_student(caller)
        return page_of([dump(QuestionSchema, q) for q in self.store.session_questions(session_id)
                        if own is None or q["student_id"] == own], query)

    def _question(self, caller, question_id):
        question = self.store.questions.get(question_id, school_id=caller["school_id"])
        if question is None:
            raise NotFound(f"no question {question_id}")
        return question

    @rpc
    def answer_question(self, caller, question_id, data):
        ensure_not_student(caller)
        data, now = load(AnswerCreateSchema, data), _now()

        def step():
            question = self._question(caller, question_id)
            if repeated(question, caller):
                return question  # a retry of this answer after its reply was lost
            session = self.store.sessions.get(question["session_id"])
            team = self.store.get_team(question["team_id"]) if question["team_id"] else None
            if team:  # the team's mentor now (mentors can change after the question)
                question = {**question, "mentor_id": team.get("mentor_id")}
            role = self._answerer_role(caller, question, session, team, data["author_id"])
            answer = {"author_id": data["author_id"], "role": role, "text": data["text"], "at": now}
            question = by_operation({**question, "answers": question["answers"] + [answer]}, caller)
            events = []
            if question["answered_at"] is None:
                question.update(answered_at=now, status="answered" if question["status"] == "open" else question["status"])
                events.append(self._event(caller, QUESTION_ANSWERED, {
                    **domain.question_payload(question), "author_id": data["author_id"], "role": role,
                    "answered_at": now, "within_sla": now <= question["due_at"]}))
            return self.store.questions.save(question, events)
        return dump(QuestionSchema, _retrying(step))

    @staticmethod
    def _answerer_role(caller, question, session, team, author_id):
        """Who may answer, as whom: a partner on a question it may see, only as its own
        instructor (its own session) or its own mentor (the team's mentor is its);
        the LMS acting for staff only as the school's own teacher instructing the session.
        A named acting person must be the author."""
        person = named_staff(caller)
        if person is not None and person != author_id:
            raise Forbidden("the answer's author must be the acting person",
                            {"author_id": ["is not the acting person"]})
        role = domain.answerer_role(question, author_id)
        if caller["role"] == "partner":
            own_session = session.get("partner_id") == caller["partner_id"]
            own_mentor = (team or {}).get("mentor_partner_id") == caller["partner_id"]
            if not (own_session or own_mentor):
                raise NotFound(f"no question {question['id']}")
            if (role == "instructor" and not own_session) or (role == "mentor" and not own_mentor):
                role = None
        elif role == "mentor" or (role == "instructor" and session["instructor"]["kind"] != "teacher"):
            role = None  # the school answers as its own teachers, never as a partner's mentor
        if role is None:
            raise Forbidden("only the session's instructor or the team's mentor answers, "
                            "each through their own organisation", {"author_id": ["may not answer this question"]})
        return role

    @rpc
    def resolve_question(self, caller, question_id, data):
        data = load(ResolveSchema, data)
        ensure_self(caller, data["student_id"])

        def step():
            question = self._question(caller, question_id)
            if question["student_id"] != data["student_id"]:
                raise Forbidden("only the student who asked marks the question resolved")
            if question["status"] == "resolved":
                return question
            return self.store.questions.save({**question, "status": "resolved", "resolved_at": _now()})
        return dump(QuestionSchema, _retrying(step))

    @rpc
    def overdue_questions(self, caller, program_id, query=None):
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        return page_of([dump(QuestionSchema, q) for q in
                        self.store.overdue_questions(caller["school_id"], program_id, _now())], query)

    @timer(interval=30)
    def scan_overdue_questions(self):
        """Raise question.overdue once per question past its deadline (the flag
        and the event are one guarded write, so a rescan emits nothing new)."""
        flagged = 0
        for question in self.store.due_unflagged_questions(_now()):
            event = make_event(QUESTION_OVERDUE, domain.question_payload(question),
                               school_id=question["school_id"], actor="content:sla-timer")
            flagged += self.store.flag_overdue(question, event)
        if flagged:
            log.info("questions overdue", extra={"count": flagged})
        return flagged

    @timer(interval=60)
    def open_demand_polls(self):
        """After each session the system asks whether students want a follow-up
        (one poll per session: its id derives from the session's)."""
        opened = 0
        for session in self.store.ended_sessions_without_poll(_now()):
            poll = domain.demand_poll(session, now=_now())
            opened += self.store.polls.insert(poll)
            self.store.mark_demand_poll(session, poll["id"])
        if opened:
            log.info("demand polls opened", extra={"count": opened})
        return opened

    # --- feedback ---------------------------------------------------------------------------

    @rpc
    def submit_feedback(self, caller, session_id, data):
        data, now = load(FeedbackCreateSchema, data), _now()
        ensure_self(caller, data["student_id"])
        session = self._session(caller, session_id)
        record = self.store.attendance.get(f"{session_id}:{data['student_id']}")
        refusal = domain.feedback_refusal(session, record, now)
        feedback = by_operation({**data, "id": f"{session_id}:{data['student_id']}", "school_id": caller["school_id"],
                                 "session_id": session_id, "program_id": session["program_id"],
                                 "instructor_id": session["instructor"]["id"], "submitted_at": now}, caller)
        event = self._event(caller, FEEDBACK_SUBMITTED, {
            k: feedback[k] for k in ("session_id", "program_id", "instructor_id", "student_id",
                                     "clarity", "practical_value", "pace")})
        if refusal or not self.store.feedback.insert(feedback, [event]):
            given = self.store.feedback.get(feedback["id"], school_id=caller["school_id"])
            if given is not None and repeated(given, caller):
                return dump(FeedbackSchema, given)  # a retry of this feedback after its reply was lost
            if refusal:
                raise Conflict(refusal, {"student_id": [refusal]})
            raise Conflict("this student has given feedback on this session already")
        return dump(FeedbackSchema, feedback)

    @rpc
    def feedback_summary(self, caller, session_id):
        session = self._session(caller, session_id)
        summary = domain.summarise(self.store.feedback_totals({"session_id": session_id}),
                                   self.store.count_attending([session_id], ATTENDING))
        return dump(SessionFeedbackSummarySchema, {
            **summary, "session_id": session_id, "instructor_id": session["instructor"]["id"],
            "comments": self.store.feedback_comments(session_id)})

    @rpc
    def instructor_score(self, caller, instructor_id):
        sessions = [s for s in self.store.sessions_of_instructor(caller["school_id"], instructor_id)
                    if s["status"] == "scheduled"]
        if not sessions:
            raise NotFound(f"no sessions of instructor {instructor_id}")
        totals = self.store.feedback_totals({"school_id": caller["school_id"], "instructor_id": instructor_id})
        attending = self.store.count_attending([s["id"] for s in sessions], ATTENDING)
        return dump(InstructorScoreSchema, {**domain.summarise(totals, attending),
                                            "instructor_id": instructor_id, "sessions": len(sessions)})

    # --- materials -----------------------------------------------------------------------------

    def _material(self, caller, material_id):
        material = self.store.materials.get(material_id, school_id=caller["school_id"])
        if (material is None
                or (caller["role"] == "partner" and material["partner_id"] != caller["partner_id"])
                or (caller["role"] == "lms" and material["published_version"] is None)):
            raise NotFound(f"no material {material_id}")
        self._ensure_partner_person(caller, material["program_id"])
        return material

    def _material_view(self, caller, material):
        versions = {v["version"]: v for v in material["versions"]}
        view = {**material, "published": versions.get(material["published_version"])}
        if caller["role"] == "lms":  # students see the published version only
            view.pop("versions")
        return dump(MaterialSchema, view)

    @rpc
    def create_material(self, caller, data):
        data, now = load(MaterialCreateSchema, data), _now()
        self._program(caller, data["program_id"])
        self._ensure_partner_person(caller, data["program_id"])
        material = {
            "id": _new_id(caller), "school_id": caller["school_id"],
            "partner_id": caller["partner_id"] if caller["role"] == "partner" else None,
            "program_id": data["program_id"], "module": data["module"], "title": data["title"],
            "kind": data["kind"], "published_version": None, "created_at": now,
            "versions": [{"version": 1, "url": data["url"], "body": data["body"], "note": "",
                          "status": "pending", "reason": None, **stamp(caller, "submitted_by"),
                          "submitted_at": now, "reviewed_by": None, "reviewed_at": None}]}
        self.store.materials.insert(material)
        return self._material_view(caller, self.store.materials.get(material["id"]))

    @rpc
    def add_material_version(self, caller, material_id, data):
        data, now = load(MaterialVersionCreateSchema, data), _now()

        def step():
            material = self._material(caller, material_id)
            if repeated(material, caller):
                return material  # a retry of this version after its reply was lost
            version = {"version": len(material["versions"]) + 1, "url": data["url"], "body": data["body"],
                       "note": data["note"], "status": "pending", "reason": None,
                       **stamp(caller, "submitted_by"), "submitted_at": now,
                       "reviewed_by": None, "reviewed_at": None}
            # the published version stays visible until the new one is approved
            return self.store.materials.save(by_operation({**material, "versions": material["versions"] + [version]},
                                                          caller))
        return self._material_view(caller, _retrying(step))

    @rpc
    def review_material(self, caller, material_id, data):
        data, now = load(MaterialReviewSchema, data), _now()

        def step():
            material = self._material(caller, material_id)
            if repeated(material, caller):
                return material  # a retry of this review after its reply was lost: reviewed once
            versions = [dict(v) for v in material["versions"]]
            if not 1 <= data["version"] <= len(versions):
                raise NotFound(f"no version {data['version']}")
            version = versions[data["version"] - 1]
            if version["status"] != "pending":
                raise Conflict(f"version {data['version']} was reviewed already ({version['status']})")
            approved = data["decision"] == "approve"
            version.update(status="approved" if approved else "rejected", reason=data["reason"] or None,
                           **stamp(caller, "reviewed_by"), reviewed_at=now)
            material = by_operation({**material, "versions": versions}, caller)
            events = []
            if approved and data["version"] > (material["published_version"] or 0):
                material["published_version"] = data["version"]
                events.append(self._event(caller, MATERIAL_PUBLISHED, {
                    "material_id": material["id"], "program_id": material["program_id"],
                    "module": material["module"], "title": material["title"], "kind": material["kind"],
                    "version": data["version"], "partner_id": material["partner_id"]}))
            return self.store.materials.save(material, events)
        return self._material_view(caller, _retrying(step))

    @rpc
    def get_material(self, caller, material_id):
        return self._material_view(caller, self._material(caller, material_id))

    @rpc
    def list_materials(self, caller, query=None):
        query = load(MaterialListQuerySchema, query)
        return page([self._material_view(caller, m) for m in self.store.list_materials(
            caller["school_id"], published_only=caller["role"] == "lms",
            partner_id=caller["partner_id"] if caller["role"] == "partner" else None, **more(query))], query)

    # --- demand polls --------------------------------------------------------------------------

    def _poll_view(self, poll):
        yes, no = self.store.tally(poll["id"])
        return dump(PollSchema, {**poll, "yes": yes, "no": no,
                                 "eligible": self.store.count_admitted(poll["program_id"])})

    @rpc
    def create_poll(self, caller, program_id, data):
        data, now = load(PollCreateSchema, data), _now()
        program = self._program(caller, program_id)
        domain.check_tracks(data["followup"]["tracks"], program)
        if data["session_id"]:
            self._session(caller, data["session_id"])
        closes_at = data["closes_at"] or now + domain.POLL_OPEN_FOR
        if closes_at <= now:
            raise InvalidInput("a poll closes in the future", {"closes_at": ["must be in the future"]})
        poll = {**data, "closes_at": closes_at, "id": _new_id(caller), "school_id": caller["school_id"],
                "program_id": program_id, **stamp(caller, "opened_by"), "state": "open", "decided_at": None,
                "reached": False, "reached_at": None, "followup_session_id": None, "created_at": now}
        self.store.polls.insert(poll)
        return self._poll_view(self.store.polls.get(poll["id"]))

    @rpc
    def list_polls(self, caller, program_id, query=None):
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        now = _now()
        polls = self.store.polls.find({"school_id": caller["school_id"], "program_id": program_id},
                                      sort=[("created_at", 1)], skip=query["offset"], limit=query["limit"] + 1)
        return page([self._poll_view(self._decide_poll(caller, p, now)) for p in polls], query)

    @rpc
    def get_poll(self, caller, poll_id):
        poll = self.store.polls.get(poll_id, school_id=caller["school_id"])
        if poll is None:
            raise NotFound(f"no poll {poll_id}")
        return self._poll_view(self._decide_poll(caller, poll, _now()))

    @timer(interval=10)
    def decide_closed_polls(self):
        """Polls past their closing time decide on their final tally (once each)."""
        decided = 0
        now = _now()
        for poll in self.store.closed_open_polls(now):
            decided += self._decide_poll({"school_id": poll["school_id"]}, poll, now) is not poll
        if decided:
            log.info("polls decided", extra={"count": decided})
        return decided

    @rpc
    def vote(self, caller, poll_id, data):
        data, now = load(VoteSchema, data), _now()
        ensure_self(caller, data["student_id"])
        poll = self.store.polls.get(poll_id, school_id=caller["school_id"])
        if poll is None:
            raise NotFound(f"no poll {poll_id}")
        refusal = domain.vote_refusal(poll, now)
        if refusal:
            raise Conflict(refusal, {"poll": [refusal]})
        student = self.store.get_student(caller["school_id"], poll["program_id"], data["student_id"])
        if student is None or student["status"] != "admitted":
            raise Conflict(REFUSAL_TEXT["not_admitted"], {"student_id": ["not_admitted"]})
        vote = {"id": f"{poll_id}:{data['student_id']}", "poll_id": poll_id, **data, "at": now}
        if not self.store.add_vote(vote):
            if self.store.get_vote(vote["id"])["answer"] != data["answer"]:
                self.store.change_vote(vote)  # a student may change their vote until the close
        return dump(VoteOutSchema, self.store.get_vote(vote["id"]))

    def _decide_poll(self, caller, poll, now):
        """At its closing time a poll decides on its final tally: crossed threshold and
        quorum -> it proposes the follow-up (a draft session) and is reached. Each write
        carries its event and happens once; a decision interrupted by a crash is completed
        by the next read or scan. Returns the poll as it is now."""
        if not domain.poll_decision_due(poll, now):
            return poll
        system = {"school_id": poll["school_id"], "actor": "content:poll-close",
                  "correlation_id": caller.get("correlation_id")}
        yes, no = self.store.tally(poll["id"])
        eligible = self.store.count_admitted(poll["program_id"])
        fields, events = {"decided_at": now}, []
        if domain.poll_crossed(yes, no, eligible, poll["threshold"], poll["quorum"]):
            source = self.store.sessions.get(poll["session_id"]) if poll.get("session_id") else None
            session = domain.followup_session(poll, now=now, source=source)
            self.store.sessions.insert(session, [self._event(system, FOLLOWUP_PROPOSED, {
                "poll_id": poll["id"], "program_id": poll["program_id"], "session_id": session["id"],
                "title": session["title"], "module": session["module"]})])
            fields.update(reached=True, reached_at=now, followup_session_id=session["id"])
            events.append(self._event(system, POLL_THRESHOLD_REACHED, {
                "poll_id": poll["id"], "program_id": poll["program_id"], "question": poll["question"],
                "yes": yes, "no": no, "eligible": eligible}))
        decided = self.store.decide_poll(poll, fields, events)
        if decided is None:  # decided concurrently: read what it decided
            return self.store.polls.get(poll["id"]) or poll
        log.info("poll decided", extra={"correlation_id": caller.get("correlation_id"), "poll_id": poll["id"],
                                        "reached": decided["reached"]})
        return decided
