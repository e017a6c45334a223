"""Custom actions for the intake assistant: thin rasa_sdk adapters around ``bot.intake`` and ``bot.handoff``.

Run with ``rasa run actions`` (the action server imports every module of this package).
"""

from bot.triage import warm_up

# Build the triage analyzer (spaCy pipeline + lexicon matchers) while the action server starts, not on the
# first texter's first answer.
warm_up()
