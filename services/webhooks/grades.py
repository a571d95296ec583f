"""Grade passback (LTI Assignment and Grade Services 2.0) as plain functions:
the score document, where it goes, and the key that makes a post idempotent.

A post is keyed by the line item, the student and the grading it reports (the
submission or override and its time): a redelivered grading event finds the post
already there. The score's ``timestamp`` is the grading's time, so a platform
that receives a post twice, or an older grading after a newer one, keeps the
newest (AGS 2.0 section 3.4: the platform ignores a score older than the last).
"""
import hashlib
from urllib.parse import urlparse, urlunparse

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"


def post_id(lineitem_id, student_id, grading_key):
    return hashlib.sha256(f"{lineitem_id}\n{student_id}\n{grading_key}".encode()).hexdigest()[:40]


def scores_url(lineitem_url):
    """``<line item>/scores``, keeping the line item's query string (AGS 2.0 3.4)."""
    parts = urlparse(lineitem_url)
    return urlunparse(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def score_document(user_id, percent, timestamp, comment=None):
    """The Score the platform receives: the counted percentage of a fully graded activity."""
    score = {"userId": user_id, "scoreGiven": round(float(percent), 4), "scoreMaximum": 100,
             "activityProgress": "Completed", "gradingProgress": "FullyGraded", "timestamp": timestamp}
    if comment:
        score["comment"] = comment[:1000]
    return score
