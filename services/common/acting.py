"""Who acts: the API key, and the person it acts for.

The gateway verifies both and passes them to every RPC in the ``caller`` dict:

``key_id``, ``school_id``, ``role`` (``admin``, ``lms`` or ``partner``), ``partner_id``,
``acting``: ``{"kind": "student" | "staff" | None, "id": <person id> | None}``
    The LMS acts for a student or a member of staff (``X-Acting-User``). An admin or
    partner key acts as itself (``kind`` None) or names a person of its own
    organisation (``staff:<id>``: a partner's mentor or instructor); never a student.
``actor``: the audit string written into events (``lms:<key id>/student:s1``).

Services decide with these plain functions, never by parsing ``actor``.
"""
from contracts.errors import Forbidden

STUDENT, STAFF = "student", "staff"


def acting(caller):
    return caller.get("acting") or {"kind": None, "id": None}


def acting_student(caller):
    """The student the call acts for (LMS acting ``student:<id>``), else None."""
    person = acting(caller)
    return person["id"] if caller.get("role") == "lms" and person["kind"] == STUDENT else None


def is_student(caller):
    return acting_student(caller) is not None


def is_staff(caller):
    """School staff: an admin key, or the LMS acting for a member of staff."""
    return caller.get("role") == "admin" or (
        caller.get("role") == "lms" and acting(caller)["kind"] == STAFF)


def named_staff(caller):
    """The person of staff named by the call (``staff:<id>``), else None."""
    person = acting(caller)
    return person["id"] if person["kind"] == STAFF else None


def ensure_self(caller, student_id):
    """A student acts only on their own records: refuse another student's id."""
    own = acting_student(caller)
    if own is not None and student_id != own:
        raise Forbidden("a student may act only on their own records",
                        {"student_id": ["is not the acting student"]})


def audit(caller):
    """What an audit field (``created_by``, ``submitted_by``, ...) records: the key and
    the person separately, both taken from the verified caller, never from a body."""
    person = acting(caller)
    return {"key_id": caller.get("key_id"), "role": caller.get("role"),
            "person": f"{person['kind']}:{person['id']}" if person["kind"] else None}


def ensure_not_student(caller, what="this"):
    """Staff things (roll call, check-in windows and codes, ...) are never a student's."""
    if is_student(caller):
        raise Forbidden(f"a student may not do {what}", {"X-Acting-User": ["a student may not do this"]})


def key_of(caller):
    """The key that acted, as an audit field records it: ``<role>:<key id>``
    (a system step without a key keeps its own name, e.g. ``content:poll``)."""
    if caller.get("key_id"):
        return f"{caller['role']}:{caller['key_id']}"
    return caller.get("actor")


def stamp(caller, field):
    """The audit fields of one act: ``{field: <role>:<key id>, field_person: <kind>:<id> | None}``,
    both from the verified caller (never from a body or a header other than the key's)."""
    return {field: key_of(caller), f"{field}_person": audit(caller)["person"]}


def redact_for(caller, record, **hidden):
    """A record as the caller may see it: a student gets ``hidden`` fields blanked."""
    return {**record, **hidden} if is_student(caller) else record
