"""Handoff: the enriched context a conversation carries into the counselor queue, and the queue itself."""
