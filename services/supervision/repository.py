"""Storage of supervision records (a fake lives in tests/unit)."""
from services.supervision.models import ProgramFunnelDoc


class FunnelRepository:

    def start(self, funnel):
        """Create the funnel unless it exists (idempotent: an upsert keyed by
        the programme id that never overwrites counts already kept)."""
        fields = {k: v for k, v in funnel.items() if k != "program_id"}
        ProgramFunnelDoc._get_collection().update_one(
            {"_id": funnel["program_id"]}, {"$setOnInsert": fields}, upsert=True)

    def get(self, school_id, program_id):
        doc = ProgramFunnelDoc.objects(id=program_id, school_id=school_id).first()
        if doc is None:
            return None
        return {"program_id": doc.id, **{f: getattr(doc, f) for f in
                ("school_id", "name", "season", "tracks", "stages", "started_at")}}
