"""Moving an existing deployment's LTI store from the gateway's database
(praxis_gateway, where it lived before the webhooks service owned it) into
praxis_webhooks: ``praxis lti migrate-store``. Run it once after the upgrade,
before the first launch; running it again copies nothing twice.

- registrations, the schools' signing keys, courses and line items are copied by
  ``_id`` (a document the service already has is kept: the service's is newer);
- before Praxis mapped LMS users onto people, an LMS user id *was* the Praxis id:
  the users the service knows of (roster members, students with grade posts) keep
  theirs (``person_id`` = the LMS user id), so their applications, attendance and
  grades stay theirs.
The old collections are left in the gateway's database for the operator to drop.
"""
import time

from pymongo.errors import DuplicateKeyError

from services.webhooks.people import person_key

COLLECTIONS = ("lti_platforms", "lti_keys", "lti_contexts", "lti_lineitems")


def _insert_new(collection, document):
    try:
        collection.insert_one(document)
        return 1
    except DuplicateKeyError:
        return 0


def _legacy_person(db, platform, user_id):
    """The LMS user keeps their LMS id as their Praxis id (unless mapped already)."""
    key = person_key(platform["school_id"], platform["issuer"], user_id)
    if db.lti_people.find_one({"_id": key}) is not None or db.lti_people.find_one({"person_id": user_id}):
        return 0
    return _insert_new(db.lti_people, {"_id": key, "school_id": platform["school_id"], "issuer": platform["issuer"],
                                       "sub": user_id, "person_id": user_id, "name": "", "email": None,
                                       "created_ts": time.time(), "legacy": True})


def migrate(gateway_db, webhooks_db):
    """Copy the LTI store; returns how many documents each collection gained."""
    copied = {name: sum(_insert_new(webhooks_db[name], document) for document in gateway_db[name].find())
              for name in COLLECTIONS}
    platforms = {p["_id"]: p for p in webhooks_db.lti_platforms.find()}
    people = 0
    for roster in webhooks_db.rosters.find():  # _id: f"{context key}:{program id}"
        context = webhooks_db.lti_contexts.find_one({"_id": roster["_id"].split(":", 1)[0]})
        platform = platforms.get((context or {}).get("platform_id"))
        if platform is not None:
            people += sum(_legacy_person(webhooks_db, platform, user_id) for user_id in roster.get("members", []))
    for post in webhooks_db.grade_posts.find({}, {"platform_id": 1, "student_id": 1}):
        platform = platforms.get(post["platform_id"])
        if platform is not None:
            people += _legacy_person(webhooks_db, platform, post["student_id"])
    copied["lti_people"] = people
    return copied
