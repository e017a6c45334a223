"""Unit tests of the intake logic (bot/intake) and its custom actions (actions/)."""
