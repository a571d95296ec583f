"""A withdrawal, leaving a team and disbanding it, run twice by one operation (the
gateway's retry with the same Idempotency-Key after the first run's reply was lost:
enrollment killed between its write and its answer) answer as the first run and are
applied once; another operation on the changed record still answers 409 or 404."""
import pytest

from contracts.enrollment import STUDENT_WITHDRAWN, TEAM_CHANGED
from contracts.errors import Conflict, NotFound
from tests.unit.enrollment.test_enrollment_service import (ADMIN, LMS, admitted, events, form, selected,  # noqa: F401
                                                           service)


def once(caller, operation):
    return {**caller, "operation_id": operation}


def test_a_withdrawal_run_again_by_the_same_operation_answers_the_withdrawal(service):  # noqa: F811
    _, apps = selected(service)
    caller = once(LMS, "op-withdraw-1")
    first = service.withdraw(caller, apps[0]["id"], {"reason": "moved abroad"})
    again = service.withdraw(caller, apps[0]["id"], {"reason": "moved abroad"})
    assert again == first and first["status"] == "withdrawn"
    assert len(events(service, STUDENT_WITHDRAWN)) == 1
    with pytest.raises(Conflict):  # another operation: withdrawn already
        service.withdraw(once(LMS, "op-withdraw-2"), apps[0]["id"], {})


def test_leaving_a_team_run_again_by_the_same_operation_answers_the_leave(service, admitted):  # noqa: F811
    team = form(service, admitted, ["u0", "u1", "u2"])
    caller = once(LMS, "op-leave-1")
    first = service.leave_team(caller, team["id"], "u0")
    again = service.leave_team(caller, team["id"], "u0")
    assert again == first and first["members"] == ["u1", "u2"]
    assert [e.payload["change"] for e in events(service, TEAM_CHANGED)] == ["left"]
    with pytest.raises(NotFound):  # another operation: not a member any more
        service.leave_team(once(LMS, "op-leave-2"), team["id"], "u0")


def test_disbanding_run_again_by_the_same_operation_answers_the_disbanding(service, admitted):  # noqa: F811
    team = form(service, admitted, ["u0", "u1"])
    caller = once(ADMIN, "op-disband-1")
    first = service.disband_team(caller, team["id"])
    again = service.disband_team(caller, team["id"])
    assert again == first and first["status"] == "disbanded"
    assert [e.payload["change"] for e in events(service, TEAM_CHANGED)] == ["disbanded"]
    with pytest.raises(Conflict):  # another operation: disbanded already
        service.disband_team(once(ADMIN, "op-disband-2"), team["id"])
