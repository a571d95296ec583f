"""Supervision rules as plain functions."""
from contracts.supervision import FUNNEL_STAGES

# the attendance statuses that count a student as trained (they took part)
TRAINED_BY = ("present", "late", "watched_replay")


def new_funnel(school_id, payload, started_at):
    return {
        "program_id": payload["program_id"], "school_id": school_id,
        "name": payload["name"], "season": payload["season"],
        "tracks": [t["key"] for t in payload["tracks"]],
        "started_at": started_at,
    }


def count_stages(students):
    """Students per stage from their stage flags (each student counts once per
    stage reached, whatever happened afterwards)."""
    return {stage: sum(1 for s in students if s.get(stage)) for stage in FUNNEL_STAGES}


def with_stages(funnel, students):
    return {**funnel, "stages": count_stages(students)}
