"""``Idempotency-Key`` on POST (Stripe's design).

The record ``(key owner, Idempotency-Key)`` is stored with a hash of the request
*before* the work (the unique ``_id`` serialises concurrent retries): a retry gets
the stored response again, a retry while the first is still running gets 409, the
same key with another body gets 422. A 5xx is not stored, so the client may retry.
The key also becomes the operation id passed to the service, so an RPC that runs
twice still has one effect.

No key stays stuck: a running record holds a short lease (``lease_ts``, epoch
seconds) that a heartbeat renews while its request runs. A failed request
releases its record at once (and, when the database is away just then, again in
the background until it can); a record whose gateway worker died stops being
renewed, and a retry takes it over as soon as its lease has run out.
"""
import hashlib
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Response, g, make_response, request
from flask_smorest import Blueprint
from pymongo.errors import DuplicateKeyError, PyMongoError

from gateway.db import get_db
from gateway.errors import problem

log = logging.getLogger("praxis.gateway.idempotency")

HEADER = "Idempotency-Key"
LEASE_SECONDS = 5.0  # a running record not renewed for this long belongs to a dead worker
# records written before leases existed: taken over after this
ABANDONED_AFTER = timedelta(minutes=2)
HEADER_DOC = {"in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "minLength": 1,
                                                                           "maxLength": 255},
              "description": "A retry with the same key returns the first answer instead of doing the work "
                             "again (409 while the first is still running, 422 with another body)."}
RELEASE_RETRIES = (0.5, 1, 2, 4, 8, 15)  # a failed request's record, while the database is away


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
        record, found = _claim(store, record_id, fingerprint)
        if record is None:
            return _replay(found, fingerprint)
        lease = _Lease(store, record)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            lease.stop()
            _release(store, record)
            raise
        lease.stop()
        if response.status_code >= 500:
            _release(store, record)
            return response
        try:
            store.update_one({"_id": record_id, "attempt": record["attempt"]}, {"$set": {
                "state": "done", "status": response.status_code, "body": response.get_data(as_text=True),
                "mimetype": response.mimetype, "location": response.headers.get("Location")}})
        except PyMongoError:
            # the work is done; a retry takes the record over when its lease runs out and
            # asks the service again with the same operation id (one effect)
            log.warning("could not store an idempotent response; a retry will redo the call",
                        extra={"record_id": record_id}, exc_info=True)
        return response
    return Blueprint.doc(parameters=[HEADER_DOC])(wrapper)  # documented on each operation


def _claim(store, record_id, fingerprint):
    """``(record, None)`` when this request may run, else ``(None, the record found)``."""
    for _ in range(2):
        record = _running(record_id, fingerprint, attempt=0)
        try:
            store.insert_one(record)
            return record, None
        except DuplicateKeyError:
            found = store.find_one({"_id": record_id})
        if found is not None:  # else: released meanwhile (its request failed): claim it again
            return (_take_over(store, found) if _abandoned(found, fingerprint) else None), found
    return None, None


class _Lease:
    """Renews a running record's lease while its request runs."""

    def __init__(self, store, record):
        self._store, self._record = store, record
        self._stopped = threading.Event()
        threading.Thread(target=self._renew, daemon=True, name="idempotency lease").start()

    def _renew(self):
        while not self._stopped.wait(LEASE_SECONDS / 3):
            try:
                self._store.update_one({"_id": self._record["_id"], "attempt": self._record["attempt"]},
                                       {"$set": {"lease_ts": time.time() + LEASE_SECONDS}})
            except PyMongoError:
                pass  # the database is away: the lease runs out, a retry may take over

    def stop(self):
        self._stopped.set()


def _release(store, record):
    """Delete a failed request's record now, or (database away) in the background."""
    def delete():
        store.delete_one({"_id": record["_id"], "attempt": record["attempt"]})
    try:
        delete()
    except PyMongoError:
        threading.Thread(target=_release_later, args=(delete, record["_id"]), daemon=True).start()


def _release_later(delete, record_id):
    for delay in RELEASE_RETRIES:
        time.sleep(delay)
        try:
            return delete()
        except PyMongoError:
            continue
    log.warning("could not release an idempotency record; its lease runs out instead",
                extra={"record_id": record_id})


def _running(record_id, fingerprint, attempt):
    return {"_id": record_id, "hash": fingerprint, "state": "running", "attempt": attempt,
            "created_at": datetime.now(timezone.utc), "lease_ts": time.time() + LEASE_SECONDS}


def _abandoned(record, fingerprint):
    """Still 'running' but no longer renewed: its request failed or its worker died."""
    if record is None or record["state"] != "running" or record["hash"] != fingerprint:
        return False
    if record.get("lease_ts") is not None:
        return float(record["lease_ts"]) < time.time()
    started = record["created_at"]
    if isinstance(started, str):  # nx-27017 may keep a datetime as text
        started = datetime.fromisoformat(started)
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - started > ABANDONED_AFTER


def _take_over(store, record):
    """Claim an abandoned record (one retry wins: the replace is guarded by attempt);
    the new record, or None when another retry won."""
    attempt = record.get("attempt", 0)
    claimed = _running(record["_id"], record["hash"], attempt + 1)
    if store.replace_one({"_id": record["_id"], "attempt": attempt}, claimed).matched_count != 1:
        return None
    return claimed


def _replay(record, fingerprint):
    if record is None:  # released and claimed again by others meanwhile: in flight
        return problem(409, "Conflict", "a request with this Idempotency-Key is being processed",
                       headers={"Retry-After": "1"})
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

