"""bot.rasa_server's cached ``jsonschema.validate`` accepts and rejects exactly what jsonschema's own does, for the
schema Rasa checks action-server replies with, and compiles each schema once; its event-class lookup finds what
Rasa's finds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from bot import rasa_server

SPEC = RemoteAction.action_response_format_spec()


@pytest.fixture(autouse=True)
def no_global_listener_left() -> Iterator[None]:
    """speed_up registers an SQLAlchemy listener for every engine: never leave it to the rest of the suite."""
    yield
    if event.contains(Engine, "connect", rasa_server._sqlite_without_fsync_per_commit):
        event.remove(Engine, "connect", rasa_server._sqlite_without_fsync_per_commit)
VALID = [
    {"events": [{"event": "slot", "name": "topic", "value": "school"}], "responses": [{"text": "Thank you."}]},
    {"events": [], "responses": []},
    {},
]
INVALID = [
    {"events": [{"name": "no event key"}]},
    {"events": "not a list"},
    {"responses": [{"text": "ok"}], "events": [{"event": 7}]},
]


@pytest.mark.parametrize("result", VALID)
def test_accepts_what_jsonschema_accepts(result: dict) -> None:
    jsonschema.validators.validate(result, SPEC)  # the library's own, unpatched
    rasa_server.validate(result, SPEC)


@pytest.mark.parametrize("result", INVALID)
def test_rejects_what_jsonschema_rejects_with_the_same_error(result: dict) -> None:
    with pytest.raises(jsonschema.ValidationError) as theirs:
        jsonschema.validators.validate(result, SPEC)
    with pytest.raises(jsonschema.ValidationError) as ours:
        rasa_server.validate(result, SPEC)
    assert ours.value.message == theirs.value.message
    assert list(ours.value.path) == list(theirs.value.path)


def test_a_bad_schema_is_still_refused() -> None:
    with pytest.raises(jsonschema.SchemaError):
        rasa_server.validate({}, {"type": "no-such-type"})


def test_each_schema_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rasa_server, "_compiled", {})
    rasa_server.validate(VALID[0], RemoteAction.action_response_format_spec())
    rasa_server.validate(VALID[1], RemoteAction.action_response_format_spec())  # a new, equal dict each call
    assert len(rasa_server._compiled) == 1


def test_speed_up_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import Event

    monkeypatch.setattr(jsonschema, "validate", jsonschema.validate)  # both restored after the test
    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])
    rasa_server.speed_up()
    assert jsonschema.validate is rasa_server.validate


def test_event_classes_are_found_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])  # restored after the test
    rasa_server.speed_up()
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("slot") is SlotSet  # from what it kept
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("no-such-event", default=ActionExecuted) is ActionExecuted
    with pytest.raises(ValueError):
        Event.resolve_by_type("no-such-event")
    restored = Event.from_parameters({"event": "slot", "name": "topic", "value": "school"})
    assert restored == SlotSet("topic", "school")


def test_sqlite_tracker_store_skips_fsync_per_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import Event

    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])
    monkeypatch.setattr(jsonschema, "validate", jsonschema.validate)
    rasa_server.speed_up()
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")  # as Rasa's SQLTrackerStore makes it
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()
