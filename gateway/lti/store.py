"""Platform registrations and launch state in the gateway's database.

nx-27017 traps kept in mind (README "Database notes"): documents are written whole
(insert or replace_one, which keep types), looked up by ``_id``, and times are
epoch numbers.
"""
import hashlib
import json
import secrets
import time
import uuid
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from contracts.errors import Conflict, NotFound
from gateway.db import get_db

FIELDS = ("name", "issuer", "client_id", "deployment_ids", "auth_login_url", "auth_token_url",
          "key_set_url", "auth_audience")


def platform_id(issuer, client_id):
    """One id per (issuer, client id): the same LMS registration cannot belong to
    two schools, and a launch finds its registration by ``_id``."""
    return hashlib.sha256(f"{issuer}\n{client_id}".encode()).hexdigest()[:32]


def _db(db):
    return db if db is not None else get_db()


def create_platform(school_id, data, created_by, db=None):
    record = {field: data.get(field) for field in FIELDS}
    record.update(_id=platform_id(data["issuer"], data["client_id"]), school_id=school_id,
                  created_at=datetime.now(timezone.utc).isoformat(), created_by=created_by)
    try:
        _db(db).lti_platforms.insert_one(record)
    except DuplicateKeyError:
        # never say which school has it
        raise Conflict("this issuer and client id are registered already",
                       {"client_id": ["is registered already for this issuer"]}) from None
    return record


def find_platform(pid, db=None):
    return _db(db).lti_platforms.find_one({"_id": pid})


def school_platform(school_id, pid, db=None):
    """A platform of this school, else NotFound (another school's answers 404 too)."""
    record = find_platform(pid, db)
    if record is None or record["school_id"] != school_id:
        raise NotFound("no such platform")
    return record


def list_platforms(school_id, db=None):
    return list(_db(db).lti_platforms.find({"school_id": school_id}).sort("created_at", 1))


def platforms_of_issuer(issuer, db=None):
    return list(_db(db).lti_platforms.find({"issuer": issuer}).limit(2))


def update_platform(school_id, pid, changes, db=None):
    record = school_platform(school_id, pid, db)
    record.update({k: v for k, v in changes.items() if k in FIELDS and k not in ("issuer", "client_id")})
    _db(db).lti_platforms.replace_one({"_id": pid}, record)
    return record


def delete_platform(school_id, pid, db=None):
    school_platform(school_id, pid, db)
    _db(db).lti_platforms.delete_one({"_id": pid})


# --- short-lived launch state (pylti1p3's launch data storage) ----------------

def put_state(key, value, lifetime, db=None):
    now = time.time()
    _db(db).lti_state.replace_one(
        {"_id": key},
        {"_id": key, "value": json.dumps(value), "expires_ts": now + (lifetime or 3600),
         "created_at": datetime.now(timezone.utc)},
        upsert=True)


def get_state(key, db=None):
    record = _db(db).lti_state.find_one({"_id": key})
    if record is None or record["expires_ts"] < time.time():
        return None
    return json.loads(record["value"])


def take_state(key, db=None):
    """Remove a value and say whether it was there (and alive): the one caller that
    removes it wins, so a nonce is good for one launch only."""
    record = _db(db).lti_state.find_one_and_delete({"_id": key})
    return record is not None and record["expires_ts"] >= time.time()


# --- the gateway's own secret for signed cookies ------------------------------

def shared_secret(name, db=None):
    """A random secret made once and shared by every gateway worker."""
    db = _db(db)
    try:
        db.lti_secrets.insert_one({"_id": name, "value": secrets.token_urlsafe(48)})
    except DuplicateKeyError:
        pass
    return db.lti_secrets.find_one({"_id": name})["value"]


def new_id():
    return uuid.uuid4().hex
