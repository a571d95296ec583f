"""Storage of programmes behind a small interface (a fake lives in tests/unit)."""
from mongoengine import NotUniqueError

from services.enrollment.models import ProgramDoc

PROGRAM_FIELDS = [f for f in ProgramDoc._fields if f != "pending_events"]


def _as_dict(doc):
    return {f: getattr(doc, f) for f in PROGRAM_FIELDS}


class ProgramRepository:

    def add(self, program, events=()):
        """Store the programme and the events it owes in one write. A second add
        with the same id (a retried operation) returns the stored one unchanged."""
        try:
            ProgramDoc(**program, pending_events=list(events)).save(force_insert=True)
        except NotUniqueError:
            pass
        return self.get(program["school_id"], program["id"])

    def get(self, school_id, program_id):
        doc = ProgramDoc.objects(id=program_id, school_id=school_id).first()
        return _as_dict(doc) if doc else None

    def list(self, school_id, season=None, limit=50, offset=0):
        query = ProgramDoc.objects(school_id=school_id)
        if season:
            query = query.filter(season=season)
        return [_as_dict(d) for d in query.order_by("-created_at").skip(offset).limit(limit)]
