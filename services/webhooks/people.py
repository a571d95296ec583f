"""Who an LMS user is in Praxis: ``(school, platform issuer, LMS sub)`` -> a Praxis
person id, made on the first launch or roster sync that names the user, reused
afterwards (``lti_people`` in praxis_webhooks, ``_id`` derived from the triple, so concurrent first
launches find one person).

The person id is what Praxis knows the user by: the acting student or staff id of
the launch session, the student id of an application a roster sync makes, the
student whose grades go back to that LMS (posted for the LMS user id, the ``sub``).
An LMS's user ids are never Praxis ids: two platforms (or two schools) with the
same ``sub`` are different people.
"""
import hashlib
import time
import uuid

from pymongo.errors import DuplicateKeyError



def person_key(school_id, issuer, sub):
    return hashlib.sha256(f"{school_id}\n{issuer}\n{sub}".encode()).hexdigest()[:32]


def person_for(db, school_id, issuer, sub, name="", email=None):
    """The person this LMS user is (made now if new); the name and email the LMS
    gives last are kept. Returns the mapping record (``person_id``, ``sub``, ...)."""
    key = person_key(school_id, issuer, sub)
    found = db.lti_people.find_one({"_id": key})
    if found is None:
        record = {"_id": key, "school_id": school_id, "issuer": issuer, "sub": sub,
                  "person_id": "lti-" + uuid.uuid4().hex[:24], "name": name or "", "email": email,
                  "created_ts": time.time()}
        try:
            db.lti_people.insert_one(record)
            return record
        except DuplicateKeyError:  # the same user's first launch in another worker won
            found = db.lti_people.find_one({"_id": key})
    if (name and name != found.get("name")) or (email and email != found.get("email")):
        found = dict(found, name=name or found.get("name"), email=email or found.get("email"))
        db.lti_people.replace_one({"_id": key}, found)
    return found


def lms_user_of(db, school_id, issuer, person_id):
    """The LMS user id (``sub``) of this school's person on that platform, or None
    (the person is not known to that LMS)."""
    found = db.lti_people.find_one({"person_id": person_id})
    if found is None or found["school_id"] != school_id or found["issuer"] != issuer:
        return None
    return found["sub"]
