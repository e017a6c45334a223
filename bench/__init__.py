"""Benchmarks of the whole path (signed webhook, store, Rasa, actions, outbound send) against stock Rasa's REST
channel, plus triage speed and counselor claims; ``python -m bench`` (or ``make bench``) runs them all at once."""
