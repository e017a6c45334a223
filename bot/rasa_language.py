"""Rasa NLU component: the conversation's language, as the gateway sends it, becomes the ``language`` entity.

The gateway decides each turn's language (``bot.language``) and sends it in the REST message's metadata
(``{"language": "es"}``). Rasa hands that metadata to the NLU pipeline; this component turns it into an entity,
and the ``language`` slot's ``from_entity`` mapping fills the slot before any policy or response runs. So every
response of the turn (the greeting, the form's questions, the actions' texts) is chosen in that language by the
conditional response variations in domain.yml, with no extra call to the action server. A message without the
metadata (``rasa shell``, ``rasa test``) leaves the slot as it was ("en" at first).

Listed in config.yml as ``bot.rasa_language.LanguageFromMetadata``; it learns nothing.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

ENTITY = "language"
LANGUAGES = ("en", "es")  # bot.language.LANGUAGES (not imported: the Rasa server need not load the detector)


def language_entity(metadata: Any) -> dict[str, Any] | None:
    """The ``language`` entity for a message's metadata, or None when it names no supported language."""
    if not isinstance(metadata, dict):
        return None
    value = str(metadata.get(ENTITY) or "").strip().lower()
    if value not in LANGUAGES:
        return None
    return {"entity": ENTITY, "value": value, "start": 0, "end": 0, "confidence_entity": 1.0}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageFromMetadata(GraphComponent, EntityExtractorMixin):
    """Adds ``{"entity": "language", "value": "en"|"es"}`` when the message's metadata names the language."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageFromMetadata:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entity = language_entity(message.get("metadata"))
            if entity is None:
                continue
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY]
            entities += self.add_extractor_name([entity])
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
