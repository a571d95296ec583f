"""/health (the process is alive) and /ready (broker, database and every service answer)."""
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, jsonify
from kombu import Connection

from gateway.db import get_db
from services.common.config import SERVICES, amqp_uri

blp = Blueprint("operations", __name__)
READY_TIMEOUT = 3.0  # /ready answers quickly, naming what is missing


@blp.get("/health")
def health():
    return jsonify(status="ok")


def _check_broker():
    with Connection(amqp_uri(), connect_timeout=3) as connection:
        connection.ensure_connection(max_retries=1)


def _check_database():
    get_db().command("ping")


def _check_service(name):
    def check():
        pool = current_app.extensions["praxis_rpc"]
        answer = pool.call(name, "health", timeout=READY_TIMEOUT)
        if answer.get("status") != "ok":
            raise RuntimeError(f"{name} answered {answer}")
    return check


@blp.get("/ready")
def ready():
    checks = {"broker": _check_broker, "database": _check_database,
              **{f"service:{name}": _check_service(name) for name in SERVICES}}
    app = current_app._get_current_object()

    def run(item):
        name, check = item
        with app.app_context():
            try:
                check()
                return name, "ok"
            except Exception as exc:
                return name, f"failing: {getattr(exc, 'detail', None) or exc.__class__.__name__}"

    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        results = dict(pool.map(run, checks.items()))
    ready_now = all(v == "ok" for v in results.values())
    response = jsonify(status="ready" if ready_now else "not ready", checks=results)
    response.status_code = 200 if ready_now else 503
    if not ready_now:
        response.headers["Retry-After"] = "5"
    return response
