"""Incentive rules as plain functions (no nameko, no database).

The ledger is append-only: every change of a student's credits is an entry, and
a mistake is corrected by a reversal entry pointing at the original. A student's
**account** (per programme) is the projection the entries update: the two
balances, the rule usage the caps need, the cheat guard's recent awards, and the
*standing* entries of each subject (an attendance record, a question, a quiz):
a newer fact about the same subject reverses what the older one gave, so an
absent later corrected to present gives -3, then a reversal (+3) and +5; an older
fact arriving late changes nothing. The same functions decide live (one event at
a time) and in a recompute preview (every stored fact again under new rules).

Balances: ``amount`` changes the spendable balance, ``lifetime_delta`` the
lifetime one. Exchange and refund change only the spendable balance; every other
entry changes both by the same amount, so lifetime minus spendable is what the
student has spent. Negative amounts (penalties, adjustments, reversals of
rewards) never take the spendable balance below the programme's floor: what the
floor kept back is recorded on the entry as ``not_applied`` with the reason.
"""
from datetime import datetime, timezone
from fractions import Fraction

from contracts.errors import Conflict, InvalidInput

ATTENDING = ("present", "late", "watched_replay")

# The rules before a school changes them (version 0).
DEFAULT_RULES = [
    {"key": "present", "event": "content:attendance.recorded.v1", "when": {"status": "present"}, "amount": 5},
    {"key": "late", "event": "content:attendance.recorded.v1", "when": {"status": "late"}, "amount": 2},
    {"key": "absent", "event": "content:attendance.recorded.v1", "when": {"status": "absent"}, "amount": -3},
    {"key": "watched_replay", "event": "content:attendance.recorded.v1", "when": {"status": "watched_replay"},
     "amount": 3},
    {"key": "feedback", "event": "content:feedback.submitted.v1", "when": {}, "amount": 1},
    {"key": "question_answered", "event": "content:question.answered.v1", "when": {}, "amount": 2},
    {"key": "quiz_passed", "event": "assessment:quiz.scored.v1", "when": {"kind": "module_test"},
     "min_score": 60, "amount": 5},
    {"key": "homework_on_time", "event": "assessment:submission.graded.v1",
     "when": {"assessment_kind": "homework", "on_time": True}, "amount": 10},
    {"key": "deadline_missed", "event": "assessment:deadline.missed.v1", "when": {}, "amount": -5},
    {"key": "idle", "event": "supervision:student.idle.v1", "when": {}, "amount": -5},
]
# the percent a rule's min_score compares, per scored event
SCORE_FIELD = {"assessment:quiz.scored.v1": "score", "assessment:submission.graded.v1": "percent",
               "assessment:competition_score.recorded.v1": "percent",
               "assessment:grade.overridden.v1": "override_percent"}
RULE_DEFAULTS = {"when": {}, "min_score": None, "max_per_day": None, "max_total": None, "guard": None}


def default_ruleset(program_id):
    return {"program_id": program_id, "version": 0, "effective_from": None, "created_by": None,
            "rules": [{**RULE_DEFAULTS, **r} for r in DEFAULT_RULES],
            "max_per_day": None, "max_total": None, "floor": 0}


def _ts(at):
    return at.timestamp() if isinstance(at, datetime) else float(at or 0)


def new_ruleset(program_id, data, versions, caller_person, now):
    """The next version from validated ``data``; refuse one that would overlap
    (start before or with the latest version)."""
    effective = data.get("effective_from") or now
    latest = max(versions, key=lambda v: v["version"], default=None)
    if latest is not None and latest.get("effective_from") and _ts(effective) <= _ts(latest["effective_from"]):
        raise InvalidInput("versions must not overlap", {"effective_from": [
            f"must be after version {latest['version']}'s start ({latest['effective_from'].isoformat()})"]})
    rules = [{**RULE_DEFAULTS, **r} for r in data["rules"]]
    for i, rule in enumerate(rules):
        if rule["guard"] is not None and rule["amount"] <= 0:
            raise InvalidInput("a cheat guard limits awards", {"rules": {i: {"guard": ["only for positive amounts"]}}})
    return {"program_id": program_id, "version": (latest["version"] if latest else 0) + 1,
            "effective_from": effective, "created_by": caller_person, "rules": rules,
            "max_per_day": data.get("max_per_day"), "max_total": data.get("max_total"),
            "floor": data.get("floor", 0)}


def ruleset_for(rulesets, program_id, at):
    """The version in force when the fact happened (the latest that started by then)."""
    chosen = None
    for rs in rulesets:
        if rs.get("effective_from") is not None and _ts(rs["effective_from"]) <= _ts(at):
            if chosen is None or rs["version"] > chosen["version"]:
                chosen = rs
    return chosen or default_ruleset(program_id)


def current_ruleset(rulesets, program_id):
    return max(rulesets, key=lambda v: v["version"], default=None) or default_ruleset(program_id)


# --- facts: what an event says, for the rules ---------------------------------------

def fact(event_key, event_id, at, program_id, payload, students, subject):
    return {"event": event_key, "event_id": event_id, "at": _ts(at), "program_id": program_id,
            "payload": payload, "students": list(students), "subject": subject}


def facts_of(event):
    """Facts about students in an event of another service (recipients and the
    subject whose newer facts supersede older ones)."""
    p, key = event.payload, f"{event.source}:{event.type}"
    subject = {
        "content:attendance.recorded.v1": lambda: f"attendance:{p['session_id']}",
        "content:replay.watched.v1": lambda: f"replay:{p['session_id']}",
        "content:feedback.submitted.v1": lambda: f"feedback:{p['session_id']}",
        "content:question.answered.v1": lambda: f"question:{p['question_id']}",
        "enrollment:student.admitted.v1": lambda: f"admitted:{p['application_id']}",
        "enrollment:student.withdrawn.v1": lambda: f"withdrawn:{p['application_id']}",
        "enrollment:team.formed.v1": lambda: f"team:{p['team_id']}",
        "assessment:quiz.scored.v1": lambda: f"quiz:{p['quiz_id']}",
        # a regrade or another attempt supersedes: one award per assessment and student
        "assessment:submission.graded.v1": lambda: f"graded:{p['assessment_id']}",
        "assessment:deadline.missed.v1": lambda: f"missed:{p['assessment_id']}",
        # a correction (a later revision) supersedes the result it corrects
        "assessment:competition_score.recorded.v1": lambda: f"competition:{p['entry_id']}",
        "assessment:grade.overridden.v1": lambda: f"override:{p['assessment_id']}",
        "supervision:student.idle.v1": lambda: f"idle:{p['spell_id']}",
    }[key]()
    # the subject is a key of the account document: no '.' or '$' in it (ids from other services)
    subject = subject.replace("%", "%25").replace(".", "%2E").replace("$", "%24")
    students = {"enrollment:team.formed.v1": lambda: p["members"],
                "assessment:competition_score.recorded.v1": lambda: p["student_ids"]}.get(
        key, lambda: [p["student_id"]])()
    kept = {k: v for k, v in p.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if key in SCORE_FIELD:
        kept["score"] = p.get(SCORE_FIELD[key])
    return fact(key, event.event_id, event.occurred_at, p["program_id"], kept, students, subject)


def _matches(rule, f):
    if rule["event"] != f["event"]:
        return False
    if any(f["payload"].get(k) != v for k, v in (rule.get("when") or {}).items()):
        return False
    if rule.get("min_score") is not None and (f["payload"].get("score") or 0) < rule["min_score"]:
        return False
    return True


# --- accounts -----------------------------------------------------------------------

def new_account(school_id, program_id, student_id):
    return {"id": f"{program_id}:{student_id}", "school_id": school_id, "program_id": program_id,
            "student_id": student_id, "track": None, "team_id": None, "status": None, "opt_out": False,
            "spendable": 0, "lifetime": 0, "by_rules": 0, "usage": {}, "recent": {}, "subjects": {},
            "redeemed": {}, "rev": 0}


def _day(at):
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d")


def _floor_limited(account, amount, floor):
    """(applied, not_applied, reason) for a change of the spendable balance."""
    if amount >= 0:
        return amount, 0, None
    room = min(0, floor - account["spendable"])  # how far down we may go (<= 0)
    applied = max(amount, room)
    if applied == amount:
        return amount, 0, None
    return applied, amount - applied, f"the programme's floor ({floor}) kept {applied - amount} back"


def make_entry(account, kind, amount, reason, *, entry_id, at, floor=0, lifetime=True, rule=None,
               rule_version=None, caused_by=None, source_event_id=None, request_id=None, reverses=None,
               subject=None, day=None, by_rules=False, limit_by_floor=True):
    """An entry for ``account`` and the account after it (the caller keeps both or neither)."""
    applied, not_applied, why = _floor_limited(account, amount, floor) if limit_by_floor else (amount, 0, None)
    entry = {"id": entry_id, "school_id": account["school_id"], "program_id": account["program_id"],
             "student_id": account["student_id"], "kind": kind, "amount": applied,
             "lifetime_delta": applied if lifetime else 0, "requested": amount, "not_applied": not_applied,
             "not_applied_reason": why, "rule": rule, "rule_version": rule_version, "caused_by": caused_by,
             "source_event_id": source_event_id, "request_id": request_id, "reverses": reverses,
             "reason": reason, "at": at, "subject": subject, "day": day, "by_rules": by_rules}
    return entry, _apply(account, entry)


def _apply(account, entry):
    account = {**account, "spendable": account["spendable"] + entry["amount"],
               "lifetime": account["lifetime"] + entry["lifetime_delta"]}
    if entry["by_rules"]:
        account["by_rules"] = account.get("by_rules", 0) + entry["amount"]
    return account


def _use(usage, rule, day, credits):
    usage = dict(usage)
    for key in (f"{rule}|{day}", rule, f"*|{day}", "*"):
        usage[key] = usage.get(key, 0) + credits
    return usage


def _capped(rule, ruleset, usage, day, amount):
    """What the caps still allow of a positive award, and why less."""
    room, why = amount, None
    for cap, used, what in ((rule.get("max_per_day"), usage.get(f"{rule['key']}|{day}", 0), "this rule's daily cap"),
                            (rule.get("max_total"), usage.get(rule["key"], 0), "this rule's cap"),
                            (ruleset.get("max_per_day"), usage.get(f"*|{day}", 0), "the programme's daily cap"),
                            (ruleset.get("max_total"), usage.get("*", 0), "the programme's cap")):
        if cap is not None and used + room > cap:
            room, why = max(0, cap - used), what
    return room, (f"{why} ({amount - room} not given)" if why else None)


def _guarded(rule, recent, at):
    """False when the cheat guard refuses another award now."""
    guard = rule.get("guard")
    if not guard:
        return True
    since = at - guard["window_minutes"] * 60
    return sum(1 for t in recent.get(rule["key"], []) if since < t <= at) < guard["max_awards"]


def apply_fact(account, f, ruleset, floor=None):
    """Apply one fact to one student's account; return (entries, account).

    Idempotent by construction: a fact not newer than the subject's standing fact
    (the same event redelivered, or an older one arriving late) changes nothing.
    A newer one reverses the standing entries, then applies the matching rules.
    """
    floor = ruleset.get("floor", 0) if floor is None else floor
    subject = f["subject"]
    standing = account["subjects"].get(subject)
    if standing is not None and (standing["at"], standing["event_id"]) >= (f["at"], f["event_id"]):
        return [], account
    at = datetime.fromtimestamp(f["at"], timezone.utc)
    entries = []
    usage, recent = dict(account["usage"]), {k: list(v) for k, v in account["recent"].items()}
    for old in (standing or {}).get("entries", []):
        if not old["amount"]:
            continue
        entry, account = make_entry(
            account, "reversal", -old["amount"], f"superseded by a newer {f['event'].split(':')[1]} event",
            entry_id=f"reversal:{old['id']}", at=at, floor=floor, rule=old["rule"], source_event_id=f["event_id"],
            reverses=old["id"], subject=subject, by_rules=True)
        entries.append(entry)
        if old["amount"] > 0:
            usage = _use(usage, old["rule"], old["day"], -old["amount"])
    day = _day(f["at"])
    standing_entries = []
    for rule in ruleset["rules"]:
        if not _matches(rule, f):
            continue
        amount, note = rule["amount"], None
        if amount > 0:
            if not _guarded(rule, recent, f["at"]):
                amount, note = 0, f"cheat guard: at most {rule['guard']['max_awards']} per " \
                                  f"{rule['guard']['window_minutes']} min ({rule['amount']} not given)"
            else:
                amount, note = _capped(rule, ruleset, usage, day, amount)
        kind = "reward" if rule["amount"] >= 0 else "penalty"
        entry, account = make_entry(
            account, kind, amount, f"rule {rule['key']} (version {ruleset['version']})",
            entry_id=f"{f['event_id']}:{rule['key']}:{account['student_id']}", at=at, floor=floor,
            rule=rule["key"], rule_version=ruleset["version"], source_event_id=f["event_id"],
            subject=subject, day=day, by_rules=True)
        if note:  # a cap or the guard kept part back: say so on the entry
            entry = {**entry, "requested": rule["amount"], "not_applied": rule["amount"] - entry["amount"],
                     "not_applied_reason": note}
        entries.append(entry)
        if entry["amount"] > 0:
            usage = _use(usage, rule["key"], day, entry["amount"])
            recent.setdefault(rule["key"], []).append(f["at"])
        standing_entries.append({"id": entry["id"], "amount": entry["amount"], "rule": rule["key"], "day": day})
    for key, times in recent.items():  # the guard needs only the last day's awards... or its window
        recent[key] = sorted(times)[-200:]
    subjects = {**account["subjects"], subject: {"at": f["at"], "event_id": f["event_id"],
                                                  "status": f["payload"].get("status"),
                                                  "entries": standing_entries}}
    account = {**account, "usage": usage, "recent": recent, "subjects": subjects}
    return entries, account


def drop_standing(account, entry_id):
    """A reversed entry no longer stands for its subject (a later correction must
    not reverse it a second time)."""
    subjects = {}
    for key, standing in account["subjects"].items():
        kept = [e for e in standing.get("entries", []) if e["id"] != entry_id]
        subjects[key] = {**standing, "entries": kept}
    return {**account, "subjects": subjects}


def reversal_of(account, original, reason, caused_by, at, floor, request_id=None):
    """A staff (or appeal) reversal of ``original``; refused for a reversal, an
    exchange or a refund (those are undone by cancelling the redemption)."""
    if original["kind"] == "reversal":
        raise InvalidInput("a reversal cannot be reversed", {"entry_id": ["is a reversal"]})
    if original["kind"] in ("exchange", "refund"):
        raise InvalidInput("cancel the redemption instead", {"entry_id": [f"is an {original['kind']}"]})
    if not original["amount"]:
        raise InvalidInput("nothing to reverse: the entry changed no balance", {"entry_id": ["applied 0 credits"]})
    entry, account = make_entry(
        account, "reversal", -original["amount"], reason, entry_id=f"reversal:{original['id']}", at=at,
        floor=floor, rule=original.get("rule"), caused_by=caused_by, reverses=original["id"], request_id=request_id,
        subject=original.get("subject"), by_rules=bool(original.get("by_rules")))
    if original.get("by_rules") and original["amount"] > 0 and original.get("rule") and original.get("day"):
        account = {**account, "usage": _use(account["usage"], original["rule"], original["day"], -original["amount"])}
    return entry, drop_standing(account, original["id"])


# --- recompute ----------------------------------------------------------------------

def simulate(facts, ruleset, student_ids=None):
    """What the rules of ``ruleset`` give each student over ``facts`` (oldest first),
    from empty accounts, without a floor (spending is not replayed)."""
    accounts = {}
    for f in sorted(facts, key=lambda f: (f["at"], f["event_id"])):
        for student in f["students"]:
            account = accounts.get(student) or new_account("", f["program_id"], student)
            _, accounts[student] = apply_fact(account, f, ruleset, floor=-10 ** 12)
    totals = {s: a["by_rules"] for s, a in accounts.items()}
    for student in student_ids or ():
        totals.setdefault(student, 0)
    return totals


def recompute_lines(accounts, would_be):
    lines = []
    for account in sorted(accounts, key=lambda a: a["student_id"]):
        now, then = account.get("by_rules", 0), would_be.get(account["student_id"], 0)
        lines.append({"student_id": account["student_id"], "by_rules_now": now, "by_rules_would_be": then,
                      "difference": then - now, "spendable_now": account["spendable"],
                      "spendable_would_be": account["spendable"] + then - now})
    return lines


# --- enterprise rewards -------------------------------------------------------------

def split_largest_remainder(amount, weights):
    """Integer shares of ``amount`` proportional to ``weights`` that add up to
    ``amount`` exactly (Hamilton's largest remainder method): every member gets
    the floor of their exact quota, and the credits left go one each to the
    largest remainders; equal remainders go to the member whose id sorts first."""
    total = sum(weights.values())
    if total <= 0:
        raise InvalidInput("the shares must not all be 0", {"shares": ["all 0"]})
    quotas = {member: Fraction(amount * w, total) for member, w in weights.items()}
    shares = {member: int(q) for member, q in quotas.items()}  # floor (amounts are positive)
    left = amount - sum(shares.values())
    for member in sorted(quotas, key=lambda m: (-(quotas[m] - shares[m]), m))[:left]:
        shares[member] += 1
    return shares


def reward_weights(members, data):
    if data["split"] == "equal":
        return {m: 1 for m in members}
    unknown = sorted(set(data["shares"]) - set(members))
    if unknown:
        raise InvalidInput("shares name students outside the team", {"shares": [f"not members: {', '.join(unknown)}"]})
    return {m: data["shares"].get(m, 0) for m in members}


# --- leaderboards -------------------------------------------------------------------

def ranked(scores):
    """(name, score) pairs best first; equal scores by name (deterministic)."""
    return sorted(scores, key=lambda pair: (-pair[1], pair[0]))


def leaderboard_rows(scores, mode, viewer=None, neighbours=3, hidden=(), is_staff=False, limit=100):
    """Rows for ``mode``: full (names, except those who opted out), anonymous (no
    name but the viewer's own), relative (a student sees ``neighbours`` above and
    below their own rank). Staff see every row of the chosen mode with names of
    those who did not opt out."""
    rows = []
    for rank, (name, score) in enumerate(ranked(scores), start=1):
        you = viewer is not None and name == viewer
        shown = you or (name not in hidden and (mode != "anonymous" or is_staff))
        rows.append({"rank": rank, "name": name if shown else None, "score": score, "you": you})
    if mode == "relative" and not is_staff:
        mine = next((r["rank"] for r in rows if r["you"]), None)
        if mine is None:
            return []
        rows = [r for r in rows if abs(r["rank"] - mine) <= neighbours]
    return rows[:limit]


def team_scores(accounts, how):
    teams = {}
    for account in accounts:
        if account.get("team_id"):
            teams.setdefault(account["team_id"], []).append(account["lifetime"])
    if how == "mean":
        return [(team, round(sum(v) / len(v), 2)) for team, v in teams.items()]
    return [(team, sum(v)) for team, v in teams.items()]


# --- badges -------------------------------------------------------------------------

def earned(condition, account, program_sessions, track_accounts=None):
    """Whether ``account`` meets a badge condition now."""
    kind = condition["kind"]
    if kind == "lifetime_at_least":
        return account["lifetime"] >= condition["at_least"]
    if kind == "first_answered_question":
        return any(key.startswith("question:") for key in account["subjects"])
    if kind == "all_sessions_attended":
        attended = {key.split(":", 1)[1] for key, s in account["subjects"].items()
                    if key.startswith("attendance:") and s.get("status") in ATTENDING}
        return bool(program_sessions) and set(program_sessions) <= attended
    if kind == "top_share_of_track":
        if not track_accounts:
            return False
        order = ranked([(a["student_id"], a["lifetime"]) for a in track_accounts])
        places = max(1, int(len(order) * condition["share"]))
        return account["student_id"] in {name for name, _ in order[:places]} and account["lifetime"] > 0
    return False


def ensure_open(appeal):
    if appeal["status"] != "open":
        raise Conflict(f"the appeal was {appeal['status']} already")
