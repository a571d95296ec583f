"""Enrollment rules as plain functions: no nameko, no mongoengine."""
from datetime import datetime, timezone
import uuid


def new_program(data, *, school_id, actor, program_id=None, now=None):
    """A programme record from validated ProgramCreateSchema data."""
    return {
        **data,
        "id": program_id or uuid.uuid4().hex,
        "school_id": school_id,
        "created_by": actor,
        "created_at": now or datetime.now(timezone.utc),
    }


def program_created_payload(program):
    return {
        "program_id": program["id"], "name": program["name"], "season": program["season"],
        "starts_on": program["starts_on"], "ends_on": program["ends_on"],
        "tracks": program["tracks"],
    }
