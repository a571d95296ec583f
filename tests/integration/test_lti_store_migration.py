"""An earlier version kept the LTI store in the gateway's database and used LMS
user ids as Praxis ids: ``praxis lti migrate-store`` moves the store into the
webhooks service, once, and the LMS users Praxis already knew keep their ids."""
import json
import time

from mongoengine.connection import get_db

from gateway.cli import main
from gateway.db import get_db as gateway_db
from services.webhooks.links import context_key
from services.webhooks.platforms import FIELDS, platform_id
from tests.integration.lti_helpers import app, platforms, webhooks  # noqa: F401  (fixtures)
from tests.integration.lti_helpers import launch, whoami
from tests.lti_platform import LEARNER


def test_the_old_store_moves_once_and_known_lms_users_keep_their_ids(app, platforms, webhooks, capsys):
    platform = platforms()
    body = platform.registration_body()
    pid = platform_id(body["issuer"], body["client_id"])
    old = gateway_db()
    old.lti_platforms.insert_one({**{k: body.get(k) for k in FIELDS}, "_id": pid, "school_id": "jufe",
                                  "created_at": "2026-11-01T00:00:00+00:00", "created_by": "admin:k0"})
    course = context_key(pid, "course-1")
    old.lti_contexts.insert_one({"_id": course, "school_id": "jufe", "platform_id": pid, "context_id": "course-1",
                                 "title": "", "memberships_url": "https://lms/m", "lineitems_url": None,
                                 "updated_ts": time.time()})
    new = get_db("webhooks")
    new.rosters.insert_one({"_id": f"{course}:p1", "members": ["stu-old", "teacher-old"]})
    new.grade_posts.insert_one({"_id": "g1", "platform_id": pid, "student_id": "stu-graded", "school_id": "jufe"})

    main(["lti", "migrate-store"])
    assert json.loads(capsys.readouterr().out) == {"lti_platforms": 1, "lti_keys": 0, "lti_contexts": 1,
                                                   "lti_lineitems": 0, "lti_people": 3}
    main(["lti", "migrate-store"])  # again: nothing twice
    assert set(json.loads(capsys.readouterr().out).values()) == {0}

    # the registration launches from the service's store; a known LMS user keeps their Praxis id
    known, newcomer = app.test_client(), app.test_client()
    assert launch(known, platform, "stu-old", [LEARNER])[0].status_code == 302
    assert whoami(known)["acting"]["id"] == "stu-old"
    launch(newcomer, platform, "stu-new", [LEARNER])
    assert whoami(newcomer)["acting"]["id"].startswith("lti-")
