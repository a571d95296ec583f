"""The Praxis gateway: the one HTTP face of the five services.

``create_app()`` builds it (flask-smorest: OpenAPI 3 from the marshmallow
schemas at /api/v1/openapi.json, browsable at /api/docs).
"""
import json
import logging
import os
import re
import time
import uuid
import warnings

# eventlet announces its own deprecation when nameko (2.x, the fixed stack) imports
# it: a library's notice, not something for operators of `praxis` or the gateway
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from flask import Blueprint, Flask, g, request
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from gateway import errors, hardening, openapi
from gateway.auth import authenticate
from gateway.ratelimit import RateLimiter
from gateway.rpc import RpcPool
from services.common import logs
from services.common.config import nameko_config

log = logging.getLogger("praxis.gateway")

API_PREFIX = "/api/v1"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class PraxisApi(Api):
    DEFAULT_ERROR_RESPONSE_NAME = None  # errors are documented per status (gateway.openapi)

    def handle_http_exception(self, error):
        return errors.from_http_exception(error)

    def document(self):
        """The finished OpenAPI document (gateway.openapi), built once."""
        if getattr(self, "_document", None) is None:
            self._document = openapi.finish(self.spec.to_dict(), self._app)
        return self._document

    def _openapi_json(self):
        return self._app.response_class(json.dumps(self.document(), indent=2), mimetype="application/json")


def create_app(config=None):
    if os.environ.get("PRAXIS_JSON_LOGS", "1") == "1":
        logs.setup(os.environ.get("PRAXIS_LOG_LEVEL", "INFO"))
    app = Flask(__name__)
    app.config.update(
        API_TITLE="Praxis",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Swagger UI's files come with the swagger-ui-bundle package: /api/docs works offline
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        MAX_CONTENT_LENGTH=int(os.environ.get("PRAXIS_MAX_BODY_BYTES", 1024 * 1024)),
        RPC_TIMEOUT=float(os.environ.get("PRAXIS_RPC_TIMEOUT", "10")),
        RPC_POOL_SIZE=int(os.environ.get("PRAXIS_RPC_POOL_SIZE", "32")),
        RATE_LIMIT_PER_MINUTE=int(os.environ.get("PRAXIS_RATE_LIMIT_PER_MINUTE", "6000")),
        # requests without a valid key, per client address and gateway worker
        UNAUTHENTICATED_PER_MINUTE=int(os.environ.get("PRAXIS_UNAUTHENTICATED_PER_MINUTE", "600")),
        API_SPEC_OPTIONS={
            "info": {"description": "School-enterprise training programmes: enrollment, "
                                    "content, assessment, incentives and supervision."},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.config.update(config or {})

    app.extensions["praxis_rpc"] = RpcPool(nameko_config(), size=app.config["RPC_POOL_SIZE"],
                                           timeout=app.config["RPC_TIMEOUT"])
    limiter = RateLimiter(app.config["RATE_LIMIT_PER_MINUTE"])
    strangers = RateLimiter(app.config["UNAUTHENTICATED_PER_MINUTE"])
    api = PraxisApi(app)
    errors.register(app)

    @app.before_request
    def _begin():
        g.started = time.perf_counter()
        # a caller's request id is kept only if it is a plain token (it goes into logs)
        given = request.headers.get("X-Request-ID", "")
        g.correlation_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        refusal = hardening.check_request(app.config["MAX_CONTENT_LENGTH"])
        if refusal is not None:
            return refusal
        if request.path.startswith(API_PREFIX) and request.path != f"{API_PREFIX}/openapi.json":
            refusal = authenticate()
            if refusal is not None:
                # no valid key: a budget per client address, so guessing keys stays slow
                return strangers.check(f"address:{request.remote_addr}") or refusal
            return limiter.check(g.caller["key_id"])

    @app.after_request
    def _end(response):
        response.headers["X-Request-ID"] = g.get("correlation_id", "")
        hardening.secure(response, request.path)
        caller = g.get("caller") or {}
        log.info("request", extra={
            "correlation_id": g.get("correlation_id"), "method": request.method,
            "path": request.path, "status": response.status_code, "key_id": caller.get("key_id"),
            "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)})
        return response

    from gateway.resources import (applications, attendance, feedback, materials, mentors, operations,
                                   polls, programs, questions, roster, sessions, teams)
    from gateway.resources import assessments, competition_scores, gradebook, grading, question_bank, submissions
    app.register_blueprint(operations.blp)
    app.register_blueprint(Blueprint("swagger_ui_assets", __name__, static_folder=swagger_ui_path,
                                     static_url_path="/api/docs/assets"))
    for module in (programs, sessions, attendance, materials, questions, feedback, polls,
                   applications, teams, mentors, roster):
        api.register_blueprint(module.blp, url_prefix=API_PREFIX)
    for module in (assessments, question_bank, submissions, grading, competition_scores, gradebook):
        api.register_blueprint(module.blp, url_prefix=API_PREFIX)
    from gateway.resources import jobs, reports
    api.register_blueprint(jobs.blp, url_prefix=API_PREFIX)
    api.register_blueprint(reports.blp, url_prefix=API_PREFIX)
    from gateway.resources import badges, credits, exchange, leaderboards, rewards
    for module in (credits, exchange, rewards, leaderboards, badges):
        api.register_blueprint(module.blp, url_prefix=API_PREFIX)
    app.register_blueprint(badges.public)  # Open Badges documents are public by design
    from gateway.lti import routes as lti_routes
    from gateway.resources import lti, webhooks
    api.register_blueprint(lti.blp, url_prefix=API_PREFIX)
    api.register_blueprint(webhooks.blp, url_prefix=API_PREFIX)
    app.register_blueprint(lti_routes.bp)
    from gateway.lti import pages as lti_pages
    app.register_blueprint(lti_pages.bp)
    from gateway.resources import supervision
    api.register_blueprint(supervision.blp, url_prefix=API_PREFIX)
    from gateway import dashboard
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(Blueprint("dashboard_static", __name__, static_folder="static",
                                     static_url_path="/dashboard-static"))
    return app
