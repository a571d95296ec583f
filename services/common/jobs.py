"""Jobs: work too long for a request runs in the owning service, after the RPC
that started it has answered (the gateway answers 202 with the job's id at once,
and ``GET /jobs/{id}`` follows it).

A job is one document in the service's own ``jobs`` collection: its state
(queued, running, succeeded, failed), progress counts, its result and, for
line-by-line work, a report. Its id is ``<service>-<hex>``, so the gateway knows
which service to ask; the hex is the Idempotency-Key's operation id when there is
one, so a retried start finds the job it started. A ``lock`` (e.g. one selection
per programme) is a document whose ``_id`` is the lock: a second job while the
first has not finished is refused with 409. A job whose service died is taken
up again by ``resume`` (a timer), guarded on its attempt number: job handlers
are written to be run again (every step they take is idempotent).
"""
import logging
import time
import uuid
from datetime import datetime, timezone

from mongoengine.connection import get_db
from nameko.extensions import DependencyProvider
from pymongo.errors import DuplicateKeyError

from contracts.errors import Conflict

log = logging.getLogger("praxis.jobs")

FINISHED = ("succeeded", "failed")
STALE_AFTER = 60  # seconds without a heartbeat: the service running it died


def _now():
    return datetime.now(timezone.utc)


def view(doc):
    """A job as the contract shows it (contracts.jobs.JobSchema)."""
    if doc is None:
        return None
    return {"id": doc["_id"], "kind": doc["kind"], "state": doc["state"], "program_id": doc.get("program_id"),
            "progress": doc.get("progress") or {}, "result": doc.get("result"), "report": doc.get("report") or [],
            "error": doc.get("error"), "created_at": _aware(doc["created_at"]),
            "started_at": _aware(doc.get("started_at")), "finished_at": _aware(doc.get("finished_at"))}


def _aware(value):
    if isinstance(value, str):  # nx-27017 keeps a $set datetime as text
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


class JobStore:
    """The jobs of one service (a pymongo database)."""

    def __init__(self, db, service):
        self.db = db
        self.service = service

    @property
    def _jobs(self):
        return self.db.jobs

    def create(self, caller, kind, params, *, program_id=None, lock=None):
        """Store a queued job; (job, created). The same operation id finds the job it
        started; a lock held by an unfinished job raises Conflict."""
        job_id = f"{self.service}-{caller.get('operation_id') or uuid.uuid4().hex}"
        existing = self._jobs.find_one({"_id": job_id, "school_id": caller["school_id"]})
        if existing is not None:
            return existing, False
        if lock:
            self._take_lock(lock, job_id)
        doc = {"_id": job_id, "school_id": caller["school_id"], "kind": kind, "state": "queued",
               "program_id": program_id, "params": params, "caller": caller, "lock": lock,
               "progress": {}, "result": None, "report": [], "error": None, "attempt": 0,
               "created_at": _now(), "started_at": None, "finished_at": None, "heartbeat": time.time()}
        try:
            self._jobs.insert_one(doc)
        except DuplicateKeyError:  # the same operation, concurrently
            if lock:
                self._release_lock(lock, job_id)
            return self._jobs.find_one({"_id": job_id}), False
        return doc, True

    def _take_lock(self, lock, job_id):
        locks = self.db.job_locks
        for _ in range(3):
            try:
                locks.insert_one({"_id": lock, "job_id": job_id})
                return
            except DuplicateKeyError:
                held = locks.find_one({"_id": lock})
                if held is None:
                    continue
                holder = self._jobs.find_one({"_id": held["job_id"]}, {"state": 1})
                if holder is not None and holder["state"] not in FINISHED:
                    raise Conflict(f"job {held['job_id']} is still running for this; follow it at /jobs/{held['job_id']}",
                                   {"job_id": [held["job_id"]]})
                locks.replace_one({"_id": lock, "job_id": held["job_id"]}, {"_id": lock, "job_id": job_id})
                if locks.find_one({"_id": lock, "job_id": job_id}):
                    return
        raise Conflict("another job is starting for this; try again")

    def _release_lock(self, lock, job_id):
        self.db.job_locks.delete_one({"_id": lock, "job_id": job_id})

    def get(self, school_id, job_id):
        return self._jobs.find_one({"_id": job_id, "school_id": school_id})

    def claim(self, job, attempt):
        """Take the job to run it (one runner wins: guarded on the attempt)."""
        claimed = self._jobs.update_one(
            {"_id": job["_id"], "attempt": attempt, "state": {"$in": ["queued", "running"]}},
            {"$set": {"state": "running", "started_at": job.get("started_at") or _now(),
                      "heartbeat": time.time()}, "$inc": {"attempt": 1}})
        return claimed.modified_count == 1

    def progress(self, job_id, **counts):
        self._jobs.update_one({"_id": job_id}, {"$set": {"progress": counts, "heartbeat": time.time()}})

    def finish(self, job, *, result=None, report=None, error=None, progress=None):
        change = {"state": "failed" if error else "succeeded", "result": result, "error": error,
                  "finished_at": _now(), "heartbeat": time.time()}
        if report is not None:
            change["report"] = report
        if progress is not None:
            change["progress"] = progress
        self._jobs.update_one({"_id": job["_id"]}, {"$set": change})
        if job.get("lock"):
            self._release_lock(job["lock"], job["_id"])

    def stale(self):
        """Jobs whose runner died (or that never started): to run again."""
        cutoff = time.time() - STALE_AFTER
        return list(self._jobs.find({"state": {"$in": ["queued", "running"]}, "heartbeat": {"$lt": cutoff}}))


class Jobs(DependencyProvider):
    """``jobs = Jobs()``: the service's JobStore, plus ``run(job, handler)`` which runs
    ``handler(job)`` in a thread of the container after the entrypoint has answered."""

    def setup(self):
        self.service = self.container.service_name

    def get_dependency(self, worker_ctx):
        return JobRunner(JobStore(get_db(self.service), self.service), self.container)


class JobRunner:

    def __init__(self, store, container):
        self.store = store
        self.container = container

    def __getattr__(self, name):
        return getattr(self.store, name)

    def run(self, job, handler):
        """Run ``handler(job, progress)`` in the background; it returns
        ``{"result": ..., "report": ..., "progress": ...}``."""
        attempt = job.get("attempt", 0)
        if not self.store.claim(job, attempt):
            return
        job = {**job, "attempt": attempt + 1}

        def work():
            try:
                outcome = handler(job, lambda **counts: self.store.progress(job["_id"], **counts)) or {}
                self.store.finish(job, **outcome)
                log.info("job finished", extra={"job_id": job["_id"], "kind": job["kind"]})
            except Exception as exc:  # the job fails with the reason; the service goes on
                log.exception("job failed", extra={"job_id": job["_id"], "kind": job["kind"]})
                self.store.finish(job, error=getattr(exc, "detail", None) or f"{exc.__class__.__name__}: {exc}")

        self.container.spawn_managed_thread(work, identifier=f"job:{job['_id']}")

    def resume(self, handlers):
        """Run again the jobs whose runner died (a timer calls it)."""
        for job in self.store.stale():
            handler = handlers.get(job["kind"])
            if handler is not None:
                log.warning("resuming a job", extra={"job_id": job["_id"], "kind": job["kind"]})
                self.run(job, handler)
