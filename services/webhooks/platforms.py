"""The LMS platforms a school registered (LTI 1.3), owned by this service
(``lti_platforms`` in praxis_webhooks): the gateway reaches them by RPC, for its
admin routes and for the launches it validates.

nx-27017 traps kept in mind (README "Database notes"): documents are written whole
(insert or replace_one, which keep types), looked up by ``_id``.
"""
import hashlib
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from contracts.errors import Conflict, NotFound

FIELDS = ("name", "issuer", "client_id", "deployment_ids", "auth_login_url", "auth_token_url",
          "key_set_url", "auth_audience")


def platform_id(issuer, client_id):
    """One id per (issuer, client id): the same LMS registration cannot belong to
    two schools, and a launch finds its registration by ``_id``."""
    return hashlib.sha256(f"{issuer}\n{client_id}".encode()).hexdigest()[:32]


def create_platform(db, school_id, data, created_by):
    record = {field: data.get(field) for field in FIELDS}
    record.update(_id=platform_id(data["issuer"], data["client_id"]), school_id=school_id,
                  created_at=datetime.now(timezone.utc).isoformat(), created_by=created_by)
    try:
        db.lti_platforms.insert_one(record)
    except DuplicateKeyError:
        # never say which school has it
        raise Conflict("this issuer and client id are registered already",
                       {"client_id": ["is registered already for this issuer"]}) from None
    return record


def find_platform(db, pid):
    return db.lti_platforms.find_one({"_id": pid})


def school_platform(db, school_id, pid):
    """A platform of this school, else NotFound (another school's answers 404 too)."""
    record = find_platform(db, pid)
    if record is None or record["school_id"] != school_id:
        raise NotFound("no such platform")
    return record


def list_platforms(db, school_id):
    return list(db.lti_platforms.find({"school_id": school_id}).sort("created_at", 1))


def platforms_of_issuer(db, issuer):
    return list(db.lti_platforms.find({"issuer": issuer}).limit(2))


def update_platform(db, school_id, pid, changes):
    record = school_platform(db, school_id, pid)
    record.update({k: v for k, v in changes.items() if k in FIELDS and k not in ("issuer", "client_id")})
    db.lti_platforms.replace_one({"_id": pid}, record)
    return record


def delete_platform(db, school_id, pid):
    school_platform(db, school_id, pid)
    db.lti_platforms.delete_one({"_id": pid})


def public(record):
    """A registration as the gateway sees it (never a key)."""
    return {**{k: record.get(k) for k in FIELDS}, "id": record["_id"], "_id": record["_id"],
            "school_id": record["school_id"], "created_at": record.get("created_at")}
