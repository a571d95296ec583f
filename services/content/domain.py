"""Content rules as plain functions: no nameko, no mongoengine. Everything that
depends on time takes ``now``, so tests control the clock."""
import hashlib
import hmac
import math
from datetime import timedelta

from marshmallow import ValidationError

from contracts.base import schema_of
from contracts.content import ATTENDING, CHECKIN_FORMS, REPLAY_FORMS, check_session
from contracts.enrollment import AttendanceRulesSchema
from contracts.errors import Conflict, InvalidInput
from services.common.acting import stamp

CODE_DIGITS = 6
EXPIRED_LOOKBACK = 20  # codes of up to this many earlier steps are "expired", older ones "wrong"
FOLLOWUP_AFTER = timedelta(days=7)  # provisional date of a proposed follow-up; staff set the real one


def default_attendance_rules():
    return schema_of(AttendanceRulesSchema).load({})


def attendance_rules(program):
    return {**default_attendance_rules(), **((program or {}).get("attendance_rules") or {})}


# --- sessions -------------------------------------------------------------------

def check_tracks(tracks, program):
    unknown = sorted(set(tracks) - set(program["tracks"]))
    if unknown:
        raise InvalidInput("unknown tracks", {"tracks": [f"not a track of the programme: {', '.join(unknown)}"]})


def new_session(data, *, program, caller, session_id, now):
    """A session from validated SessionCreateSchema data. The school's own
    sessions are scheduled at once; a partner's are proposed for approval."""
    check_tracks(data["tracks"], program)
    if caller["role"] == "partner":
        if data.get("partner_id") not in (None, caller["partner_id"]):
            raise InvalidInput("a partner proposes its own sessions", {"partner_id": ["set by the server"]})
        partner_id, status = caller["partner_id"], "proposed"
    else:
        partner_id, status = data.get("partner_id"), "scheduled"
    return {
        **{k: v for k, v in data.items() if k != "partner_id"},
        "id": session_id, "school_id": caller["school_id"], "program_id": program["id"],
        "partner_id": partner_id, "status": status, **stamp(caller, "proposed_by"),
        "review_reason": None, "cancel_reason": None, "poll_id": None, "checkin": None,
        "created_at": now, "updated_at": now,
    }


def change_session(session, changes, *, program, now):
    """Apply a validated SessionUpdateSchema change; return (session, changed field names)."""
    changed = sorted(k for k, v in changes.items() if session.get(k) != v)
    updated = {**session, **changes, "updated_at": now}
    try:
        check_session(updated)
    except ValidationError as exc:
        raise InvalidInput("the changed session is inconsistent", exc.normalized_messages()) from exc
    if "tracks" in changes:
        check_tracks(changes["tracks"], program)
    if session["status"] == "cancelled":
        raise Conflict("a cancelled session cannot change", {"status": ["cancelled"]})
    return updated, changed


def review_session(session, decision, reason, *, now):
    if session["status"] not in ("proposed", "draft"):
        raise Conflict(f"only a proposed or draft session can be reviewed (it is {session['status']})",
                           {"status": [session["status"]]})
    if decision == "approve":
        try:
            check_session(session)
        except ValidationError as exc:
            raise InvalidInput("complete the session before approving it", exc.normalized_messages()) from exc
    return {**session, "status": "scheduled" if decision == "approve" else "rejected",
            "review_reason": reason or None, "updated_at": now}


def session_payload(session):
    return {
        "session_id": session["id"], "program_id": session["program_id"], "title": session["title"],
        "module": session["module"], "form": session["form"], "starts_at": session["starts_at"],
        "ends_at": session["ends_at"], "instructor_id": session["instructor"]["id"],
        "tracks": session["tracks"], "partner_id": session.get("partner_id"),
    }


def session_is_for(session, track):
    return not session["tracks"] or track in session["tracks"]


# --- rotating check-in codes ------------------------------------------------------

def new_window(session, params, *, window_id, secret, now, rules=None):
    """A check-in window from now, within the session's time: from the programme's lead
    time before the start, closing by itself at the session's end at the latest."""
    if session["status"] != "scheduled":
        raise Conflict("open check-in only for a scheduled session", {"status": [session["status"]]})
    if session["form"] not in CHECKIN_FORMS:
        raise Conflict("a recorded session has no live audience to sign in",
                           {"form": [session["form"]]})
    lead = (rules or default_attendance_rules())["checkin_lead_minutes"]
    earliest = session["starts_at"] - timedelta(minutes=lead)
    if now < earliest:
        raise Conflict(f"check-in opens at the earliest {lead} minutes before the session starts "
                           f"({earliest.isoformat()})", {"window": ["too_early"]})
    if now >= session["ends_at"]:
        raise Conflict("the session has ended: only staff corrections change its records",
                           {"window": ["session_ended"]})
    return {"window_id": window_id, "secret": secret, "opens_at": now,
            "closes_at": min(now + timedelta(minutes=params["minutes"]), session["ends_at"]),
            "period_seconds": params["period_seconds"], "grace_seconds": params["grace_seconds"]}


def code_step(window, now):
    return math.floor((now - window["opens_at"]).total_seconds() / window["period_seconds"])


def step_starts_at(window, step):
    return window["opens_at"] + timedelta(seconds=step * window["period_seconds"])


def code_for(secret, session_id, window_id, step):
    """Like TOTP: an HMAC of the session, the window and the time step under a
    secret that only this window has; so a code is good for nothing else."""
    digest = hmac.new(bytes.fromhex(secret), f"{session_id}:{window_id}:{step}".encode(),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 10 ** CODE_DIGITS:0{CODE_DIGITS}d}"


def window_refusal(window, now):
    if window is None:
        return "no_window"
    if now < window["opens_at"]:
        return "window_not_open"
    if now >= window["closes_at"]:
        return "window_closed"
    return None


def current_code(session_id, window, now):
    """The code to show now, or the reason there is none."""
    refusal = window_refusal(window, now)
    if refusal:
        raise Conflict(f"no check-in code: {refusal.replace('_', ' ')}", {"window": [refusal]})
    step = code_step(window, now)
    return {"session_id": session_id, "window_id": window["window_id"],
            "code": code_for(window["secret"], session_id, window["window_id"], step),
            "valid_until": min(step_starts_at(window, step + 1), window["closes_at"]),
            "closes_at": window["closes_at"]}


def code_refusal(session_id, window, code, now):
    """None if ``code`` is good now (the current one, or the previous one within
    the grace after it changed); otherwise the reason."""
    refusal = window_refusal(window, now)
    if refusal:
        return refusal
    step = code_step(window, now)

    def matches(s):
        return s >= 0 and hmac.compare_digest(code, code_for(window["secret"], session_id, window["window_id"], s))

    if matches(step):
        return None
    in_grace = (now - step_starts_at(window, step)).total_seconds() <= window["grace_seconds"]
    if in_grace and matches(step - 1):
        return None
    if any(matches(s) for s in range(step - 1, step - 1 - EXPIRED_LOOKBACK, -1)):
        return "expired_code"
    return "wrong_code"


def signin_refusal(session, student, code, now):
    """The reason a sign-in is refused, or None. ``student`` is the local
    projection of enrollment's record (None if never admitted)."""
    if session["status"] != "scheduled":
        return "session_not_scheduled"
    if now >= session["ends_at"]:
        return "session_ended"
    refusal = window_refusal(session.get("checkin"), now)
    if refusal:
        return refusal
    if student is None or student["status"] != "admitted":
        return "not_admitted"
    if not session_is_for(session, student["track"]):
        return "not_for_track"
    return code_refusal(session["id"], session["checkin"], code, now)


def refuse_after_end(session, now, what):
    """After the session's end only staff corrections change its records."""
    if now >= session["ends_at"]:
        raise Conflict(f"the session has ended: {what} is refused; staff correct past records",
                           {"session": ["session_ended"]})


def signin_status(session, rules, now):
    late_after = session["starts_at"] + timedelta(minutes=rules["late_after_minutes"])
    return "late" if now > late_after else "present"


# --- attendance records -------------------------------------------------------------

# automatic sources never lower a status (a student who signed in stays present
# when the meeting platform reports a short stay); staff corrections are final
RANK = {"absent": 0, "watched_replay": 1, "late": 2, "present": 3, "excused": 4}


def new_record(session, student_id, *, now):
    return {"id": f"{session['id']}:{student_id}", "school_id": session["school_id"],
            "session_id": session["id"], "program_id": session["program_id"],
            "instructor_id": session["instructor"]["id"], "student_id": student_id,
            "status": None, "source": None, "signed_in_at": None, "device_id": None,
            "address": None, "flags": [], "minutes_present": None, "replay_share": None,
            "presence": [], "corrected": False, "history": [], "updated_at": now}


def automatic_status(current, proposed):
    """The status an automatic source (check-in, roll call, meeting platform,
    replay) leaves, or None when the record keeps its status."""
    if current is None:
        return proposed
    if current.get("corrected"):
        return None
    if RANK[proposed] > RANK[current["status"]]:
        return proposed
    return None


def online_update(current, proposed):
    """The status join/leave records leave. A status that came from them follows
    them (a stay counted until now may end early); one from another source
    is only ever raised."""
    if current is not None and current["source"] == "online" and not current.get("corrected"):
        return proposed if proposed != current["status"] else None
    return automatic_status(current, proposed)


def correct(record, status, reason, *, by, now):
    """``by``: the audit fields of the correction (``{"by": key, "by_person": person}``)."""
    by = {"by": by, "by_person": None} if isinstance(by, str) else by
    entry = {"at": now, **by, "previous": record["status"], "status": status, "reason": reason}
    return {**record, "status": status, "source": "correction", "corrected": True,
            "history": record["history"] + [entry], "updated_at": now}


def minutes_present(presence, starts_at, ends_at, now):
    """Minutes inside [starts_at, ends_at] while the student was in the meeting.
    Joins and leaves are counted like brackets (two devices overlap, count once);
    a stay without a leave counts until now (or the end)."""
    total, depth, since = 0.0, 0, None
    for item in sorted(presence, key=lambda p: (p["at"], p["kind"] == "join")):
        if item["kind"] == "join":
            depth += 1
            if depth == 1:
                since = item["at"]
        elif depth > 0:
            depth -= 1
            if depth == 0:
                total += _overlap(since, item["at"], starts_at, ends_at)
    if depth > 0:
        total += _overlap(since, min(now, ends_at), starts_at, ends_at)
    return round(total / 60, 2)


def _overlap(start, end, starts_at, ends_at):
    return max(0.0, (min(end, ends_at) - max(start, starts_at)).total_seconds())


def online_status(minutes, session, rules):
    duration = (session["ends_at"] - session["starts_at"]).total_seconds() / 60
    return "present" if minutes >= rules["present_share"] * duration else "absent"


def replay_counts(session, share, rules):
    if session["form"] not in REPLAY_FORMS:
        raise Conflict("this session has no replay", {"form": [session["form"]]})
    return share >= rules["replay_threshold"]


# --- questions ------------------------------------------------------------------------

def new_question(session, student, team, text, *, question_id, rules, now):
    return {"id": question_id, "school_id": session["school_id"], "session_id": session["id"],
            "program_id": session["program_id"], "student_id": student["student_id"],
            "team_id": team["id"] if team else None, "mentor_id": (team or {}).get("mentor_id"),
            "instructor_id": session["instructor"]["id"], "text": text, "status": "open",
            "asked_at": now, "due_at": now + timedelta(hours=rules["question_sla_hours"]),
            "answered_at": None, "resolved_at": None, "overdue": False, "answers": []}


def answerer_role(question, author_id):
    if author_id == question["instructor_id"]:
        return "instructor"
    if question.get("mentor_id") and author_id == question["mentor_id"]:
        return "mentor"
    return None


def is_overdue(question, now):
    return question["answered_at"] is None and question["status"] == "open" and now > question["due_at"]


def question_payload(question):
    return {k: question[k] for k in ("session_id", "program_id", "student_id", "team_id",
                                     "mentor_id", "due_at")} | {"question_id": question["id"]}


# --- feedback ---------------------------------------------------------------------------

def feedback_refusal(session, record, now):
    if now < session["ends_at"]:
        return "the session has not ended yet"
    if record is None or record["status"] not in ATTENDING:
        return "only students who attended can give feedback"
    return None


RATINGS = ("clarity", "practical_value", "pace")


def summarise(totals, attending):
    """``totals``: count and the sum of each rating (from an aggregation)."""
    count = totals.get("count", 0)
    averages = {r: round(totals[r] / count, 2) if count else None for r in RATINGS}
    averages["overall"] = round(sum(totals[r] for r in RATINGS) / (3 * count), 2) if count else None
    return {"count": count, "attending": attending,
            "response_rate": round(count / attending, 3) if attending else None,
            "averages": averages}


# --- demand polls -------------------------------------------------------------------------

def poll_crossed(yes, no, eligible, threshold, quorum):
    """Enough of the admitted students voted (quorum) and enough of the votes
    are yes (threshold)."""
    votes = yes + no
    if eligible <= 0 or votes == 0:
        return False
    return votes / eligible >= quorum and yes / votes >= threshold


DEMAND_POLL_OPEN_FOR = timedelta(days=7)
POLL_OPEN_FOR = timedelta(days=7)  # a poll staff open without a closing time closes after this


def poll_closed(poll, now):
    return poll.get("closes_at") is not None and now >= poll["closes_at"]  # (polls from before closing times: open)


def poll_decided(poll):
    """Decided once, at its closing time (polls from before closing times: once reached)."""
    return poll.get("state") == "decided" or (poll.get("state") is None and poll.get("reached"))


def poll_decision_due(poll, now):
    """A poll decides on its final tally, when it closes. Never earlier: a student may
    change their vote until the close, so every eligible student can still change the
    outcome while the poll is open (a running tally that crossed proves nothing)."""
    return not poll_decided(poll) and poll_closed(poll, now)


TITLE_MAX = 200  # a session's title (contracts.content)
FOLLOWUP_SUFFIX = " (follow-up)"


def followup_title(title):
    """``<title> (follow-up)`` within a session title's length limit (a long title is shortened)."""
    room = TITLE_MAX - len(FOLLOWUP_SUFFIX)
    return (title if len(title) <= room else title[:room - 1].rstrip() + "\u2026") + FOLLOWUP_SUFFIX


def demand_poll(session, *, now):
    """The poll the system opens when a session has ended (the paper's 81% asked
    for a second training that never came): should there be a follow-up?"""
    return {
        "id": f"demand-{session['id']}", "school_id": session["school_id"],
        "program_id": session["program_id"], "session_id": session["id"],
        "question": f"Do you want a follow-up session on \u201c{session['title']}\u201d?",
        "threshold": 0.6, "quorum": 0.5, "closes_at": now + DEMAND_POLL_OPEN_FOR,
        "followup": {"title": followup_title(session["title"]), "module": session["module"],
                     "form": session["form"], "tracks": session["tracks"],
                     "instructor": session["instructor"], "place": session.get("place"),
                     "stream_url": session.get("stream_url")},
        "opened_by": "content:after-session", "opened_by_person": None, "reached": False, "reached_at": None,
        "state": "open", "decided_at": None,
        "followup_session_id": None, "created_at": now,
    }


def vote_refusal(poll, now):
    if poll.get("closes_at") and now >= poll["closes_at"]:
        return "the poll is closed"
    return None


def followup_session(poll, *, now, source=None):
    """The draft session a poll that crossed its threshold proposes: complete enough to
    approve as proposed. What the poll's follow-up does not say (place, stream link, length)
    it copies from the session it follows (``source``), if any."""
    followup, source = poll["followup"], source or {}
    starts_at = now + FOLLOWUP_AFTER
    length = (source["ends_at"] - source["starts_at"]) if source.get("starts_at") else timedelta(hours=2)
    return {"id": f"followup-{poll['id']}", "school_id": poll["school_id"],
            "program_id": poll["program_id"], "title": followup["title"],
            "module": followup["module"], "form": followup["form"], "starts_at": starts_at,
            "ends_at": starts_at + length, "place": followup.get("place") or source.get("place"),
            "stream_url": followup.get("stream_url") or source.get("stream_url"),
            "replay_url": None, "instructor": followup["instructor"], "tracks": followup["tracks"],
            "partner_id": None, "status": "draft", "proposed_by": "content:poll", "proposed_by_person": None,
            "review_reason": None, "cancel_reason": None, "poll_id": poll["id"], "checkin": None,
            "created_at": now, "updated_at": now}
