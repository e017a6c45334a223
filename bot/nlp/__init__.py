"""The project's spaCy pipeline (blank English + lookup lemmatizer), shared by triage and Rasa's SpacyNLP."""

from bot.nlp.pipeline import DEFAULT_PATH, build, create, load

__all__ = ["DEFAULT_PATH", "build", "create", "load"]
