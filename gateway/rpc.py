"""A pool of open nameko RPC proxies for the gateway.

A new ClusterRpcProxy per request costs 5-10x (a reply queue and a consumer are
declared each time), and a proxy is not safe to share between concurrent
requests: so each request borrows one open proxy and gives it back. Every call
carries a deadline: the caller gets ServiceUnavailable (503) when it passes, and
the service drops the request if it only reaches it later (services.common.rpc).
"""
import logging
import queue
import threading
import time
from contextlib import contextmanager

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

import contracts.errors  # noqa: F401  (registers the exceptions services raise)

log = logging.getLogger("praxis.gateway.rpc")


class ServiceUnavailable(Exception):
    """A service did not answer within the deadline (or the broker is away)."""

    def __init__(self, detail, retry_after=5):
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class RpcPool:

    def __init__(self, config, size=16, timeout=10.0):
        self.config = config
        self.timeout = timeout
        self._idle = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _open(self):
        runner = ClusterRpcProxy(self.config, timeout=self.timeout)
        return runner, runner.start()

    @contextmanager
    def _borrow(self):
        if not self._slots.acquire(timeout=self.timeout):
            raise ServiceUnavailable("the gateway is saturated")
        runner = cluster = None
        try:
            try:
                runner, cluster = self._idle.get_nowait()
            except queue.Empty:
                runner, cluster = self._open()
            yield runner, cluster
        except (RpcTimeout, OSError, OperationalError):
            # a late reply may still arrive on this proxy's queue: do not reuse it
            if runner is not None:
                _close(runner)
            runner = None
            raise
        finally:
            if runner is not None:
                self._idle.put((runner, cluster))
            self._slots.release()

    def call(self, service, method, *args, correlation_id=None, **kwargs):
        deadline = time.time() + self.timeout
        try:
            with self._borrow() as (runner, cluster):
                runner._worker_ctx.data = {"deadline": deadline, **(
                    {"correlation_id": correlation_id} if correlation_id else {})}
                return getattr(getattr(cluster, service), method)(*args, **kwargs)
        except RpcTimeout:
            log.warning("rpc deadline passed", extra={"service": service, "method": method,
                                                      "correlation_id": correlation_id})
            raise ServiceUnavailable(f"the {service} service did not answer in time")
        except UnknownService:
            raise ServiceUnavailable(f"the {service} service is not running")
        except (OSError, OperationalError) as exc:
            raise ServiceUnavailable(f"the message broker is unreachable ({exc.__class__.__name__})")

    def close(self):
        while True:
            try:
                runner, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _close(runner)


def _close(runner):
    try:
        runner.stop()
    except Exception:  # closing a broken connection may fail too; nothing to keep
        log.debug("closing an RPC proxy failed", exc_info=True)
