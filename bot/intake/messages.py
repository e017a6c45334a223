"""Which responses (in domain.yml) the texter gets at handoff, when a risk is first seen, and on a detour.

The wording lives in domain.yml so staff can edit it, in English and Spanish (the `language` slot picks the
variation); this module only picks the response names.
"""

from __future__ import annotations

SAFETY_NOW = "utter_safety_now"
RISK_CARE = "utter_risk_care"
LANGUAGE_SWITCHED = "utter_language_switched"
# Questions a texter may ask instead of answering; the intake answers them, then asks its question again.
DETOURS: dict[str, str] = {
    "bot_challenge": "utter_iamabot",
    "ask_for_number": "utter_hotline_numbers",
}
HANDOFF_RESPONSES: dict[str, tuple[str, ...]] = {
    "imminent": (SAFETY_NOW, "utter_handoff_imminent"),
    "requested": ("utter_handoff_requested",),
    "completed": ("utter_handoff_completed",),
}


def handoff_responses(reason: str) -> tuple[str, ...]:
    """The responses sent to the texter, in order, when the conversation is handed off for ``reason``."""
    return HANDOFF_RESPONSES.get(reason, HANDOFF_RESPONSES["requested"])
