"""Enrollment rules as plain functions: no nameko, no mongoengine.

Anything that depends on time takes ``now`` so that tests control it.
"""
from datetime import datetime, timedelta, timezone
import uuid

LIVE = ("submitted", "screened", "admitted", "waitlisted", "rejected")
SCORABLE = ("submitted", "screened")        # a score changes nothing once decided
WITHDRAWABLE = ("submitted", "screened", "admitted", "waitlisted")
# a team whose members are still being claimed; after this long it was abandoned
FORMING_GRACE = timedelta(seconds=60)


# --- programmes --------------------------------------------------------------

def _audit(actor, field):
    """Audit fields: the key and the acting person, separately (services.common.acting.stamp);
    a bare string is a system step without a key (e.g. ``cli:import``)."""
    return actor if isinstance(actor, dict) else {field: actor, f"{field}_person": None}


def new_program(data, *, school_id, actor, program_id=None, now=None):
    """A programme record from validated ProgramCreateSchema data."""
    return {
        **data,
        "id": program_id or uuid.uuid4().hex,
        "school_id": school_id,
        **_audit(actor, "created_by"),
        "created_at": now or datetime.now(timezone.utc),
    }


def program_created_payload(program):
    return {
        "program_id": program["id"], "name": program["name"], "season": program["season"],
        "starts_on": program["starts_on"], "ends_on": program["ends_on"],
        "tracks": program["tracks"], "attendance_rules": program.get("attendance_rules"),
    }


def track_of(program, key):
    return next((t for t in program["tracks"] if t["key"] == key), None)


def program_open(program, now):
    """Applications and withdrawals are possible until the programme ends."""
    return now.date() <= program["ends_on"]


def teams_locked(program, now):
    """Teams change (form, join, leave, disband) until the team lock date; on that
    date they are locked. Without a lock date, until the programme ends."""
    lock = program.get("team_lock_date")
    if lock is not None:
        return now.date() >= lock
    return now.date() > program["ends_on"]


# --- applications ------------------------------------------------------------

def live_key(program_id, student_id):
    return f"{program_id}:{student_id}"


def closed_key(program_id, student_id, application_id):
    return f"{program_id}:{student_id}:withdrawn:{application_id}"


def new_application(data, program, *, school_id, actor, now, application_id=None):
    application_id = application_id or uuid.uuid4().hex
    return {
        **data,
        "id": application_id,
        "live_key": live_key(program["id"], data["student_id"]),
        "school_id": school_id,
        "program_id": program["id"],
        "status": "submitted",
        "score": None, "score_source": None, "score_note": None, "scored_at": None,
        "decision_reason": None, "waitlist_position": None, "promoted": False,
        "previous_status": None, "withdrawal_reason": None,
        "submitted_at": now, "decided_at": None, "withdrawn_at": None,
        **_audit(actor, "submitted_by"),
    }


def student_payload(app, **extra):
    return {"program_id": app["program_id"], "application_id": app["id"],
            "student_id": app["student_id"], "track": app["track"], **extra}


def application_submitted_payload(app):
    return student_payload(app, name=app["name"], major=app.get("major") or "",
                           year_of_study=app.get("year_of_study"))


def rank_key(app):
    """Ranking: higher score first, then earlier application, then id (stable)."""
    return (-app["score"], app["submitted_at"], app["id"])


def ineligibility(app, rules):
    """Why the application cannot be admitted under the programme's rules, or None."""
    majors = [m.strip().lower() for m in rules.get("required_majors") or []]
    if majors and (app.get("major") or "").strip().lower() not in majors:
        return f"major '{app.get('major') or ''}' is not among the required majors ({', '.join(rules['required_majors'])})"
    years = rules.get("required_years") or []
    if years and app.get("year_of_study") not in years:
        return (f"year of study {app.get('year_of_study')} is not among the required years "
                f"({', '.join(map(str, years))})")
    minimum = rules.get("min_quiz_score") or 0
    if app["score"] < minimum:
        return f"screening score {app['score']:g} is below the minimum {minimum:g}"
    return None


def decide_track(candidates, waitlisted, *, free_seats, capacity, rules):
    """Decide the screened ``candidates`` of one track.

    ``waitlisted``: applications already on the track's waitlist (kept there);
    ``free_seats``: places left now. Returns ``[{application, decision, reason,
    position}]`` in rank order: the ineligible rejected, the best eligible admitted
    up to the free places, the rest waitlisted at their rank among everyone waiting.
    """
    decisions, eligible = [], []
    for app in candidates:
        reason = ineligibility(app, rules)
        if reason:
            decisions.append({"application": app, "decision": "rejected", "reason": reason,
                              "position": None})
        else:
            eligible.append(app)
    eligible.sort(key=rank_key)
    free = max(0, free_seats)
    admitted, waiting = eligible[:free], eligible[free:]
    for rank, app in enumerate(admitted, 1):
        decisions.append({"application": app, "decision": "admitted", "position": None,
                          "reason": f"rank {rank} of {len(eligible)} eligible with score "
                                    f"{app['score']:g}; {free} of {capacity} places were free"})
    queue = sorted([*waitlisted, *waiting], key=rank_key)
    positions = {a["id"]: i for i, a in enumerate(queue, 1)}
    for rank, app in enumerate(waiting, len(admitted) + 1):
        why = (f"the track has no places" if capacity == 0 else
               f"all {capacity} places are taken")
        decisions.append({"application": app, "decision": "waitlisted",
                          "position": positions[app["id"]],
                          "reason": f"rank {rank} of {len(eligible)} eligible with score "
                                    f"{app['score']:g}; {why}"})
    return decisions


def seat_repairs(holders):
    """Seats whose owner is not admitted (an admission or a withdrawal cut short
    by a crash): ``holders`` maps application id -> status. Returns (to_admit,
    to_release): a seat held by a screened or waitlisted application finishes
    its admission; one held by a withdrawn or rejected (or missing) one is freed."""
    to_admit = sorted(i for i, s in holders.items() if s in ("screened", "waitlisted"))
    to_release = sorted(i for i, s in holders.items()
                        if s not in ("screened", "waitlisted", "admitted"))
    return to_admit, to_release


# --- teams -------------------------------------------------------------------

def team_size_error(count, team_size):
    low, high = team_size.get("min", 1), team_size.get("max", 50)
    if count > high:
        return f"a team has at most {high} members"
    if count < low:
        return f"a team has at least {low} members"
    return None


def new_team(data, program, *, school_id, actor, now, team_id=None):
    return {
        "id": team_id or uuid.uuid4().hex, "school_id": school_id, "program_id": program["id"],
        "track": data["track"], "name": data["name"], "members": [], "size": 0,
        "status": "forming", "mentor_id": None, "tutor_id": None,
        "created_at": now, **_audit(actor, "created_by"),
    }


def membership_holds(team, student_id, now):
    """A membership record counts while its team is active with the student in it,
    or is still being formed (recently). Otherwise it is left over from an
    interrupted request and may be taken."""
    if team is None:
        return False
    if team["status"] == "active":
        return student_id in team["members"]
    if team["status"] == "forming":
        return now - team["created_at"] < FORMING_GRACE
    return False


def team_payload(team, members=None):
    return {"team_id": team["id"], "program_id": team["program_id"], "track": team["track"],
            "name": team["name"], "members": list(team["members"] if members is None else members)}


def is_complete(team, team_size):
    return len(team["members"]) >= team_size.get("min", 1)


# --- mentors and tutors ------------------------------------------------------

def plan_assignments(teams, staff):
    """Give each team in ``teams`` (in order) one of ``staff``, balancing load:
    always the active one with the fewest teams (then most room, then id) that
    is under its maximum. Returns (pairs [(team_id, staff_id)], teams left without)."""
    loads = {s["id"]: s["load"] for s in staff if s["active"]}
    maxima = {s["id"]: s["max_load"] for s in staff if s["active"]}
    pairs, left = [], []
    for team in teams:
        open_ = [i for i in loads if loads[i] < maxima[i]]
        if not open_:
            left.append(team["id"])
            continue
        chosen = min(open_, key=lambda i: (loads[i], -(maxima[i] - loads[i]), i))
        loads[chosen] += 1
        pairs.append((team["id"], chosen))
    return pairs, left


def plan_for_programme(teams, staff, program, kind):
    """``plan_assignments``, per track when the programme takes each team's mentor
    from the partner whose platform its track uses (``assignment_rules``)."""
    if kind != "mentor" or not (program.get("assignment_rules") or {}).get("mentor_from_track_partner"):
        return plan_assignments(teams, staff)
    pairs, left = [], []
    for track in program["tracks"]:
        mine = [t for t in teams if t["track"] == track["key"]]
        if mine:
            got, missed = plan_assignments(mine, [s for s in staff if s["partner_id"] == track.get("partner_id")])
            pairs += got
            left += missed
    return pairs, left


def mentor_partner_error(program, team, staff):
    """Why this mentor may not mentor this team under the programme's rules, or None."""
    if not (program.get("assignment_rules") or {}).get("mentor_from_track_partner"):
        return None
    wanted = (track_of(program, team["track"]) or {}).get("partner_id")
    if staff["partner_id"] != wanted:
        return f"track '{team['track']}' takes mentors of partner {wanted}, not {staff['partner_id']}"
    return None


# --- the roster --------------------------------------------------------------

def roster_rows(applications, teams, staff):
    """One row per admitted student: track, team, mentor, tutor and status."""
    team_of = {m: t for t in teams if t["status"] == "active" for m in t["members"]}
    names = {s["id"]: s["name"] for s in staff}
    rows = []
    for app in sorted(applications, key=lambda a: (a["track"], a["name"], a["student_id"])):
        team = team_of.get(app["student_id"])
        rows.append({
            "application_id": app["id"], "student_id": app["student_id"], "name": app["name"],
            "major": app.get("major") or "", "year_of_study": app.get("year_of_study"),
            "track": app["track"], "status": app["status"], "promoted": bool(app.get("promoted")),
            "team_id": team["id"] if team else None, "team_name": team["name"] if team else None,
            "mentor_id": team["mentor_id"] if team else None,
            "mentor_name": names.get(team["mentor_id"]) if team else None,
            "tutor_id": team["tutor_id"] if team else None,
            "tutor_name": names.get(team["tutor_id"]) if team else None,
        })
    return rows
