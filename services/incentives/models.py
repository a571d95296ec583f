"""Documents of the incentives service (database praxis_incentives).

The repository reads and writes them as plain dicts through pymongo; the classes
name the collections, declare the indexes and mark which documents carry pending
events (OutboxDocument). Natural keys are ``_id``s: an account is
``f"{program_id}:{student_id}"``, a rule-made entry
``f"{event_id}:{rule}:{student_id}"``, a reversal ``f"reversal:{entry_id}"``, an
appeal the appealed entry's id.
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "incentives"
_META = {"db_alias": ALIAS, "strict": False}


def _meta(collection, *indexes):
    return {**_META, "collection": collection, "indexes": list(indexes)}


# (class names are unique across services: mongoengine's registry is keyed by class name,
# and a disconnect resets only the registered class's cached collection)
class IncentivesProgram(me.Document):
    """_id: program id. Tracks (program.created), partners working with it
    (mentor.assigned, session.scheduled), sessions (session.scheduled), the
    leaderboard settings (staff)."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    meta = _meta("programs", "school_id")


class IncentivesTeam(me.Document):
    """_id: team id. Members (team.formed / team.changed)."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    meta = _meta("teams", "program_id")


class RuleSetDoc(me.Document):
    """_id: f"{program_id}:{version}". Never changed once stored."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    meta = _meta("rule_sets", "program_id")


class FactDoc(me.Document):
    """_id: event id. What an event said about students, for recompute previews."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    meta = _meta("facts", "program_id")


class AccountDoc(OutboxDocument):
    """_id: f"{program_id}:{student_id}". The balances (projection of the ledger),
    rule usage for caps, the standing entries per subject, and the entries and
    events of the last change until they are copied out (``pending_entries``)."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    student_id = me.StringField()
    entries_pending = me.IntField(null=True)
    meta = _meta("accounts", ("program_id", "student_id"), ("school_id", "student_id"), "entries_pending")


class EntryDoc(me.Document):
    """The ledger: entries are inserted once and never changed or deleted."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    student_id = me.StringField()
    at_ts = me.FloatField()
    meta = _meta("entries", ("school_id", "student_id", "at_ts"), ("program_id", "student_id"))


class AppealDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    created_at = me.DateTimeField()
    meta = _meta("appeals", ("school_id", "program_id", "created_at"))


class ItemDoc(me.Document):
    """A catalogue item: ``stock`` left, ``holds`` (redemptions reserving a unit,
    ``"<redemption id>@<epoch s>"``) and ``holding`` (how many, for the sweep)."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    holding = me.IntField()
    meta = _meta("items", ("school_id", "program_id"), "holding")


class RedemptionDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    student_id = me.StringField()
    meta = _meta("redemptions", ("school_id", "student_id"))


class RewardDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    team_id = me.StringField()
    meta = _meta("enterprise_rewards", "team_id")


class BadgeClassDoc(me.Document):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    meta = _meta("badge_classes", ("school_id", "program_id"))


class BadgeAwardDoc(OutboxDocument):
    """_id: the assertion id (a hash of badge class and student: awarded once)."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    student_id = me.StringField()
    program_id = me.StringField()
    meta = _meta("badge_awards", ("school_id", "student_id"), "program_id")


class SigningKeyDoc(me.Document):
    """_id: school id. The school's badge signing key (RSA; the public part is
    published as a JWKS by the gateway)."""
    id = me.StringField(primary_key=True)
    meta = _meta("signing_keys")


OUTBOX_DOCUMENTS = [AccountDoc, AppealDoc, RedemptionDoc, RewardDoc, BadgeAwardDoc]
DOCUMENTS = [IncentivesProgram, IncentivesTeam, RuleSetDoc, FactDoc, AccountDoc, EntryDoc, AppealDoc,
             ItemDoc, RedemptionDoc, RewardDoc, BadgeClassDoc, BadgeAwardDoc, SigningKeyDoc]
