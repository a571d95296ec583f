"""Leaving and disbanding a team keep the operation id in the same write on the real
database (a retry of the same operation finds it there and answers as the first run)."""
from services.common.storage import connect
from services.enrollment.models import TeamDoc
from services.enrollment.repository import EnrollmentRepository


def test_a_leave_and_a_disbanding_store_the_operation_ids_with_the_change():
    connect("enrollment")
    repo = EnrollmentRepository()
    TeamDoc._get_collection().insert_one({"_id": "t-ops", "school_id": "jufe", "program_id": "p1", "track": "ug",
                                          "name": "Falcons", "status": "active", "members": ["u0", "u1"], "size": 2,
                                          "rev": 0})
    left = repo.remove_member("t-ops", "u0", [], {"operations": ["op-leave"]})
    assert left["members"] == ["u1"] and left["size"] == 1 and left["operations"] == ["op-leave"]
    disbanded = repo.disband_team("t-ops", [], {"operations": ["op-leave", "op-disband"]})
    assert disbanded["status"] == "disbanded" and disbanded["operations"] == ["op-leave", "op-disband"]
    assert repo.get_team("jufe", "t-ops")["operations"] == ["op-leave", "op-disband"]
    assert repo.remove_member("t-ops", "u1", []) is None  # not active any more
