"""Learning records as xAPI statements, delivered to a Learning Record Store.

A statement is made from the event that carries the fact (a session attended, a
replay watched, a submission handed in); its id is a UUID derived from the event id,
so the same fact is always the same statement and the LRS keeps it once. The actor
is the student's account on the school's LMS (``homePage`` = PRAXIS_LMS_HOME/<school>).
Verbs and activity types are ADL's; activity ids live under PRAXIS_XAPI_BASE
(documented in the README). Statements are validated with ralph's xAPI models
before they are stored for delivery.
"""
import os
import uuid

import requests

# a fixed namespace: statement id = uuid5(namespace, event id)
NAMESPACE = uuid.UUID("5b0e9f5e-3f57-4c45-8a3c-7d1f0b8f2a61")
VERBS = {
    "attended": ("http://adlnet.gov/expapi/verbs/attended", "attended"),
    "experienced": ("http://adlnet.gov/expapi/verbs/experienced", "watched the replay of"),
    "completed": ("http://adlnet.gov/expapi/verbs/completed", "handed in"),
}
MEETING = "http://adlnet.gov/expapi/activities/meeting"
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"


def base():
    return os.environ.get("PRAXIS_XAPI_BASE", "https://praxis.example/xapi").rstrip("/")


def lms_home(school_id):
    return f"{os.environ.get('PRAXIS_LMS_HOME', 'https://lms.example').rstrip('/')}/{school_id}"


def statement_id(event_id):
    return str(uuid.uuid5(NAMESPACE, event_id))


def statement(event_id, school_id, student_id, verb, activity_id, activity_type, name, timestamp, program_id):
    verb_id, display = VERBS[verb]
    return {
        "id": statement_id(event_id),
        "actor": {"objectType": "Agent", "account": {"homePage": lms_home(school_id), "name": student_id}},
        "verb": {"id": verb_id, "display": {"en-US": display}},
        "object": {"objectType": "Activity", "id": activity_id,
                   "definition": {"type": activity_type, "name": {"en-US": name}}},
        "context": {"contextActivities": {"grouping": [{"objectType": "Activity",
                                                        "id": f"{base()}/programs/{program_id}"}]}},
        "timestamp": timestamp,
    }


def from_attendance(event, session_title=None):
    p = event.payload
    verb = "experienced" if p["status"] == "watched_replay" else "attended"
    return statement(event.event_id, event.school_id, p["student_id"], verb,
                     f"{base()}/sessions/{p['session_id']}", MEETING, session_title or f"session {p['session_id']}",
                     event.occurred_at.isoformat(), p["program_id"])


def from_submission(event, title=None):
    p = event.payload
    return statement(event.event_id, event.school_id, p["student_id"], "completed",
                     f"{base()}/assessments/{p['assessment_id']}", ASSESSMENT, title or p["assessment_id"],
                     p["submitted_at"].isoformat(), p["program_id"])


def validate(statement_dict):
    """Check a statement against ralph's xAPI models; raise ValueError with the reason."""
    from pydantic import ValidationError
    from ralph.models.xapi.base.statements import BaseXapiStatement
    try:
        BaseXapiStatement(**statement_dict)
    except ValidationError as exc:
        raise ValueError(f"not a valid xAPI statement: {exc.errors()[:3]}") from exc
    return statement_dict


class LrsClient:
    """POST /xAPI/statements on an LRS (ralph's, or any conformant one)."""

    def __init__(self, url=None, auth=None, timeout=10):
        self.url = (url or os.environ.get("PRAXIS_LRS_URL", "")).rstrip("/")
        user, _, password = (auth or os.environ.get("PRAXIS_LRS_AUTH", "")).partition(":")
        self.auth = (user, password) if user else None
        self.timeout = timeout

    @property
    def configured(self):
        return bool(self.url)

    def send(self, statements):
        """Deliver statements; return the ids the LRS now holds. A batch the LRS
        refuses as a whole because some ids are known already (409) is sent one by one:
        a known id counts as delivered (the ids are derived from the events)."""
        headers = {"X-Experience-API-Version": "1.0.3"}
        response = requests.post(f"{self.url}/xAPI/statements", json=statements, auth=self.auth,
                                 headers=headers, timeout=self.timeout)
        if response.status_code == 200:
            return [s["id"] for s in statements]
        if response.status_code != 409:
            response.raise_for_status()
        held = []
        for one in statements:
            single = requests.put(f"{self.url}/xAPI/statements", params={"statementId": one["id"]}, json=one,
                                  auth=self.auth, headers=headers, timeout=self.timeout)
            if single.status_code in (200, 204, 409):
                held.append(one["id"])
        return held
