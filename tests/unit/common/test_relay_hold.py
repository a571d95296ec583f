"""Bulk work holds the outbox relay of its process (services.common.events.holding_relay):
held while the work runs, released when it ends (also on an error), and never longer
than RELAY_HOLD_SECONDS, so the events it stored are always published."""
import pytest

from services.common import events


def test_the_relay_is_held_while_the_work_runs_and_released_after():
    assert not events.relay_held()
    with events.holding_relay():
        assert events.relay_held()
        with events.holding_relay():
            assert events.relay_held()
        assert events.relay_held()  # the outer hold still runs
    assert not events.relay_held()


def test_a_failing_work_releases_the_relay():
    with pytest.raises(RuntimeError):
        with events.holding_relay():
            raise RuntimeError("the job failed")
    assert not events.relay_held()


def test_a_hold_longer_than_its_bound_no_longer_holds(monkeypatch):
    with events.holding_relay():
        monkeypatch.setattr(events, "RELAY_HOLD_SECONDS", 0.0)
        assert not events.relay_held()  # the events of a hung job are published anyway
