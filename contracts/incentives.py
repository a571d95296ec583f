"""Contracts of the incentives service: the append-only credit ledger, credit
rules per programme, manual adjustments, appeals, the credit exchange
catalogue and redemptions, enterprise rewards, leaderboards and badges; and the
events it publishes (for the LMS, which turns them into notices to students).

Amounts are integers of credits. A student has two balances per programme:
``spendable`` (the exchange spends it) and ``lifetime`` (leaderboards and badges;
spending never lowers it).
"""
from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import ID, MAX_OFFSET, DecisionSchema, Integer, StrictSchema, within_calendar
from contracts.enrollment import SLUG
from contracts.events import define

SOURCE = "incentives"

ENTRY_KINDS = ("reward", "penalty", "exchange", "refund", "enterprise_reward", "adjustment", "reversal")
CREDITS = validate.Range(min=-100_000, max=100_000)
STUDENT = dict(validate=validate.Length(min=1, max=128))
REASON = validate.Length(min=1, max=2000)

# The events a rule may name, with the payload fields a rule may match on.
# (Events of services not built yet are named by their contract once they exist.)
RULE_EVENTS = {
    "content:attendance.recorded.v1": ("status", "source"),
    "content:replay.watched.v1": (),
    "content:feedback.submitted.v1": (),
    "content:question.answered.v1": ("role", "within_sla"),
    "enrollment:student.admitted.v1": ("track", "promoted"),
    "enrollment:student.withdrawn.v1": ("track",),
    "enrollment:team.formed.v1": ("track",),
    "assessment:quiz.scored.v1": ("kind", "module"),
    "assessment:submission.graded.v1": ("assessment_kind", "module", "on_time", "late"),
    "assessment:deadline.missed.v1": ("assessment_kind", "module"),
    "assessment:competition_score.recorded.v1": ("assessment_kind", "module"),
    "assessment:grade.overridden.v1": ("assessment_kind", "module"),
    "supervision:student.idle.v1": (),
}
LEADERBOARD_MODES = ("full", "relative", "anonymous")
BADGE_CONDITIONS = ("all_sessions_attended", "first_answered_question", "lifetime_at_least", "top_share_of_track")


# --- rules -----------------------------------------------------------------------

class GuardSchema(StrictSchema):
    """Cheat guard: at most ``max_awards`` awards of the rule per student within ``window_minutes``."""
    max_awards = Integer(required=True, validate=validate.Range(min=1, max=10_000))
    window_minutes = Integer(required=True, validate=validate.Range(min=1, max=60 * 24 * 366))


class RuleSchema(StrictSchema):
    key = fields.String(required=True, validate=SLUG, metadata={"description": "e.g. 'present'"})
    event = fields.String(required=True, validate=validate.OneOf(sorted(RULE_EVENTS)),
                          metadata={"description": "source:type of the event, e.g. content:attendance.recorded.v1"})
    when = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict,
                       validate=validate.Length(max=10),
                       metadata={"description": "Payload fields the event must have, e.g. {'status': 'present'}"})
    min_score = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100),
                             metadata={"description": "For scored events (quiz, graded submission, competition "
                                                      "score, override): the least percent that counts"})
    amount = Integer(required=True, validate=CREDITS,
                            metadata={"description": "Credits given (positive) or taken (negative)"})
    max_per_day = Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                                 metadata={"description": "Cap: credits a student gets from this rule per day"})
    max_total = Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                               metadata={"description": "Cap: credits a student gets from this rule in the programme"})
    guard = fields.Nested(GuardSchema, load_default=None, allow_none=True)

    @validates_schema
    def _known_fields(self, data, **kwargs):
        allowed = RULE_EVENTS[data["event"]]
        unknown = sorted(set(data["when"]) - set(allowed))
        if unknown:
            raise ValidationError(f"{data['event']} cannot be matched on {', '.join(unknown)}"
                                  f" (allowed: {', '.join(allowed) or 'nothing'})", "when")


class RuleSetCreateSchema(StrictSchema):
    rules = fields.List(fields.Nested(RuleSchema), required=True, validate=validate.Length(max=100))
    max_per_day = Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                                 metadata={"description": "Cap: credits a student gets from all rules per day"})
    max_total = Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                               metadata={"description": "Cap: credits a student gets from all rules in the programme"})
    floor = Integer(load_default=0, validate=validate.Range(min=-100_000, max=100_000),
                           metadata={"description": "Penalties never take a spendable balance below it"})
    effective_from = fields.AwareDateTime(
        load_default=None, allow_none=True, validate=within_calendar,
        metadata={"description": "Events from then on use this version (default now)"})

    @validates_schema
    def _unique_keys(self, data, **kwargs):
        keys = [r["key"] for r in data["rules"]]
        if len(keys) != len(set(keys)):
            raise ValidationError("rule keys must be unique", "rules")


class RuleSetSchema(RuleSetCreateSchema):
    program_id = fields.String(required=True)
    version = Integer(required=True, metadata={"description": "0: the defaults, before any change"})
    effective_from = fields.AwareDateTime(allow_none=True)
    created_by = fields.String(allow_none=True)


class RecomputeLineSchema(StrictSchema):
    student_id = fields.String(required=True)
    by_rules_now = Integer(required=True, metadata={"description": "What the rules gave so far"})
    by_rules_would_be = Integer(required=True,
                                       metadata={"description": "Had this version applied from the start"})
    difference = Integer(required=True)
    spendable_now = Integer(required=True)
    spendable_would_be = Integer(required=True)


class RecomputeSchema(StrictSchema):
    program_id = fields.String(required=True)
    version = Integer(required=True)
    applied = fields.Boolean(required=True, metadata={"description": "False for a preview"})
    lines = fields.List(fields.Nested(RecomputeLineSchema), required=True)


# --- the ledger --------------------------------------------------------------------

class EntrySchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ENTRY_KINDS))
    amount = Integer(required=True, metadata={"description": "Change of the spendable balance (as applied)"})
    lifetime_delta = Integer(required=True, metadata={"description": "Change of the lifetime balance"})
    requested = Integer(required=True, metadata={"description": "What the rule or person asked for"})
    not_applied = Integer(required=True, metadata={"description": "What the floor or a cap kept back"})
    not_applied_reason = fields.String(allow_none=True)
    rule = fields.String(allow_none=True)
    rule_version = Integer(allow_none=True)
    caused_by = fields.String(allow_none=True, metadata={"description": "The person or key, for manual entries"})
    source_event_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    reverses = fields.String(allow_none=True, metadata={"description": "The entry a reversal corrects"})
    reason = fields.String(required=True)
    at = fields.AwareDateTime(required=True)


class BalanceSchema(StrictSchema):
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    track = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    spendable = Integer(required=True)
    lifetime = Integer(required=True)


class LedgerSchema(StrictSchema):
    balances = fields.List(fields.Nested(BalanceSchema), required=True)
    entries = fields.List(fields.Nested(EntrySchema), required=True)


class LedgerQuerySchema(StrictSchema):
    program_id = fields.String(**ID)
    limit = Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    offset = Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class AdjustmentCreateSchema(StrictSchema):
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, **STUDENT)
    amount = Integer(required=True, validate=[CREDITS, validate.NoneOf([0], error="must not be 0")])
    reason = fields.String(required=True, validate=REASON)


class ReversalCreateSchema(StrictSchema):
    reason = fields.String(required=True, validate=REASON)


# --- appeals -----------------------------------------------------------------------

class AppealCreateSchema(StrictSchema):
    reason = fields.String(required=True, validate=REASON)


class AppealDecisionSchema(DecisionSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["accept", "reject"]))


class AppealSchema(StrictSchema):
    id = fields.String(required=True, metadata={"description": "The appealed entry's id (one appeal per entry)"})
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    student_id = fields.String(required=True)
    entry_id = fields.String(required=True)
    reason = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "accepted", "rejected"]))
    decided_by = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    reversal_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    decided_at = fields.AwareDateTime(allow_none=True)


# --- the credit exchange -------------------------------------------------------------

class CatalogueItemCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": "e.g. '1 academic credit hour'"})
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    price = Integer(required=True, validate=validate.Range(min=1, max=100_000))
    stock = Integer(required=True, validate=validate.Range(min=0, max=1_000_000))
    per_student_limit = Integer(load_default=1, validate=validate.Range(min=1, max=1000))


class CatalogueItemSchema(CatalogueItemCreateSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    stock = Integer(required=True, metadata={"description": "Left to redeem now"})
    sold = Integer(required=True)
    created_at = fields.AwareDateTime(required=True)


class RedemptionCreateSchema(StrictSchema):
    item_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True, **STUDENT)


class RedemptionCancelSchema(StrictSchema):
    reason = fields.String(required=True, validate=REASON)


class RedemptionSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    item_id = fields.String(required=True)
    student_id = fields.String(required=True)
    price = Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["made", "cancelled"]))
    entry_id = fields.String(required=True)
    refund_entry_id = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)


# --- enterprise rewards --------------------------------------------------------------

class EnterpriseRewardCreateSchema(StrictSchema):
    amount = Integer(required=True, validate=validate.Range(min=1, max=100_000),
                            metadata={"description": "Credits shared among the team's members"})
    money = fields.String(load_default=None, allow_none=True,
                          validate=validate.Regexp(r"^\d{1,12}(\.\d{1,2})?$", error="an amount such as 1500.00"),
                          metadata={"description": "Money shared with the team, recorded as data (e.g. '1500.00')"})
    currency = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Z]{3}$"),
                             metadata={"description": "ISO 4217 code of money", "example": "CNY"})
    split = fields.String(load_default="equal", validate=validate.OneOf(["equal", "shares"]))
    shares = fields.Dict(keys=fields.String(**STUDENT),
                         values=Integer(validate=validate.Range(min=0, max=1_000_000)),
                         load_default=None, allow_none=True, validate=validate.Length(max=100),
                         metadata={"description": "split=shares: weight per member (any positive integers)"})
    innovation = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                               metadata={"description": "What the enterprise adopted"})

    @validates_schema
    def _shares(self, data, **kwargs):
        if data["split"] == "shares":
            if not data.get("shares") or not sum(data["shares"].values()):
                raise ValidationError("give each member's share (weights, not all 0)", "shares")
        elif data.get("shares"):
            raise ValidationError("only with split=shares", "shares")


class EnterpriseRewardSchema(StrictSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    team_id = fields.String(required=True)
    partner_id = fields.String(allow_none=True)
    amount = Integer(required=True)
    money = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    split = fields.String(required=True)
    innovation = fields.String(required=True)
    allocation = fields.Dict(keys=fields.String(), values=Integer(), required=True,
                             metadata={"description": "Credits per member; they add up to amount (largest remainder)"})
    created_at = fields.AwareDateTime(required=True)


# --- leaderboards --------------------------------------------------------------------

class LeaderboardSettingsSchema(StrictSchema):
    mode = fields.String(load_default="anonymous", validate=validate.OneOf(LEADERBOARD_MODES),
                         metadata={"description": "anonymous (the default: students see no name but their "
                                                  "own; staff see names); full; relative (a student sees the "
                                                  "neighbours around their rank)"})
    neighbours = Integer(load_default=3, validate=validate.Range(min=0, max=100))
    team_score = fields.String(load_default="sum", validate=validate.OneOf(["sum", "mean"]))


class LeaderboardQuerySchema(StrictSchema):
    scope = fields.String(load_default="program", validate=validate.OneOf(["program", "track", "team"]))
    track = fields.String(validate=SLUG)
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class LeaderboardRowSchema(StrictSchema):
    rank = Integer(required=True)
    name = fields.String(allow_none=True, metadata={"description": "Student or team id; null when hidden"})
    score = fields.Float(required=True)
    you = fields.Boolean(required=True)


class LeaderboardSchema(StrictSchema):
    program_id = fields.String(required=True)
    scope = fields.String(required=True)
    track = fields.String(allow_none=True)
    mode = fields.String(required=True)
    rows = fields.List(fields.Nested(LeaderboardRowSchema), required=True)


class LeaderboardPreferenceSchema(StrictSchema):
    program_id = fields.String(required=True, **ID)
    opt_out = fields.Boolean(required=True, metadata={"description": "Do not show my name on leaderboards"})


# --- badges --------------------------------------------------------------------------

class BadgeConditionSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(BADGE_CONDITIONS))
    at_least = Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    share = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0.001, max=1))

    @validates_schema
    def _parameters(self, data, **kwargs):
        if data["kind"] == "lifetime_at_least" and not data.get("at_least"):
            raise ValidationError("how many lifetime credits", "at_least")
        if data["kind"] == "top_share_of_track" and not data.get("share"):
            raise ValidationError("which share, e.g. 0.1 for the top 10%", "share")


class BadgeClassCreateSchema(StrictSchema):
    key = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    criteria = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                             metadata={"description": "What a student did to earn it (narrative)"})
    condition = fields.Nested(BadgeConditionSchema, required=True)


class BadgeClassSchema(BadgeClassCreateSchema):
    id = fields.String(required=True)
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class BadgeAwardSchema(StrictSchema):
    id = fields.String(required=True, metadata={"description": "The assertion id"})
    school_id = fields.String(required=True)
    program_id = fields.String(required=True)
    badge_id = fields.String(required=True)
    badge_key = fields.String(required=True)
    student_id = fields.String(required=True)
    issued_at = fields.AwareDateTime(required=True)
    assertion_url = fields.String(required=True, metadata={"description": "Open Badges 2.0 hosted assertion"})
    credential_url = fields.String(required=True, metadata={"description": "Open Badges 3.0 credential (VC-JWT)"})


class BadgeEvaluationSchema(StrictSchema):
    awarded = fields.List(fields.Nested(BadgeAwardSchema), required=True)


# --- events ------------------------------------------------------------------------

class _EntryPayload(StrictSchema):
    entry_id = fields.String(required=True, validate=validate.Length(min=1, max=300))
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ENTRY_KINDS))
    amount = Integer(required=True)
    not_applied = Integer(required=True)
    reason = fields.String(required=True)
    rule = fields.String(load_default=None, allow_none=True)
    spendable = Integer(required=True, metadata={"description": "The balance after the entry"})


class CreditsReversedPayload(_EntryPayload):
    reverses = fields.String(required=True)


class AppealDecidedPayload(StrictSchema):
    appeal_id = fields.String(required=True)
    entry_id = fields.String(required=True)
    program_id = fields.String(required=True, **ID)
    student_id = fields.String(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(["accepted", "rejected"]))
    reason = fields.String(required=True)


class RedemptionPayload(StrictSchema):
    redemption_id = fields.String(required=True)
    program_id = fields.String(required=True, **ID)
    item_id = fields.String(required=True)
    item_name = fields.String(required=True)
    student_id = fields.String(required=True)
    price = Integer(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class EnterpriseRewardGrantedPayload(StrictSchema):
    reward_id = fields.String(required=True)
    program_id = fields.String(required=True, **ID)
    team_id = fields.String(required=True)
    partner_id = fields.String(load_default=None, allow_none=True)
    amount = Integer(required=True)
    allocation = fields.Dict(keys=fields.String(), values=Integer(), required=True)
    innovation = fields.String(required=True)


class BadgeAwardedPayload(StrictSchema):
    assertion_id = fields.String(required=True)
    program_id = fields.String(required=True, **ID)
    badge_id = fields.String(required=True)
    badge_key = fields.String(required=True)
    student_id = fields.String(required=True)
    assertion_url = fields.String(required=True)


CREDITS_AWARDED = define(
    SOURCE, "credits.awarded", 1, _EntryPayload,
    "Credits were added to a student's ledger (a rule, a manual adjustment, a refund or an "
    "enterprise reward). Key: entry_id. For the LMS (notice to the student, with the reason) and "
    "supervision (each student's credits in the programme report).")
CREDITS_DEDUCTED = define(
    SOURCE, "credits.deducted", 1, _EntryPayload,
    "Credits were taken (a penalty, a negative adjustment); not_applied is what the programme's "
    "floor kept back. Key: entry_id. For the LMS (notice to the student with the reason: they may appeal) "
    "and supervision (the report's credits).")
CREDITS_REVERSED = define(
    SOURCE, "credits.reversed", 1, CreditsReversedPayload,
    "An entry was corrected by a reversal entry (staff, an accepted appeal, or a corrected "
    "source event such as attendance). Key: entry_id (of the reversal). For the LMS and supervision "
    "(the report's credits).")
APPEAL_DECIDED = define(
    SOURCE, "appeal.decided", 1, AppealDecidedPayload,
    "Staff accepted (the entry is reversed) or rejected a student's appeal, with the reason. "
    "Key: appeal_id. For the LMS (notice to the student).")
REDEMPTION_MADE = define(
    SOURCE, "redemption.made", 1, RedemptionPayload,
    "A student exchanged credits for a catalogue item. Key: redemption_id. For the LMS and "
    "the school office (e.g. record the academic credit hour).")
REDEMPTION_CANCELLED = define(
    SOURCE, "redemption.cancelled", 1, RedemptionPayload,
    "Staff cancelled a redemption: the credits were refunded and the item went back to stock. "
    "Key: redemption_id. For the LMS.")
ENTERPRISE_REWARD_GRANTED = define(
    SOURCE, "enterprise_reward.granted", 1, EnterpriseRewardGrantedPayload,
    "A partner adopted a team's innovation; the credits were shared among its members "
    "(largest remainder). Key: reward_id. For the LMS and supervision.")
BADGE_AWARDED = define(
    SOURCE, "badge.awarded", 1, BadgeAwardedPayload,
    "A student earned a badge; the Open Badges assertion is served at assertion_url. "
    "Key: assertion_id. For the LMS (the student's profile).")
