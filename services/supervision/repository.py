"""Storage of supervision records (a fake lives in tests/unit)."""
from contracts.supervision import FUNNEL_STAGES
from services.supervision.models import ProgramFunnelDoc, StudentStagesDoc


class FunnelRepository:

    def start(self, funnel):
        """Create the funnel unless it exists (idempotent: an upsert keyed by
        the programme id)."""
        fields = {k: v for k, v in funnel.items() if k != "program_id"}
        ProgramFunnelDoc._get_collection().update_one(
            {"_id": funnel["program_id"]}, {"$setOnInsert": fields}, upsert=True)

    def get(self, school_id, program_id):
        doc = ProgramFunnelDoc.objects(id=program_id, school_id=school_id).first()
        if doc is None:
            return None
        return {"program_id": doc.id, **{f: getattr(doc, f) for f in
                ("school_id", "name", "season", "tracks", "started_at")}}

    def reach(self, school_id, program_id, student_id, stage):
        """Flag that the student reached ``stage`` (idempotent: by ``_id``)."""
        if stage not in FUNNEL_STAGES:
            raise ValueError(f"unknown funnel stage {stage}")
        StudentStagesDoc._get_collection().update_one(
            {"_id": f"{program_id}:{student_id}"},
            {"$set": {stage: True},
             "$setOnInsert": {"school_id": school_id, "program_id": program_id, "student_id": student_id}},
            upsert=True)

    def students(self, program_id):
        """Each student's stage flags (a programme has hundreds, not millions)."""
        return list(StudentStagesDoc._get_collection().find(
            {"program_id": program_id}, {stage: 1 for stage in FUNNEL_STAGES}))
