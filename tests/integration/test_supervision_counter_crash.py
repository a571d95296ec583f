"""Supervision stores a student's stages, then moves the programme's funnel counters
in a second write (the real database: no transaction spans the two). Killed, or the
database gone, between the two or just after the second, the event comes back and
the counters still move once per student and stage."""
import pytest
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure

from tests.unit.supervision.helpers import ADMIN, registered


def killed():
    raise ConnectionFailure("killed between the two writes")


@pytest.mark.parametrize("dies", ["before the counters moved", "after the counters moved"])
def test_a_crash_around_the_counter_write_counts_each_student_once_when_the_event_comes_back(
        supervision, monkeypatch, dies):
    if dies == "before the counters moved":
        monkeypatch.setattr(supervision.store, "count", lambda *_, **__: killed())
    else:  # the programme's $inc is written; the students' write after it is not
        update_many = Collection.update_many
        monkeypatch.setattr(Collection, "update_many", lambda self, *a, **k: (
            killed() if self.name.endswith("students") else update_many(self, *a, **k)))
    with pytest.raises(ConnectionFailure):
        supervision.on_application_submitted(registered("ann"))
    monkeypatch.undo()
    supervision.on_application_submitted(registered("ann"))  # redelivered: ann's stage is stored already
    supervision.on_application_submitted(registered("ann"))  # and once more
    supervision.on_application_submitted(registered("bob"))
    assert supervision.get_funnel(ADMIN, "p1")["stages"]["registered"] == 2
