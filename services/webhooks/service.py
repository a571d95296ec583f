"""The webhooks service: a school's HTTPS endpoints hear Praxis's events.

- Consuming: one ``@on_event`` entrypoint per deliverable event type
  (contracts/topology.py ``SUBSCRIPTIONS["webhooks"]``) records a delivery per
  subscribed endpoint, ``_id`` = endpoint + event: once per endpoint and event,
  however often the event arrives.
- Delivering: a timer (never a request) takes due deliveries (a lease on
  ``due_ts``), POSTs the event signed with the endpoint's secret, and on failure
  retries with exponential backoff for a day; then the delivery fails, the endpoint
  is disabled, its waiting deliveries pause, and ``webhook_endpoint.disabled`` tells
  the school. Staff list deliveries and redeliver one by hand.
- LTI (the LMS side of Praxis): grade passback (AGS, passback.py), roster sync
  (NRPS, roster.py), and the LTI store they use (lti_store.py: registrations,
  signing keys, people, course links), which the gateway reaches by RPC for its
  admin routes and the launches it validates.
"""
import logging
import os
import secrets
import time
import uuid
from datetime import datetime, timezone

import eventlet
import requests
from nameko.rpc import RpcProxy
from nameko.timer import timer

from contracts.assessment import GRADE_OVERRIDDEN, SUBMISSION_GRADED
from contracts.base import dump, load, page
from contracts.errors import Conflict, NotFound
from contracts.events import make_event
from contracts.topology import SUBSCRIPTIONS
from contracts.urls import private_address
from contracts.webhooks import (ENDPOINT_DISABLED, SIGNATURE_HEADER, SOURCE, DeliveryQuerySchema, DeliverySchema,
                                EndpointCreateSchema, EndpointSchema, EndpointUpdateSchema)
from services.common.events import Outbox, envelope_of, on_event
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from contracts.lti import GradePostQuerySchema, RosterSyncCreateSchema
from services.webhooks import domain, lti_store, passback, roster
from services.webhooks.models import DOCUMENTS, OUTBOX_DOCUMENTS
from services.webhooks.repository import WebhookRepository

log = logging.getLogger("praxis.webhooks")

TICK = float(os.environ.get("PRAXIS_WEBHOOK_TICK_SECONDS", "1"))
BATCH = 50
CONCURRENCY = 10
USER_AGENT = "Praxis-Webhooks/1"


def _iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None


def _each_event(event_types):
    """One method consuming several event types (an entrypoint, and a queue, each).
    No inbox: each delivery's id is endpoint:event and each grade post's is the line
    item, student and grading, both inserted once, so a redelivered event adds nothing."""
    def decorate(method):
        for event_type in event_types:
            method = on_event(event_type, inbox=False)(method)
        return method
    return decorate


def endpoint_out(endpoint, with_secret=False):
    data = {k: endpoint.get(k) for k in ("url", "event_types", "description", "status", "disabled_reason",
                                         "created_at")}
    data["id"] = endpoint["_id"]
    if with_secret:
        data["secret"] = endpoint["secret"]
    return dump(EndpointSchema, data)


def delivery_out(delivery):
    pending = delivery["status"] == "pending"
    return dump(DeliverySchema, {
        "id": delivery["_id"], "endpoint_id": delivery["endpoint_id"], "event_id": delivery["event_id"],
        "event_type": delivery["event_type"], "status": delivery["status"], "attempts": delivery["attempts"],
        "next_attempt_at": _iso(delivery["due_ts"]) if pending else None,
        "last_status_code": delivery.get("last_status_code"), "last_error": delivery.get("last_error"),
        "delivered_at": _iso(delivery.get("delivered_ts")), "created_at": _iso(delivery["created_ts"])})


class WebhooksService(PraxisService):
    name = "webhooks"

    store = Storage(WebhookRepository, documents=DOCUMENTS)
    outbox = Outbox(*OUTBOX_DOCUMENTS)
    enrollment = RpcProxy("enrollment")  # roster sync: applications and tutors

    # --- endpoints (school staff, through the gateway) -----------------------------

    @rpc
    def create_endpoint(self, caller, data):
        data = load(EndpointCreateSchema, data)
        endpoint = {"_id": uuid.uuid4().hex, "school_id": caller["school_id"], "url": data["url"],
                    "event_types": data["event_types"], "description": data["description"],
                    "status": "enabled", "disabled_reason": None, "secret": "whsec_" + secrets.token_urlsafe(32),
                    "created_at": datetime.now(timezone.utc).isoformat(), "created_by": caller["actor"]}
        self.store.add_endpoint(endpoint)
        return endpoint_out(endpoint, with_secret=True)

    @rpc
    def list_endpoints(self, caller):
        return [endpoint_out(e) for e in self.store.endpoints_of(caller["school_id"])]

    def _endpoint(self, caller, endpoint_id):
        endpoint = self.store.endpoint(caller["school_id"], endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return endpoint

    @rpc
    def get_endpoint(self, caller, endpoint_id):
        return endpoint_out(self._endpoint(caller, endpoint_id))

    @rpc
    def update_endpoint(self, caller, endpoint_id, data):
        data = load(EndpointUpdateSchema, data)
        for _ in range(5):
            endpoint = self._endpoint(caller, endpoint_id)
            changed = dict(endpoint, **data)
            if data.get("status") == "enabled":
                changed["disabled_reason"] = None
            elif data.get("status") == "disabled" and endpoint["status"] == "enabled":
                changed["disabled_reason"] = "disabled by staff"
            if self.store.replace_endpoint(changed):
                break
        else:
            raise Conflict("the endpoint changed meanwhile; try again")
        if endpoint["status"] != changed["status"]:
            if changed["status"] == "enabled":  # paused deliveries resume, with a new day of retries
                now = time.time()
                self.store.set_deliveries(endpoint_id, "paused", {"status": "pending", "due_ts": now, "first_ts": now})
            else:
                self.store.set_deliveries(endpoint_id, "pending", {"status": "paused"})
        return endpoint_out(changed)

    @rpc
    def delete_endpoint(self, caller, endpoint_id):
        self._endpoint(caller, endpoint_id)
        self.store.delete_endpoint(endpoint_id)
        for status in ("pending", "paused"):
            self.store.set_deliveries(endpoint_id, status, {"status": "failed", "last_error": "endpoint deleted"})

    @rpc
    def list_deliveries(self, caller, endpoint_id, query):
        query = load(DeliveryQuerySchema, query)
        self._endpoint(caller, endpoint_id)
        found = self.store.deliveries_of(endpoint_id, query.get("status"), query["limit"] + 1, query["offset"])
        return page([delivery_out(d) for d in found], query)

    @rpc
    def redeliver(self, caller, delivery_id):
        """Send a delivery again (delivered, failed or waiting), with a new day of retries."""
        delivery = self.store.delivery(delivery_id)
        if delivery is None or delivery["school_id"] != caller["school_id"]:
            raise NotFound(f"no delivery {delivery_id}")
        endpoint = self._endpoint(caller, delivery["endpoint_id"])
        if endpoint["status"] != "enabled":
            raise Conflict("the endpoint is disabled: enable it first", {"status": ["disabled"]})
        now = time.time()
        self.store.update_delivery(delivery_id, {"status": "pending", "due_ts": now, "first_ts": now,
                                                 "redelivered_by": caller["actor"]})
        return delivery_out(self.store.delivery(delivery_id))

    # --- consuming: one delivery per endpoint and event ----------------------------

    @_each_event(SUBSCRIPTIONS[SOURCE])
    def on_deliverable_event(self, event):
        envelope = envelope_of(event)
        now = time.time()
        for endpoint in domain.subscribers(self.store.endpoints_of(event.school_id), event.type):
            added = self.store.add_delivery({
                "_id": f"{endpoint['_id']}:{event.event_id}", "school_id": event.school_id,
                "endpoint_id": endpoint["_id"], "event_id": event.event_id, "event_type": event.type,
                "body": domain.body_of(envelope).decode(), "status": domain.first_status(endpoint), "attempts": 0,
                "due_ts": now, "first_ts": now, "created_ts": now})
            if added:
                log.info("webhook delivery queued", extra={
                    "endpoint_id": endpoint["_id"], "event_id": event.event_id, "event_type": event.type})
        self._grade_passback(event)

    def _grade_passback(self, event):
        """A grading also goes to the LMS line items the assessment is linked to (AGS)."""
        payload = event.payload
        if event.type == SUBMISSION_GRADED.type and event.source == SUBMISSION_GRADED.source:
            graded_at = payload["graded_at"].isoformat()
            self.queue_grade(event.school_id, payload["assessment_id"], payload["student_id"],
                             payload["counted_percent"], graded_at, f"{payload['submission_id']}@{graded_at}")
        elif event.type == GRADE_OVERRIDDEN.type and event.source == GRADE_OVERRIDDEN.source:
            overridden_at = payload["overridden_at"].isoformat()
            self.queue_grade(event.school_id, payload["assessment_id"], payload["student_id"],
                             payload["override_percent"], overridden_at, f"override@{overridden_at}")

    # --- delivering, from a timer -----------------------------------------------------

    @timer(interval=TICK)
    def deliver_due(self):
        policy = domain.settings()
        pool = eventlet.GreenPool(CONCURRENCY)
        while True:
            due = self.store.due(time.time(), BATCH)
            for _ in pool.imap(lambda d: self._deliver(d["_id"], policy), due):
                pass
            if len(due) < BATCH:
                return

    def _deliver(self, delivery_id, policy):
        delivery = self.store.claim(delivery_id, time.time(), lease=policy["timeout"] + 30)
        if delivery is None:
            return  # another worker took it
        endpoint = self.store.endpoint_by_id(delivery["endpoint_id"])
        if endpoint is None or endpoint["status"] != "enabled":
            self.store.update_delivery(delivery_id, {"status": "paused" if endpoint else "failed"})
            return
        sent_ts = time.time()
        body = delivery["body"].encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "Praxis-Event-Id": delivery["event_id"], "Praxis-Event-Type": delivery["event_type"],
                   "Praxis-Delivery-Id": delivery_id,
                   SIGNATURE_HEADER: domain.signature(endpoint["secret"], sent_ts, body)}
        status_code, error = None, None
        refused = private_address(endpoint["url"])
        try:
            if refused:
                error = f"refused: the endpoint resolves to a non-public address ({refused})"
            else:
                response = requests.post(endpoint["url"], data=body, headers=headers,
                                         timeout=policy["timeout"], allow_redirects=False)
                status_code = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = delivery["attempts"] + 1
        self.store.add_attempt({"_id": f"{delivery_id}:{attempts}", "delivery_id": delivery_id, "ts": sent_ts,
                                "status_code": status_code, "error": error})
        extra = {"endpoint_id": endpoint["_id"], "event_id": delivery["event_id"], "attempt": attempts,
                 "status_code": status_code, "school_id": endpoint["school_id"]}
        if domain.succeeded(status_code):
            self.store.update_delivery(delivery_id, {"status": "delivered", "attempts": attempts,
                                                     "delivered_ts": time.time(), "last_status_code": status_code,
                                                     "last_error": None})
            log.info("webhook delivered", extra=extra)
            return
        error = error or f"HTTP {status_code}"
        action, due_ts = domain.after_failure(dict(delivery, attempts=attempts), time.time(), policy)
        if action == "retry":
            self.store.update_delivery(delivery_id, {"attempts": attempts, "due_ts": due_ts,
                                                     "last_status_code": status_code, "last_error": error})
            log.warning("webhook delivery failed; will retry", extra={**extra, "error": error})
            return
        self.store.update_delivery(delivery_id, {"status": "failed", "attempts": attempts,
                                                 "last_status_code": status_code, "last_error": error})
        log.error("webhook delivery gave up; disabling the endpoint", extra={**extra, "error": error})
        self._disable(endpoint["_id"], f"a delivery failed for {int(policy['give_up_after'])} s: {error}")

    def _disable(self, endpoint_id, reason):
        for _ in range(5):
            endpoint = self.store.endpoint_by_id(endpoint_id)
            if endpoint is None or endpoint["status"] != "enabled":
                return
            failed = len(self.store.deliveries_of(endpoint_id, "failed", limit=1000))
            event = make_event(ENDPOINT_DISABLED, {"endpoint_id": endpoint_id, "url": endpoint["url"],
                                                   "reason": reason, "failed_deliveries": failed},
                               school_id=endpoint["school_id"], actor="webhooks:deliverer")
            if self.store.replace_endpoint(dict(endpoint, status="disabled", disabled_reason=reason), [event]):
                self.store.set_deliveries(endpoint_id, "pending", {"status": "paused"})
                return

    # --- grade passback to the LMS (LTI AGS) ------------------------------------------

    def queue_grade(self, school_id, assessment_id, student_id, percent, timestamp, grading_key, comment=None):
        """submission.graded: the counted percent at graded_at; grade.overridden: the
        override at overridden_at (a post per line item, once per grading)."""
        return passback.queue(self.store, school_id, assessment_id, student_id, percent, timestamp,
                              grading_key, comment)

    @timer(interval=TICK)
    def post_grades(self):
        passback.post_due(self.store, domain.settings())

    @rpc
    def retry_grade_post(self, caller, post_id):
        """Post a failed (or waiting) score again now, with a new day of retries."""
        post = self.store.grade_post(post_id)
        if post is None or post["school_id"] != caller["school_id"]:
            raise NotFound(f"no grade post {post_id}")
        if post["status"] == "posted":
            raise Conflict("this score was posted already", {"status": ["posted"]})
        now = time.time()
        self.store.update_delivery(post_id, {"status": "pending", "due_ts": now, "first_ts": now,
                                             "retried_by": caller["actor"]}, passback.COLLECTION)
        return passback.out(self.store.grade_post(post_id))

    @rpc
    def list_grade_posts(self, caller, query):
        query = load(GradePostQuerySchema, query)
        found = self.store.grade_posts_of(caller["school_id"], query.get("status"), query["limit"] + 1, query["offset"])
        return page([passback.out(p) for p in found], query)

    # --- roster sync from the LMS (LTI NRPS) ------------------------------------------

    @rpc
    def start_roster_sync(self, caller, data):
        return roster.out(roster.start(self.store.db, caller, load(RosterSyncCreateSchema, data)))

    @rpc
    def get_roster_sync(self, caller, sync_id):
        return roster.out(roster.get(self.store.db, caller["school_id"], sync_id))

    @timer(interval=TICK)
    def run_roster_syncs(self):
        roster.run_queued(self.store.db, self.enrollment)

    # --- the LTI store (lti_store.py): the gateway's admin routes and its launches ----------

    @rpc
    def register_lti_platform(self, caller, data):
        return lti_store.register(self.store.db, caller, data)

    @rpc
    def list_lti_platforms(self, caller):
        return lti_store.platforms_of(self.store.db, caller)

    @rpc
    def get_lti_platform(self, caller, platform_id):
        return lti_store.platform_of(self.store.db, caller, platform_id)

    @rpc
    def update_lti_platform(self, caller, platform_id, data):
        return lti_store.update(self.store.db, caller, platform_id, data)

    @rpc
    def delete_lti_platform(self, caller, platform_id):
        lti_store.delete(self.store.db, caller, platform_id)

    @rpc
    def list_lti_keys(self, caller):
        return lti_store.keys_of(self.store.db, caller)

    @rpc
    def rotate_lti_keys(self, caller, data):
        return lti_store.rotate(self.store.db, caller, data)

    @rpc
    def list_lti_contexts(self, caller):
        return lti_store.contexts_of(self.store.db, caller)

    @rpc
    def lti_registration(self, caller, issuer, client_id):
        return lti_store.registration(self.store.db, issuer, client_id)

    @rpc
    def lti_platform(self, caller, platform_id):
        return lti_store.platform(self.store.db, platform_id)

    @rpc
    def lti_jwks(self, caller, platform_id):
        return lti_store.jwks(self.store.db, platform_id)

    @rpc
    def lti_launched(self, caller, platform_id, claims):
        return lti_store.launched(self.store.db, platform_id, claims)

    @rpc
    def lti_sign_deep_linking_response(self, caller, platform_id, message):
        return lti_store.sign_deep_linking_response(self.store.db, platform_id, message)
