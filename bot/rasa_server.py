"""`python -m bot.rasa_server run ...`: Rasa's own command line (`rasa run ...`) with one cost removed.

Rasa 3.6 checks every action-server reply with ``jsonschema.validate(result, spec)``, which first re-validates the
constant ``spec`` against the JSON Schema 2020-12 meta-schema: about 20 ms of CPU per custom-action call on this
machine, a third of Rasa's work per turn. Here ``jsonschema.validate`` keeps its exact behaviour (the schema is
still checked, once; the same errors are raised) but keeps the compiled validator of each schema it has seen.
Nothing else about Rasa changes; ``rasa run`` works too, only slower.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jsonschema
from jsonschema import exceptions, validators

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


def speed_up() -> None:
    """Install the cached ``validate`` (Rasa imports it from ``jsonschema`` at each call, so it takes this one)."""
    jsonschema.validate = validate


def main() -> None:
    speed_up()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
