"""Triage: screener scoring, free-text risk signals, one urgency per conversation, referral matching.

Pure and fast; imported by the action server and by the gateway (which scores on its own when Rasa is down).
This is the interface; the implementation lives in the sibling modules. The first call that scores text builds
the spaCy matcher from data/lexicons (about two seconds); call `warm_up()` at start-up to pay that early.
`use_model(model)` makes a learned model (bot.triage.learned, trained by bot.triage.training) the live scorer of
free text on top of the lexicon; `live_model_version()` names it ("lexicon" when none).
"""

from bot.triage.learned import LearnedModel, ModelError
from bot.triage.levels import LEVELS, Urgency
from bot.triage.referrals import Referral, suggest_referrals
from bot.triage.screener import SCREENER_KEYS, parse_answer, score_screener
from bot.triage.urgency import assess, assess_many, live_model, live_model_version, use_model, warm_up

__all__ = [
    "LEVELS", "SCREENER_KEYS", "LearnedModel", "ModelError", "Referral", "Urgency", "assess", "assess_many",
    "live_model", "live_model_version", "parse_answer", "score_screener", "suggest_referrals", "use_model",
    "warm_up",
]
