"""Grade passback to the school's LMS (LTI AGS), the webhooks service's other
outbound delivery: a grading queues one post per line item the assessment is
linked to (by launches of that school's platforms), and a timer posts them with
a cached client-credentials token, retrying with backoff for a day. Every post
is logged with the platform, the student and the outcome, never the token.
"""
import json
import logging
import time
from datetime import datetime, timezone

import requests
from pylti1p3.exception import LtiException, LtiServiceException

from contracts.base import dump
from contracts.lti import GradePostSchema
from services.webhooks import domain, grades, lms

log = logging.getLogger("praxis.lti.grades")
COLLECTION = "grade_posts"


def _iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None


def queue(store, school_id, assessment_id, student_id, percent, timestamp, grading_key, comment=None):
    """One post per line item of this school's assessment on a platform that knows
    the student (the score names the student's LMS user id there); a grading
    queued twice (a redelivered event) is queued once. Returns how many were new."""
    now = time.time()
    added = 0
    platforms = {}
    for item in lms.lineitems(store.db, school_id, assessment_id):
        if item["platform_id"] not in platforms:
            platform = lms.platform(store.db, item["platform_id"])
            platforms[item["platform_id"]] = (lms.lms_user(store.db, platform, student_id)
                                              if platform and platform["school_id"] == school_id else None)
        user_id = platforms[item["platform_id"]]
        if user_id is None:  # the student is nobody on that LMS: it has no score to receive
            continue
        post = {"_id": grades.post_id(item["_id"], student_id, grading_key), "school_id": school_id,
                "platform_id": item["platform_id"], "assessment_id": assessment_id, "student_id": student_id,
                "lineitem": item["lineitem"], "score": grades.score_document(user_id, percent, timestamp, comment),
                "status": "pending", "attempts": 0, "due_ts": now, "first_ts": now, "created_ts": now}
        added += store.add_grade_post(post)
    return added


def post_due(store, policy, batch=50):
    while True:
        due = store.due(time.time(), batch, COLLECTION)
        for post in due:
            post_one(store, post["_id"], policy)
        if len(due) < batch:
            return


def post_one(store, post_id, policy):
    post = store.claim(post_id, time.time(), lease=120, collection=COLLECTION)
    if post is None:
        return
    extra = {"platform_id": post["platform_id"], "school_id": post["school_id"], "user": post["student_id"],
             "assessment_id": post["assessment_id"], "grade_post_id": post_id}
    platform = lms.platform(store.db, post["platform_id"])
    if platform is None or platform["school_id"] != post["school_id"]:
        store.update_delivery(post_id, {"status": "failed", "last_error": "the platform is no longer registered"},
                              COLLECTION)
        log.error("grade post dropped: platform gone", extra={**extra, "outcome": "failed"})
        return
    status_code, error = None, None
    try:
        lms.CachedConnector(store.db, platform).make_service_request(
            [grades.SCORE_SCOPE], grades.scores_url(post["lineitem"]), is_post=True,
            data=json.dumps(post["score"]), content_type=grades.SCORE_MEDIA_TYPE)
        status_code = 200
    except LtiServiceException as exc:
        status_code, error = exc.response.status_code, f"HTTP {exc.response.status_code} from {exc.response.url}"
    except (LtiException, requests.RequestException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    attempts = post["attempts"] + 1
    if error is None:
        store.update_delivery(post_id, {"status": "posted", "attempts": attempts, "posted_ts": time.time(),
                                        "last_status_code": status_code, "last_error": None}, COLLECTION)
        log.info("grade posted", extra={**extra, "outcome": "posted", "attempt": attempts})
        return
    action, due_ts = domain.after_failure(dict(post, attempts=attempts), time.time(), policy)
    changes = {"attempts": attempts, "last_status_code": status_code, "last_error": error}
    if action == "retry":
        store.update_delivery(post_id, dict(changes, due_ts=due_ts), COLLECTION)
    else:
        store.update_delivery(post_id, dict(changes, status="failed"), COLLECTION)
    log.warning("grade post failed", extra={**extra, "outcome": "retry" if action == "retry" else "failed",
                                            "attempt": attempts, "error": error})


def out(post):
    return dump(GradePostSchema, {
        "id": post["_id"], "platform_id": post["platform_id"], "assessment_id": post["assessment_id"],
        "student_id": post["student_id"], "lineitem": post["lineitem"], "status": post["status"],
        "attempts": post["attempts"], "next_attempt_at": _iso(post["due_ts"]) if post["status"] == "pending" else None,
        "last_status_code": post.get("last_status_code"), "last_error": post.get("last_error"),
        "posted_at": _iso(post.get("posted_ts")), "created_at": _iso(post["created_ts"])})
