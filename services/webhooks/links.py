"""LTI Advantage endpoints a launch tells Praxis about, remembered (in
praxis_webhooks, from the gateway's ``lti_launched`` RPC) for later service calls
made without a user (grade passback, roster sync).

- ``lti_lineitems``: an assessment's line item in an LMS course (AGS claim
  ``lineitem`` of a launch whose link targets ``assessment:<id>``), ``_id`` derived
  from platform and line item URL. Grades of the school's assessment go there.
- ``lti_contexts``: a course (context) of a platform: its NRPS membership URL and
  AGS line items URL, ``_id`` = platform + context id.

Only launches validated for a registration write here, and both records carry
that registration's school: another school's platform never receives this
school's grades nor syncs into its programmes.
"""
import hashlib
import time


SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def lineitem_id(platform_id, lineitem_url):
    return hashlib.sha256(f"{platform_id}\n{lineitem_url}".encode()).hexdigest()[:32]


def context_key(platform_id, context_id):
    return hashlib.sha256(f"{platform_id}\n{context_id}".encode()).hexdigest()[:32]


def remember(db, platform, claims):
    """Record what the launch says about its course and line item (``claims``:
    contracts.lti.LaunchedSchema: context, ags, nrps, target)."""
    now = time.time()
    ags = claims.get("ags") or {}
    nrps = claims.get("nrps") or {}
    context = claims.get("context") or {}
    target = claims.get("target")
    if context.get("id"):
        key = context_key(platform["_id"], context["id"])
        known = db.lti_contexts.find_one({"_id": key}) or {}
        # a launch without the services' claims (another link of the course) keeps what an earlier one said
        db.lti_contexts.replace_one({"_id": key}, {
            "_id": key, "school_id": platform["school_id"], "platform_id": platform["_id"],
            "context_id": context["id"], "title": context.get("title") or known.get("title") or "",
            "memberships_url": nrps.get("context_memberships_url") or known.get("memberships_url"),
            "lineitems_url": ags.get("lineitems") or known.get("lineitems_url"),
            "updated_ts": now}, upsert=True)
    kind, _, item = (target or "").partition(":")
    if kind == "assessment" and item and ags.get("lineitem") and SCORE_SCOPE in (ags.get("scope") or []):
        key = lineitem_id(platform["_id"], ags["lineitem"])
        db.lti_lineitems.replace_one({"_id": key}, {
            "_id": key, "school_id": platform["school_id"], "platform_id": platform["_id"],
            "assessment_id": item, "lineitem": ags["lineitem"], "context_id": context.get("id"),
            "updated_ts": now}, upsert=True)


def lineitems_of(db, school_id, assessment_id):
    return list(db.lti_lineitems.find({"school_id": school_id, "assessment_id": assessment_id}))


def context_of(db, school_id, key):
    found = db.lti_contexts.find_one({"_id": key})
    return found if found is not None and found["school_id"] == school_id else None


def contexts_of(db, school_id):
    return list(db.lti_contexts.find({"school_id": school_id}))
