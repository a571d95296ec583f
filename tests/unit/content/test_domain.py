"""Content rules with a controlled clock: code rotation, the check-in window,
grace, late sign-ins, online minutes, the replay threshold, the SLA and polls."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.errors import Conflict, InvalidInput
from services.content import domain

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
SECRET = "ab" * 32
RULES = domain.default_attendance_rules()


def at(seconds=0, minutes=0):
    return T0 + timedelta(seconds=seconds, minutes=minutes)


def session(**extra):
    return {"id": "s1", "school_id": "jufe", "program_id": "p1", "title": "Store operations",
            "module": "ops", "form": "offline_lecture", "starts_at": T0, "ends_at": at(minutes=90),
            "place": "Room 101", "stream_url": None, "instructor": {"id": "t1", "kind": "teacher", "name": ""},
            "tracks": [], "status": "scheduled", **extra}


def window(period=30, grace=5, minutes=15, opened=T0, secret=SECRET, window_id="w1"):
    return {"window_id": window_id, "secret": secret, "opens_at": opened,
            "closes_at": opened + timedelta(minutes=minutes), "period_seconds": period, "grace_seconds": grace}


def code_at(win, now, session_id="s1"):
    return domain.current_code(session_id, win, now)["code"]


ADMITTED = {"student_id": "stu1", "track": "undergraduate", "status": "admitted"}


# --- rotation, window, grace --------------------------------------------------------

def test_the_code_is_six_digits_and_stays_the_same_within_one_period():
    win = window()
    code = code_at(win, at(1))
    assert len(code) == 6 and code.isdigit()
    assert code_at(win, at(29)) == code


def test_the_code_changes_every_period():
    win = window(period=30)
    codes = [code_at(win, at(seconds=s)) for s in (0, 30, 60, 90)]
    assert len(set(codes)) == 4


def test_the_current_code_says_until_when_it_is_valid():
    shown = domain.current_code("s1", window(period=30), at(40))
    assert shown["valid_until"] == at(60)


def test_the_current_code_is_accepted():
    win = window()
    assert domain.code_refusal("s1", win, code_at(win, at(45)), at(50)) is None


def test_the_previous_code_is_accepted_within_the_grace_after_a_change():
    win = window(period=30, grace=5)
    previous = code_at(win, at(29))
    assert domain.code_refusal("s1", win, previous, at(34)) is None


def test_the_previous_code_is_expired_after_the_grace():
    win = window(period=30, grace=5)
    previous = code_at(win, at(29))
    assert domain.code_refusal("s1", win, previous, at(36)) == "expired_code"


def test_an_older_code_is_expired_even_within_the_grace():
    win = window(period=30, grace=5)
    two_back = code_at(win, at(5))
    assert domain.code_refusal("s1", win, two_back, at(61)) == "expired_code"


def test_a_made_up_code_is_wrong():
    win = window()
    real = code_at(win, at(10))
    fake = f"{(int(real) + 1) % 1_000_000:06d}"
    assert domain.code_refusal("s1", win, fake, at(10)) == "wrong_code"


def test_a_code_of_one_session_is_wrong_for_another_session():
    win = window()
    other = code_at(win, at(10), session_id="s2")
    assert domain.code_refusal("s1", win, other, at(10)) in ("wrong_code", "expired_code")
    assert domain.code_refusal("s1", win, other, at(10)) is not None


def test_a_new_window_has_its_own_secret_so_old_codes_die():
    old, new = window(window_id="w1", secret="ab" * 32), window(window_id="w2", secret="cd" * 32)
    assert domain.code_refusal("s1", new, code_at(old, at(10)), at(10)) is not None


def test_a_code_is_refused_before_the_window_opens_and_after_it_closes():
    win = window(minutes=15, opened=at(minutes=5))
    code = code_at(win, at(minutes=5))
    assert domain.code_refusal("s1", win, code, at(minutes=4)) == "window_not_open"
    assert domain.code_refusal("s1", win, code, at(minutes=20)) == "window_closed"
    assert domain.code_refusal("s1", None, code, at()) == "no_window"


def test_no_code_is_shown_outside_the_window():
    with pytest.raises(Conflict):
        domain.current_code("s1", window(minutes=1), at(minutes=2))


def test_a_future_session_cannot_be_marked_with_todays_code():
    today = session(checkin=window())
    future = session(id="s-next-week", starts_at=at(minutes=7 * 24 * 60), checkin=None)
    code = code_at(today["checkin"], at(10))
    assert domain.signin_refusal(future, ADMITTED, code, at(10)) == "no_window"


# --- who may sign in ----------------------------------------------------------------------

def test_a_student_not_admitted_is_refused_even_with_the_right_code():
    s = session(checkin=window())
    code = code_at(s["checkin"], at(10))
    assert domain.signin_refusal(s, None, code, at(10)) == "not_admitted"
    assert domain.signin_refusal(s, {**ADMITTED, "status": "withdrawn"}, code, at(10)) == "not_admitted"


def test_a_student_of_another_track_is_refused():
    s = session(checkin=window(), tracks=["vocational"])
    assert domain.signin_refusal(s, ADMITTED, code_at(s["checkin"], at(10)), at(10)) == "not_for_track"


def test_an_unscheduled_session_refuses_sign_ins():
    s = session(checkin=window(), status="proposed")
    assert domain.signin_refusal(s, ADMITTED, code_at(s["checkin"], at(10)), at(10)) == "session_not_scheduled"


def test_an_admitted_student_with_the_current_code_is_accepted():
    s = session(checkin=window())
    assert domain.signin_refusal(s, ADMITTED, code_at(s["checkin"], at(10)), at(10)) is None


def test_a_sign_in_after_the_late_limit_is_late():
    rules = {**RULES, "late_after_minutes": 10}
    assert domain.signin_status(session(), rules, at(minutes=10)) == "present"
    assert domain.signin_status(session(), rules, at(minutes=10, seconds=1)) == "late"


def test_a_recorded_session_gets_no_check_in_window():
    with pytest.raises(Conflict):
        domain.new_window(session(form="recorded"), {"minutes": 10, "period_seconds": 30, "grace_seconds": 5},
                          window_id="w", secret=SECRET, now=T0)


# --- statuses -------------------------------------------------------------------------------

def record(status, **extra):
    return {"status": status, "corrected": False, **extra}


def test_automatic_sources_never_lower_a_status():
    assert domain.automatic_status(record("present"), "absent") is None
    assert domain.automatic_status(record("late"), "watched_replay") is None
    assert domain.automatic_status(record("absent"), "present") == "present"
    assert domain.automatic_status(None, "absent") == "absent"


def test_a_staff_correction_is_final_for_automatic_sources():
    assert domain.automatic_status(record("absent", corrected=True), "present") is None


def test_a_correction_keeps_the_reason_and_the_previous_status_in_history():
    corrected = domain.correct({**record("absent"), "history": []}, "excused", "sick note",
                               by={"by": "lms:k1", "by_person": "staff:t1"}, now=T0)
    assert corrected["status"] == "excused"
    assert corrected["history"] == [{"at": T0, "by": "lms:k1", "by_person": "staff:t1", "previous": "absent",
                                     "status": "excused", "reason": "sick note"}]


def test_minutes_present_merge_overlaps_clip_to_the_session_and_count_open_stays():
    presence = [{"kind": "join", "at": at(minutes=-10)}, {"kind": "leave", "at": at(minutes=30)},
                {"kind": "join", "at": at(minutes=20)}, {"kind": "leave", "at": at(minutes=40)},
                {"kind": "join", "at": at(minutes=80)}]
    # 0-30 (clipped), 30-40, then 80 until now (85)
    assert domain.minutes_present(presence, T0, at(minutes=90), at(minutes=85)) == 45
    assert domain.minutes_present(presence, T0, at(minutes=90), at(minutes=200)) == 50


def test_a_student_present_for_the_programmes_share_is_present():
    live = session(form="live_online", ends_at=at(minutes=100))
    rules = {**RULES, "present_share": 0.75}
    assert domain.online_status(75, live, rules) == "present"
    assert domain.online_status(74.9, live, rules) == "absent"


def test_the_replay_counts_from_the_threshold_on():
    recorded = session(form="recorded")
    rules = {**RULES, "replay_threshold": 0.8}
    assert domain.replay_counts(recorded, 0.8, rules)
    assert not domain.replay_counts(recorded, 0.79, rules)


def test_an_offline_session_has_no_replay():
    with pytest.raises(Conflict):
        domain.replay_counts(session(form="workshop"), 1.0, RULES)


# --- questions ------------------------------------------------------------------------------

def question(rules=RULES, now=T0, team=None):
    return domain.new_question(session(), ADMITTED, team, "How do I price a listing?",
                               question_id="q1", rules=rules, now=now)


def test_a_question_is_due_after_the_programmes_sla():
    q = question({**RULES, "question_sla_hours": 24})
    assert q["due_at"] == T0 + timedelta(hours=24)


def test_an_unanswered_question_is_overdue_only_after_its_deadline():
    q = question({**RULES, "question_sla_hours": 24})
    assert not domain.is_overdue(q, T0 + timedelta(hours=24))
    assert domain.is_overdue(q, T0 + timedelta(hours=24, seconds=1))


def test_an_answered_or_resolved_question_is_never_overdue():
    q = question()
    late = T0 + timedelta(days=3)
    assert not domain.is_overdue({**q, "answered_at": T0, "status": "answered"}, late)
    assert not domain.is_overdue({**q, "status": "resolved"}, late)


def test_the_instructor_or_the_teams_mentor_may_answer_nobody_else():
    q = question(team={"id": "team1", "mentor_id": "m1"})
    assert domain.answerer_role(q, "t1") == "instructor"
    assert domain.answerer_role(q, "m1") == "mentor"
    assert domain.answerer_role(q, "someone") is None


# --- feedback -------------------------------------------------------------------------------

def test_feedback_only_after_the_session_and_only_from_attending_students():
    s = session()
    assert domain.feedback_refusal(s, record("present"), at(minutes=89)) is not None
    assert domain.feedback_refusal(s, record("present"), at(minutes=90)) is None
    assert domain.feedback_refusal(s, record("watched_replay"), at(minutes=90)) is None
    assert domain.feedback_refusal(s, record("absent"), at(minutes=90)) is not None
    assert domain.feedback_refusal(s, None, at(minutes=90)) is not None


def test_a_summary_has_averages_and_the_response_rate():
    summary = domain.summarise({"count": 2, "clarity": 9, "practical_value": 8, "pace": 7}, attending=4)
    assert summary["averages"] == {"clarity": 4.5, "practical_value": 4.0, "pace": 3.5, "overall": 4.0}
    assert summary["response_rate"] == 0.5
    empty = domain.summarise({"count": 0, "clarity": 0, "practical_value": 0, "pace": 0}, attending=0)
    assert empty["response_rate"] is None and empty["averages"]["overall"] is None


# --- polls ----------------------------------------------------------------------------------

def test_a_poll_crosses_with_enough_yes_votes_and_a_quorum():
    # 100 admitted, quorum 50%, threshold 60% of the votes
    assert domain.poll_crossed(yes=30, no=20, eligible=100, threshold=0.6, quorum=0.5)
    assert not domain.poll_crossed(yes=29, no=20, eligible=100, threshold=0.6, quorum=0.5)  # no quorum
    assert not domain.poll_crossed(yes=29, no=21, eligible=100, threshold=0.6, quorum=0.5)  # 58% yes


def test_a_poll_without_admitted_students_or_votes_never_crosses():
    assert not domain.poll_crossed(0, 0, 0, 0.6, 0.0)
    assert not domain.poll_crossed(0, 0, 10, 0.6, 0.0)


def test_a_closed_poll_refuses_votes():
    poll = {"closes_at": at(minutes=10)}
    assert domain.vote_refusal(poll, at(minutes=9)) is None
    assert domain.vote_refusal(poll, at(minutes=10)) is not None


def test_the_follow_up_is_a_draft_linked_to_its_poll():
    poll = {"id": "poll1", "school_id": "jufe", "program_id": "p1",
            "followup": {"title": "Store operations II", "module": "ops", "form": "workshop",
                         "tracks": [], "instructor": {"id": "m1", "kind": "mentor", "name": ""}}}
    draft = domain.followup_session(poll, now=T0)
    assert draft["status"] == "draft" and draft["poll_id"] == "poll1"
    assert draft["id"] == "followup-poll1"  # one follow-up per poll, whatever the retries


# --- sessions -------------------------------------------------------------------------------

CALLER_ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k"}
CALLER_PARTNER = {"school_id": "jufe", "role": "partner", "partner_id": "xmall", "actor": "partner:k"}
PROGRAM = {"id": "p1", "tracks": ["undergraduate", "vocational"]}


def new_data(**extra):
    data = {k: v for k, v in session().items() if k not in ("id", "school_id", "program_id", "status")}
    return {**data, "replay_url": None, "partner_id": None, **extra}


def test_the_schools_session_is_scheduled_and_a_partners_is_proposed():
    assert domain.new_session(new_data(), program=PROGRAM, caller=CALLER_ADMIN, session_id="a", now=T0)["status"] == "scheduled"
    proposed = domain.new_session(new_data(), program=PROGRAM, caller=CALLER_PARTNER, session_id="b", now=T0)
    assert proposed["status"] == "proposed" and proposed["partner_id"] == "xmall"


def test_a_partner_cannot_propose_a_session_for_another_partner():
    with pytest.raises(InvalidInput):
        domain.new_session(new_data(partner_id="other"), program=PROGRAM, caller=CALLER_PARTNER,
                           session_id="b", now=T0)


def test_a_session_for_an_unknown_track_is_refused():
    with pytest.raises(InvalidInput):
        domain.new_session(new_data(tracks=["phd"]), program=PROGRAM, caller=CALLER_ADMIN, session_id="a", now=T0)


def test_a_reschedule_lists_the_changed_fields_and_keeps_the_session_consistent():
    s = session()
    changed, fields = domain.change_session(s, {"starts_at": at(minutes=60), "ends_at": at(minutes=150)},
                                            program=PROGRAM, now=T0)
    assert fields == ["ends_at", "starts_at"]
    with pytest.raises(InvalidInput):
        domain.change_session(s, {"ends_at": at(minutes=-5)}, program=PROGRAM, now=T0)


def test_a_draft_without_a_stream_link_cannot_be_approved_as_live_online():
    draft = session(status="draft", form="live_online", stream_url=None)
    with pytest.raises(InvalidInput):
        domain.review_session(draft, "approve", "", now=T0)
    assert domain.review_session(session(status="proposed"), "approve", "", now=T0)["status"] == "scheduled"


def test_a_status_from_the_meeting_platform_follows_later_records_but_never_lowers_a_sign_in():
    from_online = {"status": "present", "source": "online", "corrected": False}
    assert domain.online_update(from_online, "absent") == "absent"
    signed_in = {"status": "present", "source": "checkin", "corrected": False}
    assert domain.online_update(signed_in, "absent") is None
    assert domain.online_update(None, "absent") == "absent"


def test_programme_rules_override_the_defaults_when_the_programme_carries_them():
    rules = domain.attendance_rules({"attendance_rules": {"replay_threshold": 0.9}})
    assert rules["replay_threshold"] == 0.9 and rules["question_sla_hours"] == 24
    assert domain.attendance_rules(None) == domain.default_attendance_rules()


def test_the_demand_poll_after_a_session_proposes_a_follow_up_on_the_same_module():
    from services.content.domain import demand_poll
    now = datetime(2026, 4, 1, 18, tzinfo=timezone.utc)
    session = {"id": "s1", "school_id": "jufe", "program_id": "p1", "title": "Listings",
               "module": "store-ops", "form": "workshop", "tracks": ["undergraduate"],
               "instructor": {"id": "m1", "kind": "mentor"}}
    poll = demand_poll(session, now=now)
    assert poll["id"] == "demand-s1"  # one per session, however often the scan runs
    assert poll["followup"]["module"] == "store-ops" and poll["followup"]["tracks"] == ["undergraduate"]
    assert poll["closes_at"] == now + timedelta(days=7)


# --- check-in bound to the session's time ---------------------------------------------------

PARAMS = {"minutes": 240, "period_seconds": 30, "grace_seconds": 5}


def test_a_window_opens_at_the_earliest_the_programmes_lead_time_before_the_start():
    rules = {**RULES, "checkin_lead_minutes": 30}
    with pytest.raises(Conflict) as refused:
        domain.new_window(session(), PARAMS, window_id="w", secret=SECRET, now=at(minutes=-31), rules=rules)
    assert refused.value.errors == {"window": ["too_early"]}
    assert domain.new_window(session(), PARAMS, window_id="w", secret=SECRET, now=at(minutes=-30),
                             rules=rules)["opens_at"] == at(minutes=-30)


def test_a_window_closes_by_itself_at_the_sessions_end_and_none_opens_after_it():
    opened = domain.new_window(session(), PARAMS, window_id="w", secret=SECRET, now=at(minutes=60), rules=RULES)
    assert opened["closes_at"] == at(minutes=90)
    with pytest.raises(Conflict) as refused:
        domain.new_window(session(), PARAMS, window_id="w", secret=SECRET, now=at(minutes=90), rules=RULES)
    assert refused.value.errors == {"window": ["session_ended"]}


def test_a_sign_in_after_the_sessions_end_is_refused_even_inside_an_old_window():
    s = session(checkin=window(minutes=24 * 60))  # a window from before windows were bound to the session
    late = at(minutes=91)
    assert domain.signin_refusal(s, ADMITTED, code_at(s["checkin"], late), late) == "session_ended"


def test_a_poll_decides_once_at_its_close_and_a_poll_from_before_closing_times_stays_open():
    poll = {"closes_at": at(minutes=60), "state": "open", "reached": False}
    assert not domain.poll_decision_due(poll, at(minutes=59))
    assert domain.poll_decision_due(poll, at(minutes=60))
    assert not domain.poll_decision_due({**poll, "state": "decided"}, at(minutes=61))
    assert not domain.poll_decision_due({"closes_at": None, "reached": False}, at(minutes=61))
    assert not domain.poll_decision_due({"closes_at": at(), "reached": True}, at(minutes=61))  # reached before
