"""Every error leaves the gateway as application/problem+json (RFC 9457):
``title``, ``status``, ``detail`` and, for 422, ``errors`` (field -> reasons).

An outage is a 503 with Retry-After, never a 500: the broker or a service away
(``ServiceUnavailable``), the gateway's own database away (any pymongo error,
wherever in the gateway: keys, idempotency records, rate limits), or a service
whose database is away (its pymongo error arrives as a ``RemoteError``).
"""
import logging

from flask import g, jsonify
from nameko.exceptions import RemoteError
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException

from contracts.errors import PraxisError
from gateway.rpc import ServiceUnavailable

log = logging.getLogger("praxis.gateway")

PROBLEM = "application/problem+json"
DATABASE_RETRY_AFTER = 5
# pymongo's outage errors, as a service's RemoteError names them
SERVICE_DATABASE_AWAY = {"ConnectionFailure", "AutoReconnect", "NetworkTimeout", "NotPrimaryError",
                         "ServerSelectionTimeoutError", "ExecutionTimeout", "WaitQueueTimeoutError"}


def problem(status, title, detail="", errors=None, headers=None):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    correlation_id = getattr(g, "correlation_id", None)
    if correlation_id:
        body["correlation_id"] = correlation_id
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def from_http_exception(exc):
    """werkzeug/flask-smorest aborts, including webargs' 422 with field errors."""
    data = getattr(exc, "data", None) or {}
    errors = data.get("messages") or data.get("errors")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "headers", "form", "files"}:
        errors = {k: v for loc in errors.values() for k, v in loc.items()} if all(
            isinstance(v, dict) for v in errors.values()) else errors
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.code == 405:
        headers = {k: v for k, v in exc.get_headers() if k == "Allow"}
    return problem(exc.code or 500, exc.name, data.get("message") or exc.description or "",
                   errors, headers)


def register(app):
    @app.errorhandler(PraxisError)
    def _praxis_error(exc):
        return problem(exc.status, exc.title, exc.detail, exc.errors or None)

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc):
        return problem(503, "Service unavailable", exc.detail,
                       headers={"Retry-After": str(exc.retry_after)})

    @app.errorhandler(PyMongoError)
    def _database_away(exc):
        if not isinstance(exc, ConnectionFailure):  # not an outage: worth a look
            log.exception("database error", extra={"correlation_id": getattr(g, "correlation_id", None)})
        else:
            log.warning("the gateway's database is unreachable", extra={
                "correlation_id": getattr(g, "correlation_id", None), "error": exc.__class__.__name__})
        return problem(503, "Service unavailable", "the database is unreachable; try again shortly",
                       headers={"Retry-After": str(DATABASE_RETRY_AFTER)})

    @app.errorhandler(Exception)
    def _unexpected(exc):
        if isinstance(exc, HTTPException):
            return from_http_exception(exc)
        if isinstance(exc, RemoteError) and exc.exc_type in SERVICE_DATABASE_AWAY:
            log.warning("a service's database is unreachable", extra={
                "correlation_id": getattr(g, "correlation_id", None), "error": exc.exc_type})
            return problem(503, "Service unavailable", "a service's database is unreachable; "
                           "try again shortly", headers={"Retry-After": str(DATABASE_RETRY_AFTER)})
        log.exception("unhandled error", extra={"correlation_id": getattr(g, "correlation_id", None)})
        return problem(500, "Internal server error", "the error was logged")
