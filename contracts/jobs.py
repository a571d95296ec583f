"""Jobs: long work (an import, a selection) runs in the owning service; the
gateway answers 202 with the job at once and ``GET /jobs/{id}`` follows it
(services.common.jobs). Consumers: the school's LMS and staff tools."""
from marshmallow import fields, validate

from contracts.base import Integer, StrictSchema

JOB_STATES = ("queued", "running", "succeeded", "failed")
IMPORT_FORMATS = ("csv", "jsonl")


class ReportLineSchema(StrictSchema):
    line = Integer(required=True, metadata={"description": "Line number in the posted file (the header is line 1)"})
    outcome = fields.String(required=True, validate=validate.OneOf(("imported", "unchanged", "duplicate", "rejected")),
                            metadata={"description": "imported; unchanged (the same line was imported before); "
                                                     "duplicate (the student already has another live application); "
                                                     "rejected (see reason)"})
    student_id = fields.String(allow_none=True)
    application_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class JobSchema(StrictSchema):
    id = fields.String(required=True, metadata={"description": "<service>-<hex>: follow it at /jobs/{id}"})
    kind = fields.String(required=True, validate=validate.OneOf(("selection", "application_import")))
    state = fields.String(required=True, validate=validate.OneOf(JOB_STATES))
    program_id = fields.String(allow_none=True)
    progress = fields.Dict(keys=fields.String(), values=Integer(), required=True,
                           metadata={"description": "Counts so far, e.g. total, done, accepted, rejected"})
    result = fields.Dict(allow_none=True, metadata={
        "description": "When succeeded: the selection's decisions, or the import's counts"})
    report = fields.List(fields.Nested(ReportLineSchema), required=True,
                         metadata={"description": "Per line of an import: what became of it"})
    error = fields.String(allow_none=True, metadata={"description": "Why the job failed"})
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)


class ImportStartSchema(StrictSchema):
    """What the gateway passes to the enrollment service: the posted file as text."""
    format = fields.String(required=True, validate=validate.OneOf(IMPORT_FORMATS))
    content = fields.String(required=True, validate=validate.Length(min=1, max=16 * 1024 * 1024))
