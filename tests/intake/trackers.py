"""Build rasa_sdk trackers the way the Rasa server sends them to the action server during the intake form."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker


def user_event(text: str, intent: str, confidence: float = 0.95) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": []}
    return {"event": "user", "text": text, "parse_data": parse}


def slot_event(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def form_tracker(
    domain: dict[str, Any],
    earlier: list[tuple[str, str]],
    answer: tuple[str, str],
    slots: dict[str, Any] | None = None,
    requested_slot: str | None = None,
    extracted: bool = True,
) -> Tracker:
    """The tracker ``validate_intake_form`` gets after the texter's latest message.

    ``earlier`` are the texter's previous (text, intent) messages; ``answer`` the latest one. With
    ``requested_slot`` None the form is being activated; otherwise the latest text is the candidate value for
    that slot unless ``extracted`` is False (an intent the slot mapping excludes, such as request_human).
    """
    all_slots: dict[str, Any] = dict.fromkeys(domain["slots"], None)
    all_slots["intake_attempts"] = 0.0
    all_slots.update(slots or {})
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
    for text, intent in earlier:
        events += [{"event": "action", "name": "action_listen"}, user_event(text, intent)]
    events += [{"event": "action", "name": "action_listen"}, user_event(*answer)]
    events += [slot_event(name, value) for name, value in (slots or {}).items()]
    events += [slot_event("requested_slot", requested_slot), {"event": "action", "name": "intake_form"}]
    all_slots["requested_slot"] = requested_slot
    if requested_slot and extracted:
        events.append(slot_event(requested_slot, answer[0]))
        all_slots[requested_slot] = answer[0]
    return Tracker(
        sender_id="test-conversation",
        slots=all_slots,
        latest_message=events[-1]["parse_data"] if events[-1]["event"] == "user" else _latest_parse(events),
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "intake_form"},
        latest_action_name="intake_form",
    )


def _latest_parse(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e["parse_data"] for e in reversed(events) if e["event"] == "user")


ALL_NO = {
    "topic": "stressed about school",
    "safe_now": "yes",
    "screen_wish_dead": "no",
    "screen_suicidal_thoughts": "no",
    "screen_behavior": "no",
    "age_range": "13_17",
}
