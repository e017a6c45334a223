"""Crisis pre-intake assistant: SMS gateway, triage, handoff queue and counselor console."""

__version__ = "0.1.0"
