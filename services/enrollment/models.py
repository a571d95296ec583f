"""Documents of the enrollment service (database praxis_enrollment)."""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "enrollment"


class ProgramDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    name = me.StringField(required=True)
    season = me.StringField(required=True)
    description = me.StringField(default="")
    starts_on = me.DateField(required=True)
    ends_on = me.DateField(required=True)
    team_lock_date = me.DateField(null=True)
    tracks = me.ListField(me.DictField(), required=True)
    team_size = me.DictField()
    selection_rules = me.DictField()
    attendance_rules = me.DictField()
    credit_rules = me.DictField()
    created_by = me.StringField(required=True)
    created_at = me.DateTimeField(required=True)

    meta = {
        "db_alias": ALIAS,
        "collection": "programs",
        "indexes": [("school_id", "season"), ("school_id", "created_at")],
    }


DOCUMENTS = [ProgramDoc]
