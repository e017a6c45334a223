"""Triage: screener scoring, free-text risk signals, one urgency per conversation, referral matching.

Pure and fast; imported by the action server and by the gateway (which scores on its own when Rasa is down).
This is the interface; the implementation lives in the sibling modules. The first call that scores text builds
the spaCy matcher from data/lexicons (about two seconds); call `warm_up()` at start-up to pay that early.
"""

from bot.triage.levels import LEVELS, Urgency
from bot.triage.referrals import Referral, suggest_referrals
from bot.triage.screener import SCREENER_KEYS, parse_answer, score_screener
from bot.triage.urgency import assess, assess_many, warm_up

__all__ = [
    "LEVELS", "SCREENER_KEYS", "Referral", "Urgency", "assess", "assess_many", "parse_answer", "score_screener",
    "suggest_referrals", "warm_up",
]
