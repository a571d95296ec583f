"""Telemetry is folded into accounts and then into students in separate writes (the
real database: no transaction spans them), several batches at once. Killed between
the writes, or redelivered after them, a batch still counts once per account and
student; batches folded together where an account folded one of them already count
the others once too."""
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory
from pymongo.errors import ConnectionFailure

from services.common.storage import connect
from services.supervision.repository import SupervisionRepository
from services.supervision.service import SupervisionService
from tests.unit.supervision.helpers import ADMIN, START, admitted, program_created, telemetry

DAY = timedelta(days=1)


@pytest.fixture
def supervision():
    connect("supervision")
    service = worker_factory(SupervisionService, store=SupervisionRepository())
    service.on_program_created(program_created())
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


def test_a_batch_killed_after_its_accounts_were_folded_counts_once_when_it_comes_back(supervision, monkeypatch):
    monkeypatch.setattr(supervision, "_change_students", killed)
    with pytest.raises(ConnectionFailure):
        supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob"))
    monkeypatch.undo()
    assert account_logins(supervision, "acc-ann") == 2  # the accounts' write was made
    assert logins(supervision, "ann") == 0
    supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob"))  # redelivered
    supervision.on_telemetry_ingested(batch("b1", "acc-ann", "acc-ann", "acc-bob"))  # and once more
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 1)
    assert (account_logins(supervision, "acc-ann"), account_logins(supervision, "acc-bob")) == (2, 1)


def test_batches_folded_together_count_once_where_an_account_folded_one_already(supervision, monkeypatch):
    monkeypatch.setattr(supervision, "_change_students", killed)
    with pytest.raises(ConnectionFailure):
        supervision.on_telemetry_ingested(batch("b1", "acc-ann"))
    monkeypatch.undo()
    # b1 comes back while b2 and b3 (one of them on a new account) wait: one fold takes all three
    items = [supervision._store_batch(batch("b1", "acc-ann")),
             supervision._store_batch(batch("b2", "acc-ann", "acc-bob")),
             supervision._store_batch(batch("b3", "acc-new", "acc-bob"))]
    supervision._fold(items, START.timestamp())
    supervision._fold(items, START.timestamp())  # a redelivery of all three
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (2, 2)
    assert [account_logins(supervision, a) for a in ("acc-ann", "acc-bob", "acc-new")] == [2, 2, 1]
    # the unmapped account's records count for its student once mapped, and once
    supervision.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-new", "student_id": "ann"}]})
    supervision.on_telemetry_ingested(batch("b3", "acc-new", "acc-bob"))
    assert (logins(supervision, "ann"), logins(supervision, "bob")) == (3, 2)
