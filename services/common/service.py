"""What every Praxis service class has in common."""
import logging
import time

from mongoengine.connection import get_db
from nameko.extensions import DependencyProvider

from services.common.rpc import rpc

log = logging.getLogger("praxis.worker")


class WorkerLog(DependencyProvider):
    """One structured line per RPC or event handled: which, for which request or
    event, how long, and how it ended."""

    def worker_setup(self, worker_ctx):
        worker_ctx.praxis_started = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        data = worker_ctx.data or {}
        extra = {
            "entrypoint": f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}",
            "correlation_id": data.get("correlation_id"), "event_id": data.get("event_id"),
            "ms": round((time.perf_counter() - getattr(worker_ctx, "praxis_started", time.perf_counter())) * 1000, 1),
            "outcome": "ok" if exc_info is None else exc_info[0].__name__,
        }
        log.info("handled", extra=extra)


class PraxisService:
    """Base of the five services: a ``health`` RPC that the gateway's /ready calls,
    and a log line per worker."""
    name = None

    worker_log = WorkerLog()

    @rpc
    def health(self):
        get_db(self.name).command("ping")  # raises if the database is away
        return {"service": self.name, "status": "ok"}
