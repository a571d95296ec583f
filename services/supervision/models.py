"""Documents of the supervision service (database praxis_supervision)."""
import mongoengine as me

ALIAS = "supervision"


class ProgramFunnelDoc(me.Document):
    """One programme's funnel; ``_id`` is the programme id, so the record a
    redelivered program.created makes is the same record."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    name = me.StringField(required=True)
    season = me.StringField(required=True)
    tracks = me.ListField(me.StringField())
    started_at = me.DateTimeField(required=True)

    meta = {"db_alias": ALIAS, "collection": "program_funnels", "indexes": ["school_id"]}


class StudentStagesDoc(me.Document):
    """How far one student of one programme got (``_id`` = "<program>:<student>"):
    a flag per funnel stage reached. Setting a flag again changes nothing, so
    counting flags is exact however often an event is delivered."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    program_id = me.StringField(required=True)
    student_id = me.StringField(required=True)

    meta = {"db_alias": ALIAS, "collection": "student_stages", "indexes": ["program_id"],
            "strict": False}


DOCUMENTS = [ProgramFunnelDoc, StudentStagesDoc]
