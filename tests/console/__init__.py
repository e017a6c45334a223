"""Tests of the counselor console, its queue actions and the periodic queue jobs."""
