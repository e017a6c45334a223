"""``action_set_experiment_slots``: copies the conversation's experiment variants from the turn's metadata
(``{"experiments": {"greeting": "b"}}``, sent by the gateway) into the slots ``variant_<name>`` that domain.yml's
conditional response variations read. Rasa runs it as the custom slot mapping of those slots, outside the form
(so before the greeting); it only ever sets slots the domain declares, to short plain names."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def experiment_slots(metadata: Any, slots: dict[str, Any]) -> dict[str, str]:
    """The ``variant_<name>`` slot values named in the metadata that the domain declares and that changed."""
    wanted = metadata.get("experiments") if isinstance(metadata, dict) else None
    if not isinstance(wanted, dict):
        return {}
    out = {}
    for name, variant in wanted.items():
        slot = f"variant_{name}"
        if isinstance(name, str) and isinstance(variant, str) and NAME.match(name) and NAME.match(variant) \
                and slot in slots and slots.get(slot) != variant:
            out[slot] = variant
    return out


class ActionSetExperimentSlots(Action):
    def name(self) -> str:
        return "action_set_experiment_slots"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        metadata = (tracker.latest_message or {}).get("metadata")
        return [SlotSet(slot, value) for slot, value in experiment_slots(metadata, dict(tracker.slots)).items()]
