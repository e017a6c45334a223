"""``action_handoff``: tells the texter a counselor is coming and hands the enriched context to the gateway.

The context travels as a custom payload in the REST channel's reply: ``{"custom": {"handoff": {...}}}``
(``bot.handoff.context.HandoffContext.to_dict()``); the gateway queues the conversation when it sees it.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.tracker_input import conversation_of, slots_of
from bot.intake.handoff import handoff_context
from bot.intake.messages import handoff_responses
from bot.intake.scoring import urgency_slots


class ActionHandoff(Action):
    """Hand the conversation to a counselor: texter messages first, then the ``handoff`` payload."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        ctx = handoff_context(slots_of(tracker), conversation_of(tracker))
        for response in handoff_responses(ctx.reason):
            dispatcher.utter_message(response=response)
        payload: dict[str, Any] = {"handoff": ctx.to_dict()}
        dispatcher.utter_message(json_message=payload)
        return [SlotSet(slot, value) for slot, value in urgency_slots(ctx.urgency).items()]
