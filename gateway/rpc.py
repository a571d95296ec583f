"""A pool of open nameko RPC proxies for the gateway.

A new ClusterRpcProxy per request costs 5-10x (a reply queue and a consumer are
declared each time), and a proxy is not safe to share between concurrent
requests: so each request borrows one open proxy and gives it back. Every call
carries a deadline: the caller gets ServiceUnavailable (503) when it passes, and
the service drops the request if it only reaches it later (services.common.rpc).

The deadline covers the whole call: waiting for a free proxy, opening one,
publishing the request and waiting for the reply. A frozen broker (SIGSTOP, a
full disk) blocks a socket write or the AMQP handshake with no timeout at all, so
the call runs in a green thread of its own and the caller stops waiting for it at
the deadline; the stuck proxy is closed when it comes loose, never reused, and
keeps its pool slot meanwhile (a pool full of stuck calls answers 503 at once).
"""
import logging
import queue
import threading
import time
from contextlib import contextmanager

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from contracts.errors import PraxisError  # (importing it registers the exceptions services raise)

log = logging.getLogger("praxis.gateway.rpc")

# what a service answers (the proxy that carried it is fine) ...
ANSWERS = (RemoteError, PraxisError, UnknownService)
# ... and what says the broker is away, or the proxy's connection broke (a cluster
# node that went down: its reply queue is gone with it): 503, and the proxy is closed
BROKER_TROUBLE = (RpcTimeout, OSError, KombuError, AMQPError)


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
    def _borrow(self, late):
        """An open proxy; ``late()`` says whether the caller gave up meanwhile (the
        proxy is then closed: a late reply may still arrive on its queue)."""
        runner = cluster = None
        try:
            try:
                runner, cluster = self._idle.get_nowait()
            except queue.Empty:
                runner, cluster = self._open()
            yield runner, cluster
        except ANSWERS:
            raise
        except BaseException as exc:
            # broken, or a late reply may still arrive on this proxy's queue: not reused
            if runner is not None:
                _close(runner)
            runner = None
            if isinstance(exc, BROKER_TROUBLE) and not isinstance(exc, RpcTimeout):
                self.close()  # the idle ones share its broker (or its lost node): open new ones
            raise
        finally:
            if runner is not None:
                if late():
                    _close(runner)
                else:
                    self._idle.put((runner, cluster))

    def call(self, service, method, *args, correlation_id=None, timeout=None, **kwargs):
        timeout = self.timeout if timeout is None else min(timeout, self.timeout)
        deadline = time.time() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise ServiceUnavailable("the gateway is saturated")
        finished, gave_up, outcome = threading.Event(), threading.Event(), {}

        def work():
            try:
                with self._borrow(late=gave_up.is_set) as (runner, cluster):
                    runner._worker_ctx.data = {"deadline": deadline, **(
                        {"correlation_id": correlation_id} if correlation_id else {})}
                    outcome["value"] = getattr(getattr(cluster, service), method)(*args, **kwargs)
            except BaseException as exc:  # handed to the caller, if it still waits
                outcome["error"] = exc
            finally:
                self._slots.release()
                finished.set()

        threading.Thread(target=work, daemon=True, name=f"rpc {service}.{method}").start()
        if not finished.wait(max(0.0, deadline - time.time())):
            gave_up.set()  # stuck (a frozen broker): its proxy is closed when it comes loose
            log.warning("rpc deadline passed before the request was sent or answered",
                        extra={"service": service, "method": method, "correlation_id": correlation_id})
            raise ServiceUnavailable(f"the {service} service did not answer in time")
        try:
            if "error" in outcome:
                raise outcome["error"]
            return outcome["value"]
        except RpcTimeout:
            log.warning("rpc deadline passed", extra={"service": service, "method": method,
                                                      "correlation_id": correlation_id})
            raise ServiceUnavailable(f"the {service} service did not answer in time")
        except UnknownService:
            raise ServiceUnavailable(f"the {service} service is not running")
        except BROKER_TROUBLE as exc:
            raise ServiceUnavailable(f"the message broker is unreachable ({exc.__class__.__name__})")
        except ANSWERS:
            raise
        except Exception as exc:  # a proxy whose connection broke in a way kombu does not name
            log.exception("rpc proxy failed", extra={"service": service, "method": method,
                                                     "correlation_id": correlation_id})
            raise ServiceUnavailable(f"the message broker connection failed ({exc.__class__.__name__})")

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
