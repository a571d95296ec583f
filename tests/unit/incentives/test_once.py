"""A write run twice by one operation (the gateway's retry with the same
Idempotency-Key after the first run's reply was lost: incentives killed between its
write and its answer) answers as the first run did, not 409, and is applied once: a
reversal, an appeal, a cancelled redemption. Another operation is still refused."""
import pytest

from contracts.errors import Conflict
from tests.unit.incentives.test_service import ADMIN, balance, give, item, service, student  # noqa: F401  (fixture)


def test_a_reversal_run_again_by_the_same_operation_answers_the_reversal(service):  # noqa: F811
    give(service, "ann", 10)
    penalty = give(service, "ann", -4, op="pen")
    caller = {**ADMIN, "operation_id": "op-reverse-1"}
    first = service.reverse(caller, penalty["id"], {"reason": "entered by mistake"})
    assert service.reverse(caller, penalty["id"], {"reason": "entered by mistake"}) == first
    assert balance(service, "ann") == 10
    with pytest.raises(Conflict):
        service.reverse({**ADMIN, "operation_id": "op-reverse-2"}, penalty["id"], {"reason": "again"})


def test_an_appeal_made_again_by_the_same_operation_answers_the_appeal(service):  # noqa: F811
    give(service, "ann", 10)
    penalty = give(service, "ann", -4, op="pen")
    caller = {**student("ann"), "operation_id": "op-appeal-1"}
    first = service.appeal(caller, penalty["id"], {"reason": "I was ill"})
    assert service.appeal(caller, penalty["id"], {"reason": "I was ill"}) == first
    with pytest.raises(Conflict):
        service.appeal({**student("ann"), "operation_id": "op-appeal-2"}, penalty["id"], {"reason": "again"})


def test_a_cancellation_run_again_by_the_same_operation_answers_the_cancellation(service):  # noqa: F811
    give(service, "ann", 25)
    visit = item(service)
    made = service.redeem({**student("ann"), "operation_id": "r1"}, {"item_id": visit["id"], "student_id": "ann"})
    caller = {**ADMIN, "operation_id": "op-cancel-1"}
    first = service.cancel_redemption(caller, made["id"], {"reason": "visit postponed"})
    assert service.cancel_redemption(caller, made["id"], {"reason": "visit postponed"}) == first
    assert balance(service, "ann") == 25 and len(service.store.published("redemption.cancelled.v1")) == 1
    with pytest.raises(Conflict):
        service.cancel_redemption({**ADMIN, "operation_id": "op-cancel-2"}, made["id"], {"reason": "again"})
