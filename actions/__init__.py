"""Custom actions for the intake assistant: thin rasa_sdk adapters around ``bot.intake`` and ``bot.handoff``.

Run with ``rasa run actions`` (the action server imports every module of this package).
"""

from bot.learning.registry import ModelWatcher
from bot.settings import database_url_from_env, model_poll_seconds_from_env
from bot.triage import warm_up

# Build the triage analyzer (spaCy pipeline + lexicon matchers) while the action server starts, not on the
# first texter's first answer.
warm_up()
# Score with the registry's live model (DATABASE_URL), and pick up a newly promoted one within seconds.
ModelWatcher(database_url_from_env(), model_poll_seconds_from_env()).start_thread()
