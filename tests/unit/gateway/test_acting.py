"""X-Acting-User: who the key acts for is a validated identity, not free text."""
import pytest
from flask import Flask, g

from gateway import auth
from services.common.acting import acting_student, audit, ensure_self, is_staff
from contracts.errors import Forbidden


def _parse(role, header):
    app = Flask(__name__)
    headers = {} if header is None else {auth.ACTING_HEADER: header}
    with app.test_request_context(headers=headers):
        return auth._acting_person(role)


@pytest.mark.parametrize("header", ["s0001", "student:", "teacher:t1", "student:a b",
                                    "student:" + "x" * 121, "student:\x00x", "student:é"])
def test_a_malformed_acting_user_is_refused_with_400_and_the_reason(header):
    person, refusal = _parse("lms", header)
    assert person is None and refusal.status_code == 400
    assert auth.ACTING_HEADER in refusal.get_json()["errors"]


def test_the_lms_acts_for_a_student_or_staff():
    assert _parse("lms", "student:s0001")[0] == {"kind": "student", "id": "s0001"}
    assert _parse("lms", "staff:t-7")[0] == {"kind": "staff", "id": "t-7"}
    assert _parse("lms", None)[0] == {"kind": None, "id": None}


@pytest.mark.parametrize("role", ["admin", "partner"])
def test_admin_and_partner_keys_never_act_as_a_student(role):
    person, refusal = _parse(role, "student:s0001")
    assert person is None and refusal.status_code == 403
    assert _parse(role, "staff:mentor-1")[0] == {"kind": "staff", "id": "mentor-1"}


def _guarded(role, person, *kinds):
    app = Flask(__name__)
    view = auth.acting(*kinds)(lambda: "done")
    with app.test_request_context():
        g.caller = {"role": role, "acting": person}
        return view()


def test_a_route_admits_only_the_acting_kinds_it_lists():
    assert _guarded("lms", {"kind": "student", "id": "s1"}, "student") == "done"
    assert _guarded("lms", {"kind": "staff", "id": "t1"}, "student").status_code == 403
    assert _guarded("lms", {"kind": None, "id": None}, "student").status_code == 400
    assert _guarded("admin", {"kind": None, "id": None}, "student") == "done"


def test_a_student_acts_only_on_their_own_records_and_audit_keeps_key_and_person_apart():
    student = {"role": "lms", "key_id": "k2", "acting": {"kind": "student", "id": "s1"}}
    assert acting_student(student) == "s1" and not is_staff(student)
    ensure_self(student, "s1")
    with pytest.raises(Forbidden):
        ensure_self(student, "s2")
    assert audit(student) == {"key_id": "k2", "role": "lms", "person": "student:s1"}
    staff = {"role": "lms", "key_id": "k2", "acting": {"kind": "staff", "id": "t1"}}
    assert is_staff(staff) and acting_student(staff) is None
    assert is_staff({"role": "admin", "key_id": "k1"})
