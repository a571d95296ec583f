"""The launch's own short-lived state (pylti1p3's nonces and state, ``lti_state``)
and the gateway's secret for signed cookies, in the gateway's database. The
registrations, keys and people are the webhooks service's (gateway/lti/registry.py).

nx-27017 traps kept in mind (README "Database notes"): documents are written whole
(insert or replace_one, which keep types), looked up by ``_id``, and times are
epoch numbers.
"""
import json
import secrets
import time
import uuid
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from gateway.db import get_db


def _db(db):
    return db if db is not None else get_db()


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
