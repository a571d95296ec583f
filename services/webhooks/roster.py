"""Roster sync (LTI Names and Role Provisioning Services 2.0): staff sync an LMS
course's membership into a programme. Learners become applications to the chosen
track, instructors and teaching assistants tutors, each as the Praxis person the
LMS user maps onto (people.py: made here if no launch named them yet,
with the LMS's name and email; a tutor's record keeps its per-programme id and
carries the person id, so the teacher's launches act as that tutor); every step is idempotent (ids derived from
programme and person), so a second sync adds the new members and
reports the dropped ones without deleting anything. Progress is kept on the sync
record as it goes.
"""
import hashlib
import logging
import os
import time
import uuid
from datetime import datetime, timezone

import eventlet
from pylti1p3.exception import LtiException
from requests import RequestException

from contracts.base import dump
from contracts.errors import NotFound, PraxisError
from contracts.lti import RosterSyncSchema
from contracts.lti_roles import map_roles
from services.webhooks import lms
from services.webhooks.links import context_of

log = logging.getLogger("praxis.lti.roster")

MEMBERSHIP_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_ERRORS = 100


def _call(method, *args):
    """An RPC with a deadline: a service that does not answer fails the sync
    instead of holding it (and the timer) forever."""
    seconds = float(os.environ.get("PRAXIS_RPC_TIMEOUT", "10"))
    with eventlet.Timeout(seconds, TimeoutError(f"the enrollment service did not answer within {seconds} s")):
        return method.call_async(*args).result()


def _op(*parts):
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def start(db, caller, data):
    context = context_of(db, caller["school_id"], data["context"])
    if context is None or not context.get("memberships_url"):
        raise NotFound("no course of this school's LMS offers its roster under this id (launch from it first)")
    sync = {"_id": uuid.uuid4().hex, "school_id": caller["school_id"], "context": data["context"],
            "program_id": data["program_id"], "track": data["track"], "tutor_max_load": data["tutor_max_load"],
            "caller": {k: caller.get(k) for k in ("school_id", "role", "key_id", "actor", "correlation_id")},
            "status": "queued", "total": 0, "processed": 0, "applications": 0, "staff": 0, "skipped": 0,
            "added": [], "dropped": [], "errors": [], "created_at": datetime.now(timezone.utc).isoformat(),
            "beat_ts": time.time()}
    db.roster_syncs.insert_one(sync)
    return sync


def get(db, school_id, sync_id):
    sync = db.roster_syncs.find_one({"_id": sync_id})
    if sync is None or sync["school_id"] != school_id:
        raise NotFound(f"no roster sync {sync_id}")
    return sync


def out(sync):
    return dump(RosterSyncSchema, {**{k: sync[k] for k in (
        "context", "program_id", "status", "total", "processed", "applications", "staff", "skipped", "added",
        "dropped", "errors", "created_at")}, "id": sync["_id"]})


STALLED_AFTER = 300  # seconds without progress: the worker running it died; run it again


def run_queued(db, enrollment):
    """Run the queued syncs, and those a dead worker left running (every step is
    idempotent, so running one again is safe). One worker takes each."""
    now = time.time()
    for status, older in (("queued", now), ("running", now - STALLED_AFTER)):
        for found in list(db.roster_syncs.find({"status": status, "beat_ts": {"$lte": older}}, {"_id": 1}).limit(5)):
            sync = db.roster_syncs.find_one_and_update(
                {"_id": found["_id"], "status": status, "beat_ts": {"$lte": older}},
                {"$set": {"status": "running", "beat_ts": time.time()}})
            if sync is not None:
                try:
                    run(db, enrollment, sync)
                except Exception as exc:  # a service away: the sync says so instead of hanging
                    log.exception("roster sync failed", extra={"sync_id": sync["_id"], "outcome": "failed"})
                    db.roster_syncs.update_one({"_id": sync["_id"]}, {"$set": {
                        "status": "failed", "errors": [{"reason": f"{type(exc).__name__}: {exc}"[:500]}]}})


def _members(db, context, platform):
    connector = lms.CachedConnector(db, platform)
    for page in connector.get_paginated_data([MEMBERSHIP_SCOPE], context["memberships_url"],
                                             accept=MEMBERSHIP_MEDIA_TYPE):
        for member in (page["body"] or {}).get("members", []):
            if member.get("status", "Active") == "Active" and member.get("user_id"):
                yield member


def run(db, enrollment, sync):
    def progress(**changes):
        changes["beat_ts"] = time.time()  # alive: nobody takes it over
        sync.update(changes)
        db.roster_syncs.update_one({"_id": sync["_id"]}, {"$set": changes})

    context = context_of(db, sync["school_id"], sync["context"])
    platform = lms.platform(db, context["platform_id"]) if context else None
    if platform is None or platform["school_id"] != sync["school_id"]:
        return progress(status="failed", errors=[{"reason": "the course's platform is no longer registered"}])
    try:
        members = list(_members(db, context, platform))
    except (LtiException, RequestException, ValueError) as exc:
        log.warning("roster sync failed", extra={"platform_id": platform["_id"], "outcome": "failed",
                                                 "sync_id": sync["_id"], "error": str(exc)[:300]})
        return progress(status="failed", errors=[{"reason": f"the LMS did not give the roster: {exc}"[:500]}])
    roster_id = f"{sync['context']}:{sync['program_id']}"
    previous = set((db.rosters.find_one({"_id": roster_id}) or {}).get("members", []))
    current = [m["user_id"] for m in members]
    progress(total=len(members), added=sorted(set(current) - previous), dropped=sorted(previous - set(current)))
    counts = {"applications": 0, "staff": 0, "skipped": 0}
    errors = []
    for n, member in enumerate(members, 1):
        user_id = member["user_id"]
        kind = map_roles(member.get("roles") or [])
        caller = dict(sync["caller"], partner_id=None, acting={"kind": None, "id": None})
        try:
            if kind in ("student", "staff"):  # the Praxis person the LMS user is (made now if new)
                person_id = lms.person(db, platform, user_id, member.get("name") or "", member.get("email"))
            if kind == "student":
                caller["operation_id"] = _op("nrps-application", sync["program_id"], person_id)
                _call(enrollment.submit_application, caller, sync["program_id"], {
                    "student_id": person_id, "name": member.get("name") or user_id, "track": sync["track"]})
                counts["applications"] += 1
            elif kind == "staff":
                caller["operation_id"] = _op("nrps-tutor", sync["program_id"], person_id)
                _call(enrollment.register_staff, caller, sync["program_id"], "tutor", {
                    "name": member.get("name") or user_id, "email": member.get("email"),
                    "max_load": sync["tutor_max_load"]}, person_id)
                counts["staff"] += 1
            else:
                counts["skipped"] += 1
        except PraxisError as exc:
            if "already has a live application" in exc.detail:
                counts["applications"] += 1  # applied by other means: the student is in
            elif len(errors) < MAX_ERRORS:
                errors.append({"user_id": user_id, "reason": exc.detail, "errors": exc.errors})
        progress(processed=n, errors=errors, **counts)
    db.rosters.replace_one({"_id": roster_id}, {"_id": roster_id, "members": current}, upsert=True)
    progress(status="done")
    log.info("roster synced", extra={"platform_id": platform["_id"], "school_id": sync["school_id"],
                                     "sync_id": sync["_id"], "outcome": "done", "total": len(members),
                                     "added": len(sync["added"]), "dropped": len(sync["dropped"])})
