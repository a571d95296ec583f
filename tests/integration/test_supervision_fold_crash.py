"""Stored telemetry is folded (compacted) into accounts and then into students in
separate writes (the real database: no transaction spans them), several batches at
once. Killed between the writes, or run again after them, a batch still counts once
per account and student, and reads show it once meanwhile; batches folded together
where an account folded one of them already count the others once too."""
from datetime import timedelta

import pytest
from pymongo.errors import ConnectionFailure

from tests.unit.supervision.helpers import ADMIN, START, admitted, telemetry

DAY = timedelta(days=1)


@pytest.fixture
def supervision(supervision):  # the conftest's worker, with two students and their accounts
    service = supervision
    for student in ("ann", "bob"):
        service.on_student_admitted(admitted(student))
    service.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-ann", "student_id": "ann"},
                                                    {"account_id": "acc-bob", "student_id": "bob"}]})
    return service


def killed(*_, **__):
    raise ConnectionFailure("killed between the account and the student writes")


def logins(service, student_id):
    return service.student_activity(ADMIN, "p1", student_id)["platform_counts"]["login"]


def account_logins(service, account_id):
    accounts = service.list_accounts(ADMIN, "p1", {})["items"]
    return next(a["counts"].get("login", 0) for a in accounts if a["account_id"] == account_id)


def batch(batch_id, *records):
    return telemetry([(f"{batch_id}-{n}", account, "login", START + DAY * (n + 1))
                      for n, account in enumerate(records)], batch_id=batch_id)


def folded_logins(service, key):
    """The login count folded into a stored account or student (what reads start from)."""
    record = service.store.accounts.get(key) or service.store.students.get(key)
    return (record.get("platform") or record)["counts"].get("login", 0)


def noted_again(service, *events):
    """The batches stored and noted for the compaction again (a redelivery after a
    compaction that died before it forgot them)."""
    for event in events:
        item = service._store_batch(event)
        service.store.add_unfolded(item["batch_id"], "p1", "jufe", START.timestamp())


def test_a_compaction_killed_after_the_accounts_were_folded_counts_once_when_it_runs_again(supervision, monkeypatch):
    supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob"))
    monkeypatch.setattr(supervision, "_change_students", killed)
    with pytest.raises(ConnectionFailure):
        supervision.compact("p1")
    monkeypatch.undo()
    assert folded_logins(supervision, "p1:acc-ann") == 2  # the accounts' write was made
    assert folded_logins(supervision, "p1:ann") == 0      # the students' was not
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 1)  # reads add the batch
    supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob"))  # redelivered
    supervision.compact("p1")
    noted_again(supervision, batch("b1", "acc-ann", "acc-ann", "acc-bob"))
    supervision.compact("p1")
    assert (folded_logins(supervision, "p1:ann"), folded_logins(supervision, "p1:bob")) == (2, 1)
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 1)
    assert (account_logins(supervision, "acc-ann"), account_logins(supervision, "acc-bob")) == (2, 1)


def test_batches_folded_together_count_once_where_an_account_folded_one_already(supervision, monkeypatch):
    supervision.on_telemetry_ingested(batch("b1", "acc-ann"))
    monkeypatch.setattr(supervision, "_change_students", killed)
    with pytest.raises(ConnectionFailure):
        supervision.compact("p1")
    monkeypatch.undo()
    # b1 waits again beside b2 and b3 (one of them on a new account): one compaction takes all three
    supervision.on_telemetry_ingested(batch("b2", "acc-ann", "acc-bob"))
    supervision.on_telemetry_ingested(batch("b3", "acc-new", "acc-bob"))
    supervision.compact("p1")
    noted_again(supervision, batch("b1", "acc-ann"), batch("b2", "acc-ann", "acc-bob"),
                batch("b3", "acc-new", "acc-bob"))
    supervision.compact("p1")  # all three again
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 2)
    assert [account_logins(supervision, a) for a in ("acc-ann", "acc-bob", "acc-new")] == [2, 2, 1]
    # the unmapped account's records count for its student once mapped, and once
    supervision.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-new", "student_id": "ann"}]})
    supervision.on_telemetry_ingested(batch("b3", "acc-new", "acc-bob"))
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (3, 2)
    supervision.compact("p1")
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (3, 2)
    assert (folded_logins(supervision, "p1:ann"), folded_logins(supervision, "p1:bob")) == (3, 2)


def test_reads_on_the_database_add_the_batches_not_folded_yet_once(supervision):
    supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob", "acc-new"))
    assert supervision.store.unfolded_ids("p1") == ["b1"]
    assert (folded_logins(supervision, "p1:ann"), folded_logins(supervision, "p1:bob")) == (0, 0)
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 1)
    assert [account_logins(supervision, a) for a in ("acc-ann", "acc-bob", "acc-new")] == [2, 1, 1]
    rows = {r["student_id"]: r["platform_activity"] for r in supervision.report(ADMIN, "p1")["students"]}
    assert rows == {"ann": 2, "bob": 1}
    supervision.compact("p1")
    assert supervision.store.unfolded_ids("p1") == []
    assert (folded_logins(supervision, "p1:ann"), folded_logins(supervision, "p1:bob")) == (2, 1)
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 1)
    assert [account_logins(supervision, a) for a in ("acc-ann", "acc-bob", "acc-new")] == [2, 1, 1]
    assert {r["student_id"]: r["platform_activity"] for r in supervision.report(ADMIN, "p1")["students"]} == rows
