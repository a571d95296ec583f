"""Supervision rules as plain functions over plain dicts (no database, no clock:
times are epoch seconds passed in), so unit tests drive them directly.

A programme record holds the funnel counters (kept with each event, never counted
on a request), the sessions known from content, and the supervision rules. A
student record holds the stages reached (epoch of the first time), attendance per
session, the last activity per kind on both sides (LMS and platform) and the
platform accounts mapped to the student.
"""
import hashlib
import math
from datetime import datetime, timezone

from contracts.supervision import ACTIVITY_KINDS, FUNNEL_STAGES

DAY = 86400
# the attendance statuses that count as taking part (live or by replay)
TRAINED_BY = ("present", "late", "watched_replay")
NOT_TRACKED = "not tracked yet"
# assessments every student of their tracks must hand in to finish (a competition score also finishes)
REQUIRED_KINDS = ("quiz", "homework")
DEFAULT_RULES = {
    "idle_days": 7, "grace_days": 3, "min_attendance_share": 0.6,
    "excused": [], "promote_waitlisted": False,
}
LMS_KINDS = ("attendance", "replay", "question", "submission")


def ts(moment):
    """Epoch seconds of an aware datetime (nx-27017 compares numbers reliably)."""
    return moment.timestamp()


def day_of(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def moment(epoch):
    """The aware datetime of an epoch (what the API schemas dump)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def iso(epoch):
    """ISO-8601 text of an epoch (what event payloads carry)."""
    return None if epoch is None else moment(epoch).isoformat()


def student_key(program_id, student_id):
    return f"{program_id}:{student_id}"


# --- programmes ----------------------------------------------------------------

def new_program(school_id, payload, started_at):
    starts = datetime.combine(payload["starts_on"], datetime.min.time(), timezone.utc)
    ends = datetime.combine(payload["ends_on"], datetime.max.time(), timezone.utc)
    return {
        "id": payload["program_id"], "school_id": school_id,
        "name": payload["name"], "season": payload["season"],
        "tracks": [t["key"] for t in payload["tracks"]],
        "started_at": ts(started_at), "starts_ts": ts(starts), "ends_ts": ts(ends),
        "counts": {stage: 0 for stage in FUNNEL_STAGES},
        "sessions": {}, "partners": [], "rules": dict(DEFAULT_RULES),
        "telemetry_seen": False, "rev": 0,
        # when a question was asked is its deadline less the programme's answer SLA
        "sla_seconds": ((payload.get("attendance_rules") or {}).get("question_sla_hours") or 24) * 3600,
    }


def stub_program(program_id, school_id):
    """Stands in for a programme whose program.created has not arrived yet: records
    are kept, stages wait for the real programme."""
    return {"id": program_id, "school_id": school_id, "name": "", "season": "", "tracks": [],
            "started_at": None, "starts_ts": 0, "ends_ts": 0, "counts": {stage: 0 for stage in FUNNEL_STAGES},
            "sessions": {}, "partners": [], "rules": dict(DEFAULT_RULES), "telemetry_seen": False,
            "sla_seconds": 24 * 3600, "stub": True}


def complete_stub(stub, program):
    """program.created arrived after events about the programme: keep what they
    counted, take the programme's own fields."""
    kept = {k: v for k, v in stub.items() if k in ("counts", "sessions", "teams", "partners", "assessments",
                                                   "answers", "overdue", "instructors", "telemetry_seen",
                                                   "competition_seen", "rules", "counting", "rev", "_ws")}
    return {**program, **kept, "id": stub["id"]}


def team_index(program):
    """student id -> their team (with its mentor and tutor)."""
    return {member: {"id": team_id, **team}
            for team_id, team in program.get("teams", {}).items() for member in team.get("members", [])}


def team_of(program, student_id, index=None):
    """The student's team, or None (pass ``team_index(program)`` when asking for many)."""
    return (index if index is not None else team_index(program)).get(student_id)


def placeholder_program(program, stub=None):
    """A programme enrollment knows and supervision has not heard of yet (its
    program.created is on the way): an empty funnel (or what events about it
    counted already), not 404."""
    return {**(stub or {}), "id": program["id"], "school_id": program["school_id"], "name": program["name"],
            "season": program["season"], "tracks": [t["key"] for t in program["tracks"]], "started_at": None,
            "counts": (stub or {}).get("counts") or {stage: 0 for stage in FUNNEL_STAGES}}


def untracked_stages(program):
    """Stages with no source yet for this programme: null and "not tracked yet", not 0
    (active: no platform telemetry yet; submitting/finished: nothing to hand in yet)."""
    untracked = []
    if not program.get("telemetry_seen"):
        untracked.append("active")
    if not program.get("assessments") and not program.get("competition_seen"):
        untracked += ["submitting", "finished"]
    return untracked


def funnel_view(program):
    """The funnel as the API answers it: a count per stage, or null with a note
    for a stage that has no source yet."""
    untracked = untracked_stages(program)
    return {
        "program_id": program["id"], "school_id": program["school_id"], "name": program["name"],
        "season": program["season"], "tracks": program["tracks"],
        "stages": {s: (None if s in untracked else program["counts"].get(s, 0)) for s in FUNNEL_STAGES},
        "notes": {s: NOT_TRACKED for s in untracked},
        "started_at": moment(program.get("started_at")),
    }


def sessions_for(program, track):
    """Scheduled sessions of a track (a session with no tracks is for all)."""
    return {sid: s for sid, s in program.get("sessions", {}).items()
            if s["status"] == "scheduled" and (not s["tracks"] or track in s["tracks"])}


def first_session_ts(program):
    starts = [s["starts_ts"] for s in program.get("sessions", {}).values() if s["status"] == "scheduled"]
    return min(starts) if starts else None


# --- students --------------------------------------------------------------------

def new_student(program_id, school_id, student_id, track=None):
    return {"id": student_key(program_id, student_id), "program_id": program_id, "school_id": school_id,
            "student_id": student_id, "track": track, "team_id": None, "name": None,
            "status": "registered", "admitted_ts": None, "stages": {}, "attended": {},
            "lms_last": {}, "platform": empty_platform(), "accounts": [],
            "idle": None, "rev": 0}


def empty_platform():
    return {"last": {}, "counts": {}, "days": {}, "last_ts": None}


def reach(student, stage, at):
    """Mark ``stage`` reached at ``at`` (epoch); True if this is the first time."""
    if stage in student["stages"]:
        return False
    student["stages"][stage] = at
    return True


def trained_now(program, student, rules):
    """Took part in at least the programme's minimum share of the track's sessions
    (and in at least one)."""
    attended = sum(1 for status in student["attended"].values() if status in TRAINED_BY)
    total = len(sessions_for(program, student.get("track")))
    return attended >= max(1, math.ceil(rules["min_attendance_share"] * total))


def active_now(program, student):
    """A platform login after the programme's first session."""
    first = first_session_ts(program)
    login = student["platform"]["last"].get("login")
    return first is not None and login is not None and login >= first


def required_for(program, track):
    return [aid for aid, a in program.get("assessments", {}).items()
            if a["kind"] in REQUIRED_KINDS and (not a["tracks"] or track in a["tracks"])]


def finished_now(program, student):
    """Every required assessment handed in, or a competition score."""
    if student.get("competition"):
        return True
    required = required_for(program, student.get("track"))
    return bool(required) and all(aid in student.get("submitted", {}) for aid in required)


def stages_due(program, student):
    """The stages the student has reached by now and is not yet flagged for."""
    rules = {**DEFAULT_RULES, **program.get("rules", {})}
    due = []
    if "trained" not in student["stages"] and trained_now(program, student, rules):
        due.append("trained")
    if "active" not in student["stages"] and active_now(program, student):
        due.append("active")
    if "submitting" not in student["stages"] and student.get("submitted"):
        due.append("submitting")
    if "finished" not in student["stages"] and finished_now(program, student):
        due.append("finished")
    return due


def merge_platform(accounts):
    """A student's platform activity: the sum of their accounts' summaries."""
    merged = empty_platform()
    for account in accounts:
        add_platform(merged, {"last": account_last(account), "counts": account["counts"], "days": account["days"]})
    return merged


# --- telemetry -------------------------------------------------------------------

def record_id(program_id, record):
    return f"{program_id}:{record['record_id']}"


def new_account(program_id, school_id, account_id):
    return {"id": f"{program_id}:{account_id}", "program_id": program_id, "school_id": school_id,
            "account_id": account_id, "student_id": None, "last": {}, "counts": {}, "days": {},
            "batches": [], "rev": 0}


# an account's latest activity per kind is kept flat (``last__<kind>``) by the folding
# write's $max (nx-27017 0.8 mangles a dotted $max); older accounts keep ``last``
LAST_FIELD = "last__"
KEEP_BATCHES = 50  # batch ids an account or a student remembers as folded


def account_last(account):
    """An account's latest activity per kind, from either shape."""
    last = dict(account.get("last") or {})
    for field, at in account.items():
        if field.startswith(LAST_FIELD):
            kind = field[len(LAST_FIELD):]
            last[kind] = max(at, last.get(kind, at))
    return last


def records_delta(records):
    """What a set of records adds to a summary: counts per kind and per day, latest per kind."""
    delta = empty_platform()
    for record in records:
        kind, at = record["kind"], record["ts"]
        delta["last"][kind] = max(at, delta["last"].get(kind, at))
        delta["counts"][kind] = delta["counts"].get(kind, 0) + 1
        day = delta["days"].setdefault(day_of(at), {})
        day[kind] = day.get(kind, 0) + 1
    return delta


def add_platform(platform, delta):
    """Add a delta (records_delta) to a summary in place."""
    for kind, at in delta["last"].items():
        platform["last"][kind] = max(at, platform["last"].get(kind, at))
    for kind, n in delta["counts"].items():
        platform["counts"][kind] = platform["counts"].get(kind, 0) + n
    for day, kinds in delta["days"].items():
        into = platform["days"].setdefault(day, {})
        for kind, n in kinds.items():
            into[kind] = into.get(kind, 0) + n
    lasts = list(platform["last"].values())
    platform["last_ts"] = max(lasts) if lasts else None
    return platform


def fold_into_student(student, deltas, account_ids=()):
    """Add the deltas of the batches ``deltas`` ({batch id: delta}) not folded into the
    student yet, once per batch (the student remembers the batches folded); returns
    whether anything changed."""
    folded = student.get("platform_batches") or []
    fresh = [b for b in deltas if b not in folded]
    for batch_id in fresh:
        add_platform(student["platform"], deltas[batch_id])
    for account_id in account_ids:
        if account_id not in student["accounts"]:
            student["accounts"] = sorted([*student["accounts"], account_id])
    student["platform_batches"] = (folded + fresh)[-KEEP_BATCHES * 2:]
    return bool(fresh)


def apply_records(account, batch_id, records, keep_batches=KEEP_BATCHES):
    """Fold a batch's new records into an account's summary, once per batch."""
    if batch_id in account["batches"]:
        return False
    add_platform(account, records_delta(records))
    account.pop("last_ts", None)
    account["batches"] = (account["batches"] + [batch_id])[-keep_batches:]
    return True


def activity_view(student):
    """Last activity per kind on both sides, and counts per day."""
    platform = student["platform"]
    days = {}
    for day, kinds in platform["days"].items():
        days.setdefault(day, {}).update({f"platform_{k}": n for k, n in kinds.items()})
    for day, kinds in student.get("lms_days", {}).items():
        days.setdefault(day, {}).update(kinds)
    return {
        "program_id": student["program_id"], "student_id": student["student_id"],
        "track": student.get("track"), "team_id": student.get("team_id"),
        "stages": {s: moment(at) for s, at in student["stages"].items()},
        "lms": {k: moment(student["lms_last"].get(k)) for k in LMS_KINDS},
        "platform": {k: moment(platform["last"].get(k)) for k in ACTIVITY_KINDS},
        "platform_counts": {k: platform["counts"].get(k, 0) for k in ACTIVITY_KINDS},
        "accounts": student["accounts"],
        "days": [{"day": d, "counts": days[d]} for d in sorted(days)],
        "idle_since": moment(student["idle"]["since"]) if student.get("idle") else None,
    }


def note_lms(student, kind, at):
    student["lms_last"][kind] = max(at, student["lms_last"].get(kind, at))
    day = student.setdefault("lms_days", {}).setdefault(day_of(at), {})
    day[kind] = day.get(kind, 0) + 1


# --- idle accounts -----------------------------------------------------------------

def idle_clock_start(program, student):
    """Platform silence counts from the latest activity, else from admission or the
    programme's start, whichever is later."""
    if student["platform"].get("last_ts") is not None:
        return student["platform"]["last_ts"]
    return max(student.get("admitted_ts") or program["starts_ts"], program["starts_ts"])


def spell_id(program_id, student_id, since):
    """One idle spell per student and silence start: two processes compute the same id."""
    return f"{program_id}:{student_id}:{int(since)}"


def idle_verdict(program, student, now):
    """What the idle check owes this student now: None, or a dict with the spell,
    whether it is idle (alert + penalty) and whether the grace period is over
    (reclaim). Only admitted, not excused students of a running programme."""
    rules = {**DEFAULT_RULES, **program.get("rules", {})}
    if student.get("status") != "admitted" or student["student_id"] in rules["excused"]:
        return None
    if not program["starts_ts"] <= now <= program["ends_ts"]:
        return None
    since = idle_clock_start(program, student)
    idle_at = since + rules["idle_days"] * DAY
    if now < idle_at:
        return None
    return {"spell_id": spell_id(program["id"], student["student_id"], since), "since": since,
            "reclaim": now >= idle_at + rules["grace_days"] * DAY, "idle_days": rules["idle_days"]}


# --- attendance --------------------------------------------------------------------

def attendance_standing(program, student, now):
    """(rate so far, best reachable rate, minimum) over the track's sessions: the
    rate counts ended sessions, the best rate assumes every remaining one is attended."""
    rules = {**DEFAULT_RULES, **program.get("rules", {})}
    sessions = sessions_for(program, student.get("track"))
    ended = [sid for sid, s in sessions.items() if s["ends_ts"] <= now]
    attended = [sid for sid in sessions if student["attended"].get(sid) in TRAINED_BY]
    attended_ended = [sid for sid in ended if sid in attended]
    rate = len(attended_ended) / len(ended) if ended else None
    remaining = len(sessions) - len(ended)
    best = (len(attended_ended) + remaining) / len(sessions) if sessions else None
    return rate, best, rules["min_attendance_share"]


def attendance_alerts(program, student, now):
    """The attendance alerts a student is due: the early one the moment the minimum
    cannot be reached even by attending every remaining session, and the one for
    being below the minimum so far."""
    if student.get("status") != "admitted":
        return []
    rate, best, minimum = attendance_standing(program, student, now)
    due = []
    if best is not None and best < minimum:
        due.append(("attendance_minimum_unreachable",
                    f"{student['student_id']} can no longer reach the minimum attendance of {minimum:.0%} "
                    f"(at best {best:.0%} by attending every remaining session)"))
    if rate is not None and rate < minimum:
        due.append(("attendance_below_minimum",
                    f"{student['student_id']} attended {rate:.0%} of the sessions so far, below {minimum:.0%}"))
    return due


def alert_id(kind, *parts):
    """An alert's id, derived from its cause (URL-safe whatever the ids in it)."""
    return f"{kind}-{hashlib.sha256(':'.join(parts).encode()).hexdigest()[:24]}"
