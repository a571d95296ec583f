"""Supervision rules as plain functions."""
from contracts.supervision import FUNNEL_STAGES


def new_funnel(school_id, payload, started_at):
    return {
        "program_id": payload["program_id"], "school_id": school_id,
        "name": payload["name"], "season": payload["season"],
        "tracks": [t["key"] for t in payload["tracks"]],
        "stages": {stage: 0 for stage in FUNNEL_STAGES},
        "started_at": started_at,
    }
