"""The platform accounts list on the real database server: pages sorted and cut by the
database, with the accounts that only records not folded yet name merged into the
order, each account once, and each record counted once before and after the compaction."""
from datetime import timedelta

from tests.unit.supervision.helpers import ADMIN, START, account_pages, telemetry


def test_pages_of_stored_and_not_yet_folded_accounts_list_each_account_once_in_order(supervision):
    day = START + timedelta(days=1)
    supervision.on_telemetry_ingested(telemetry([(f"r{n}", f"acc-{n:02d}", "login", day) for n in range(0, 16, 2)],
                                                batch_id="b1"))
    supervision.compact("p1")  # acc-00, 02, ..., 14 stored
    supervision.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-02", "student_id": "ann"}]})
    # a second batch, not folded: two accounts nobody has stored yet, and more for a stored one
    supervision.on_telemetry_ingested(telemetry([("s1", "acc-01", "login", day), ("s2", "acc-07", "login", day),
                                                 ("s3", "acc-02", "login", day)], batch_id="b2"))

    expected = sorted([(f"acc-{n:02d}", None, {"login": 1}) for n in (0, 1, 4, 6, 7, 8, 10, 12, 14)]
                      + [("acc-02", "ann", {"login": 2})])
    unmapped = [row for row in expected if row[1] is None]
    assert account_pages(supervision, size=3) == expected
    assert account_pages(supervision, size=4) == expected
    assert account_pages(supervision, size=10) == expected  # a page of more than a few: one query per batch
    assert account_pages(supervision, unmapped=True, size=3) == unmapped
    supervision.compact("p1")
    assert account_pages(supervision, size=3) == expected
    assert account_pages(supervision, unmapped=True, size=3) == unmapped
    assert supervision.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-07", "student_id": "ann"}]}) == {
        "mapped": 1, "unmapped": 8}
