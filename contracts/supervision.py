"""Contracts of the supervision service: the programme funnel (and, as they
come, telemetry, idle accounts and alerts)."""
from marshmallow import fields

from contracts.base import StrictSchema

FUNNEL_STAGES = ("registered", "admitted", "trained", "active", "submitting", "finished")


class FunnelSchema(StrictSchema):
    program_id = fields.String(required=True)
    school_id = fields.String(required=True)
    name = fields.String(required=True)
    season = fields.String(required=True)
    tracks = fields.List(fields.String(), required=True)
    stages = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "Students who ever reached each stage: "
                                                  + ", ".join(FUNNEL_STAGES)
                                                  + " (trained: took part in a session, live or by replay)"})
    started_at = fields.AwareDateTime(required=True)
