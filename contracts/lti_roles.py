"""LTI roles onto Praxis's: the one rule the gateway applies to a launch and the
webhooks service to a roster (NRPS) member, so that both read a role alike."""

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
LEARNER_NAMES = {"Learner", "Student", "ProspectiveStudent"}
STAFF_NAMES = {"Instructor", "TeachingAssistant", "Faculty"}


def _parse_role(uri):
    """``(scope, name)``: scope is ``membership`` (context), ``institution``,
    ``system`` or None (a short name such as "Learner")."""
    if not uri.startswith(LIS):
        return None, uri
    rest = uri[len(LIS):]  # membership#Learner, membership/Instructor#TeachingAssistant, institution/person#Administrator
    head, _, name = rest.partition("#")
    scope = head.split("/")[0]
    return (scope if scope in ("membership", "institution", "system") else None), name


def map_roles(role_uris):
    """LTI roles -> ``student``, ``staff`` or ``admin`` (None: no role Praxis admits).

    Least privilege wins: anyone who is a Learner anywhere in the launch is a
    student, so a launch never makes an admin (or staff) out of a Learner.
    Administrator (system, institution or course) -> admin; Instructor or
    TeachingAssistant -> staff.
    """
    parsed = [_parse_role(uri) for uri in role_uris if isinstance(uri, str)]
    names = {name for _, name in parsed}
    if names & LEARNER_NAMES:
        return "student"
    if "Administrator" in names:
        return "admin"
    if names & STAFF_NAMES:
        return "staff"
    return None
