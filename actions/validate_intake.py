"""``validate_intake_form``: reads each intake answer, re-asks once, scores urgency, applies the skip logic.

After every answer the whole conversation is scored (``bot.triage``); imminent risk empties the required
slots so the form ends at once and ``action_handoff`` sends the safety message. The first sign of risk below
imminent gets one caring message with 911 / 988 before the next question.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.tracker_input import conversation_of, latest_intent, latest_text, slots_of
from bot.intake.messages import RISK_CARE
from bot.intake.questions import ANSWER_SLOTS, interpret, required_questions, topic_from_first_message
from bot.intake.scoring import needs_care_message, score, urgency_slots

logger = logging.getLogger(__name__)

ATTEMPTS_SLOT = "intake_attempts"
RISK_ACKNOWLEDGED_SLOT = "risk_acknowledged"


class ValidateIntakeForm(FormValidationAction):
    """Validation, scoring and skip logic of ``intake_form``; one ``validate_<slot>`` per question (below)."""

    def name(self) -> str:
        return "validate_intake_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("urgency_level") == "imminent":
            return []
        return required_questions(slots_of(tracker))

    async def extract_topic(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """At activation only: a first message that already tells what is going on is the topic."""
        if tracker.get_slot(REQUESTED_SLOT) is not None or tracker.get_slot("topic") is not None:
            return {}
        topic = topic_from_first_message(latest_text(tracker), latest_intent(tracker))
        return {"topic": topic} if topic else {}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().get_validation_events(dispatcher, tracker, domain)
        activating = tracker.get_slot(REQUESTED_SLOT) is None
        if not events and not activating:
            # Nothing answered (the texter asked something else): let the form reject so a rule can reply.
            return events
        return events + self._score(dispatcher, tracker)

    def _score(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        try:
            urgency = score(slots_of(tracker), conversation_of(tracker))
        except Exception:
            logger.exception("urgency scoring failed during the intake")
            return []
        updates = urgency_slots(urgency)
        if needs_care_message(urgency, slots_of(tracker)) and not tracker.get_slot(RISK_ACKNOWLEDGED_SLOT):
            dispatcher.utter_message(response=RISK_CARE)
            updates[RISK_ACKNOWLEDGED_SLOT] = True
        tracker.slots.update(updates)  # required_slots reads urgency_level right after this
        return [SlotSet(slot, value) for slot, value in updates.items()]

    def validate_answer(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """Keep a readable answer, ask an unreadable one once more, then record "unknown" and move on."""
        attempts = int(tracker.get_slot(ATTEMPTS_SLOT) or 0)
        outcome = interpret(slot, value, latest_intent(tracker), attempts)
        if outcome.detour:
            dispatcher.utter_message(response=outcome.detour)
        return {slot: outcome.value, ATTEMPTS_SLOT: float(outcome.attempts)}


def _validator(slot: str) -> Any:
    """A ``validate_<slot>`` method (the name rasa_sdk looks up) that delegates to ``validate_answer``."""

    def validate(
        self: ValidateIntakeForm,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return self.validate_answer(slot, value, dispatcher, tracker)

    validate.__name__ = f"validate_{slot}"
    validate.__doc__ = f"Validate the answer to the ``{slot}`` question."
    return validate


for _slot in ANSWER_SLOTS:
    setattr(ValidateIntakeForm, f"validate_{_slot}", _validator(_slot))
