"""LTI roles onto Praxis roles: least privilege, never an admin out of a Learner."""
import pytest

from gateway.lti.tool import LaunchRefused, map_roles, person_of

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
LEARNER = LIS + "membership#Learner"
INSTRUCTOR = LIS + "membership#Instructor"
TA = LIS + "membership/Instructor#TeachingAssistant"
COURSE_ADMIN = LIS + "membership#Administrator"
INSTITUTION_ADMIN = LIS + "institution/person#Administrator"
SYSTEM_ADMIN = LIS + "system/person#Administrator"
STUDENT = LIS + "institution/person#Student"


@pytest.mark.parametrize("roles, expected", [
    ([LEARNER], "student"),
    ([STUDENT], "student"),
    (["Learner"], "student"),
    ([INSTRUCTOR], "staff"),
    ([TA], "staff"),
    ([COURSE_ADMIN], "admin"),
    ([INSTITUTION_ADMIN], "admin"),
    ([SYSTEM_ADMIN, INSTRUCTOR], "admin"),
    ([LEARNER, INSTITUTION_ADMIN], "student"),
    ([LEARNER, INSTRUCTOR], "student"),
    ([STUDENT, SYSTEM_ADMIN], "student"),
    ([LIS + "membership#Mentor"], None),
    ([LIS + "membership#ContentDeveloper"], None),
    ([], None),
    ([42, None], None),
])
def test_lti_roles_map_to_the_least_praxis_role_they_justify(roles, expected):
    assert map_roles(roles) == expected


PLATFORM = {"_id": "p1", "school_id": "jufe", "issuer": "https://lms.jufe.edu.cn"}


def mapped(claims):
    """A stand-in for the LTI store recording the launch (the person the LMS user is)."""
    return f"person-of:{claims['sub']}:{claims['context']['id']}"


def test_the_person_of_a_launch_is_the_registrations_school_and_the_person_the_lms_user_maps_onto():
    body = {"sub": "u-7", "https://purl.imsglobal.org/spec/lti/claim/roles": [INSTRUCTOR],
            "https://purl.imsglobal.org/spec/lti/claim/context": {"id": "course-1"}, "name": "Li Wei"}
    person = person_of(PLATFORM, body, mapped)
    assert person["school_id"] == "jufe" and person["role"] == "lms" and person["lms_user_id"] == "u-7"
    assert person["acting"] == {"kind": "staff", "id": "person-of:u-7:course-1"}
    assert person["context_id"] == "course-1"
    admin = person_of(PLATFORM, dict(body, **{"https://purl.imsglobal.org/spec/lti/claim/roles": [SYSTEM_ADMIN]}),
                      mapped)
    assert admin["role"] == "admin" and admin["acting"]["kind"] == "staff"


@pytest.mark.parametrize("sub", [None, "", "a b", "x" * 121, 7])
def test_a_launch_without_a_usable_user_id_is_refused(sub):
    with pytest.raises(LaunchRefused) as refused:
        person_of(PLATFORM, {"sub": sub, "https://purl.imsglobal.org/spec/lti/claim/roles": [LEARNER]}, mapped)
    assert refused.value.status == 403
