"""A change run twice by one operation (the gateway's retry with the same
Idempotency-Key after the first run's reply was lost: content killed between its
write and its answer) is applied once: an attendance correction (one event), an
answer to a question, a new version of a material."""
from contracts.content import ATTENDANCE_RECORDED
from tests.unit.content.test_service import ADMIN, scheduled_session, service  # noqa: F401  (fixture)


def once(caller, operation):
    return {**caller, "operation_id": operation}


def test_a_correction_run_again_by_the_same_operation_is_recorded_once(service):  # noqa: F811
    session = scheduled_session(service)
    caller = once(ADMIN, "op-correct-1")
    body = {"status": "excused", "reason": "at the hospital"}
    first = service.correct_attendance(caller, session["id"], "ann", body)
    again = service.correct_attendance(caller, session["id"], "ann", body)
    assert again == first and len(again["history"]) == 1
    assert [e["type"] for e in service.store.attendance.all_events()] == [ATTENDANCE_RECORDED.type]


def test_an_answer_run_again_by_the_same_operation_is_stored_once(service):  # noqa: F811
    session = scheduled_session(service)
    question = service.ask_question(ADMIN, session["id"], {"student_id": "ann", "text": "where is room 1?"})
    caller = once(ADMIN, "op-answer-1")
    first = service.answer_question(caller, question["id"], {"author_id": "t1", "text": "second floor"})
    again = service.answer_question(caller, question["id"], {"author_id": "t1", "text": "second floor"})
    assert again == first and len(again["answers"]) == 1


def test_a_material_version_added_again_by_the_same_operation_is_added_once(service):  # noqa: F811
    material = service.create_material(ADMIN, {"program_id": "p1", "module": "ops", "title": "Slides",
                                               "kind": "slides", "body": "v1"})
    caller = once(ADMIN, "op-version-1")
    first = service.add_material_version(caller, material["id"], {"body": "v2"})
    again = service.add_material_version(caller, material["id"], {"body": "v2"})
    assert again == first and len(again["versions"]) == 2
