"""Twilio's messaging keywords: opt-out, opt-in and help, matched on the whole body in any case."""

from __future__ import annotations

from enum import Enum

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})


class Keyword(Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


def classify(body: str, *, opted_out: bool) -> Keyword | None:
    """The keyword a text is, if any. YES opts in only an opted-out number (otherwise it answers a question)."""
    word = body.strip().strip(".!").upper()
    if word in OPT_OUT:
        return Keyword.OPT_OUT
    if word in OPT_IN and (opted_out or word != "YES"):
        return Keyword.OPT_IN
    if word in HELP:
        return Keyword.HELP
    return None
