"""The roster's pages on the real database: admitted applications and those withdrawn
after admission, merged in roster order, every row once whatever the page size; a
withdrawal before admission and another programme's students never appear."""
import random
from datetime import datetime, timezone

import pytest

from services.common.storage import connect
from services.enrollment.models import ApplicationDoc
from services.enrollment.repository import EnrollmentRepository


def application(n, program_id, status, previous_status=None, track=None):
    return {"_id": f"{program_id}-a{n:03d}", "live_key": f"{program_id}:{n}", "school_id": "jufe",
            "program_id": program_id, "track": track or ("ug" if n % 3 else "vocational"),
            "student_id": f"s{n:03d}", "name": f"Student {n % 17:02d}", "status": status,
            "previous_status": previous_status, "major": "Commerce", "year_of_study": 2, "promoted": n % 5 == 0,
            "submitted_at": datetime(2026, 12, 1, tzinfo=timezone.utc), "submitted_by": "lms:test", "rev": 0}


@pytest.fixture
def repo():
    connect("enrollment")
    ApplicationDoc.ensure_indexes()
    rnd = random.Random(7)
    docs = []
    for n in range(120):
        status, previous = "admitted", None
        if n % 9 == 0:
            status, previous = "withdrawn", "admitted"
        elif n % 13 == 0:
            status, previous = "withdrawn", "submitted"  # never admitted: no roster row
        elif n % 11 == 0:
            status = "waitlisted"
        docs.append(application(n, "p-roster", status, previous))
    docs += [application(n, "p-other", "admitted") for n in range(10)]
    rnd.shuffle(docs)
    ApplicationDoc._get_collection().insert_many(docs)
    return EnrollmentRepository(), docs


def test_the_roster_pages_hold_every_row_once_in_roster_order_at_any_page_size(repo):
    store, docs = repo
    expected = sorted((d for d in docs if d["program_id"] == "p-roster"
                       and (d["status"] == "admitted" or d["previous_status"] == "admitted")),
                      key=lambda d: (d["track"], d["name"], d["student_id"]))
    assert any(d["status"] == "withdrawn" for d in expected)
    whole = [a["id"] for a in store.roster_applications("jufe", "p-roster", 0, 1000)]
    assert whole == [d["_id"] for d in expected]
    for size in (1, 7, 10, 50):
        pages = [store.roster_applications("jufe", "p-roster", offset, size)
                 for offset in range(0, len(expected) + size, size)]
        assert [a["id"] for page in pages for a in page] == whole, size
        assert all(len(page) == size for page in pages[:len(expected) // size])


def test_a_roster_row_reads_only_what_it_shows(repo):
    store, _ = repo
    [row] = store.roster_applications("jufe", "p-roster", 0, 1)
    assert set(row) <= {"id", "track", "name", "student_id", "major", "year_of_study", "status",
                        "previous_status", "promoted"}
