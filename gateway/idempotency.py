"""``Idempotency-Key`` on POST (Stripe's design).

The record ``(key owner, Idempotency-Key)`` is stored with a hash of the request
*before* the work (the unique ``_id`` serialises concurrent retries): a retry gets
the stored response again, a retry while the first is still running gets 409, the
same key with another body gets 422. A 5xx is not stored, so the client may retry;
a record left running by a gateway that died is taken over by a retry after a while.
The key also becomes the operation id passed to the service, so an RPC that runs
twice still has one effect.
"""
import hashlib
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Response, g, make_response, request
from flask_smorest import Blueprint
from pymongo.errors import DuplicateKeyError

from gateway.db import get_db
from gateway.errors import problem

HEADER = "Idempotency-Key"
# a request never runs this long (RPC deadlines are seconds): a record still
# running after it belongs to a gateway that died, and a retry may take it over
ABANDONED_AFTER = timedelta(minutes=2)
HEADER_DOC = {"in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "minLength": 1,
                                                                           "maxLength": 255},
              "description": "A retry with the same key returns the first answer instead of doing the work "
                             "again (409 while the first is still running, 422 with another body)."}


def _request_hash():
    return hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()


def idempotent(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if not key:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            return problem(422, "Unprocessable entity", f"{HEADER} must be 1-255 characters",
                           {HEADER: ["must be 1-255 characters"]})
        # per key and acting person: two students of one LMS never share an answer
        record_id = f"{g.caller['actor']}:{key}"
        g.caller["operation_id"] = hashlib.sha256(record_id.encode()).hexdigest()[:32]
        store = get_db().idempotency
        fingerprint = _request_hash()
        try:
            store.insert_one(_running(record_id, fingerprint, attempt=0))
        except DuplicateKeyError:
            record = store.find_one({"_id": record_id})
            if not _abandoned(record, fingerprint) or not _take_over(store, record):
                return _replay(record, fingerprint)
        try:
            response = view(*args, **kwargs)
        except Exception:
            store.delete_one({"_id": record_id})
            raise
        response = make_response(response)
        if response.status_code >= 500:
            store.delete_one({"_id": record_id})
        else:
            store.update_one({"_id": record_id}, {"$set": {
                "state": "done", "status": response.status_code, "body": response.get_data(as_text=True),
                "mimetype": response.mimetype, "location": response.headers.get("Location")}})
        return response
    return Blueprint.doc(parameters=[HEADER_DOC])(wrapper)  # documented on each operation


def _running(record_id, fingerprint, attempt):
    return {"_id": record_id, "hash": fingerprint, "state": "running", "attempt": attempt,
            "created_at": datetime.now(timezone.utc)}


def _abandoned(record, fingerprint):
    """Still 'running' long after any request could last: its gateway died mid-request."""
    if record is None or record["state"] != "running" or record["hash"] != fingerprint:
        return False
    started = record["created_at"]
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - started > ABANDONED_AFTER


def _take_over(store, record):
    """Claim an abandoned record (one retry wins: the replace is guarded by attempt)."""
    attempt = record.get("attempt", 0)
    claimed = store.replace_one({"_id": record["_id"], "attempt": attempt},
                                _running(record["_id"], record["hash"], attempt + 1))
    return claimed.matched_count == 1


def _replay(record, fingerprint):
    if record is None:  # expired between insert and read: treat as in flight
        return problem(409, "Conflict", "a request with this Idempotency-Key is being processed")
    if record["hash"] != fingerprint:
        return problem(422, "Unprocessable entity",
                       f"this {HEADER} was used with a different request",
                       {HEADER: ["was used with a different request"]})
    if record["state"] != "done":
        return problem(409, "Conflict", "a request with this Idempotency-Key is being processed",
                       headers={"Retry-After": "1"})
    response = Response(record["body"], status=record["status"], mimetype=record["mimetype"])
    if record.get("location"):
        response.headers["Location"] = record["location"]
    response.headers["Idempotent-Replayed"] = "true"
    return response

