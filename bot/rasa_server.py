"""`python -m bot.rasa_server run ...`: Rasa's own command line (`rasa run ...`) with three costs removed.

Both are pure recomputations of constants that Rasa 3.6 repeats on every turn; what Rasa does is unchanged.
- Rasa checks every action-server reply with ``jsonschema.validate(result, spec)``, which first re-validates the
  constant ``spec`` against the JSON Schema 2020-12 meta-schema: about 20 ms of CPU per custom-action call on this
  machine, a third of Rasa's work per turn. ``validate`` here behaves the same (the schema is still checked, once;
  the same errors are raised) but keeps the compiled validator of each schema it has seen.
- Loading a tracker turns each stored event back into an object, finding its class by walking all of ``Event``'s
  subclasses (about 30 us per event, a hundred events per intake). The class found for a type name is kept.
And one setting Rasa has no option for: an SQLite tracker store (the embedded default; production uses
PostgreSQL) runs with ``synchronous=NORMAL`` in WAL mode, as the gateway's store does, instead of waiting for the
disk on every save (a crash of the process loses nothing; a power cut may lose the last turns).
``rasa run`` works too, only slower.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import jsonschema
from jsonschema import exceptions, validators
from sqlalchemy import event
from sqlalchemy.engine import Engine

_compiled: dict[tuple[str, Any], Any] = {}
MAX_SCHEMAS = 64  # Rasa validates against a handful of constant schemas


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the checked, compiled validator of each schema kept for the next call."""
    key = (json.dumps(schema, sort_keys=True, default=str), cls)
    validator = _compiled.get(key) if not args and not kwargs else None
    if validator is None:
        klass = cls if cls is not None else validators.validator_for(schema)
        klass.check_schema(schema)
        validator = klass(schema, *args, **kwargs)
        if not args and not kwargs and len(_compiled) < MAX_SCHEMAS:
            _compiled[key] = validator
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def _remembering_event_classes(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """``Event.resolve_by_type`` keeping each class it found (misses and defaults are not kept)."""
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = resolve(type_name, None) if default is None else resolve(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    return resolve_by_type


def _sqlite_without_fsync_per_commit(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def speed_up() -> None:
    """Install all three (Rasa imports ``validate`` from ``jsonschema`` at each call, so it takes this one)."""
    from rasa.shared.core.events import Event

    if not event.contains(Engine, "connect", _sqlite_without_fsync_per_commit):
        event.listen(Engine, "connect", _sqlite_without_fsync_per_commit)

    jsonschema.validate = validate
    if not getattr(Event.resolve_by_type, "remembers", False):
        resolve = _remembering_event_classes(Event.resolve_by_type)
        resolve.remembers = True  # type: ignore[attr-defined]
        Event.resolve_by_type = staticmethod(resolve)  # type: ignore[method-assign]


def main() -> None:
    speed_up()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
