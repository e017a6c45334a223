"""Abuse, pranks and spam: text signals, behaviour signals, blocks that expire, and the supervisors' review queue.

The interface the gateway's router calls on each turn (see the README's section for staff):
- `detector.score(text) -> AbuseSignals` (pure, fast, cached);
- `behaviour.observe(session, texter_id, text, now, hasher) -> Behaviour` (inside the router's transaction);
- `blocks.status(session, texter_id, now) -> BlockStatus`;
- `policy.auto_block_decision(signals, behaviour, settings) -> AutoBlock | None`;
- `review.record(session, ...)` puts a texter in the review queue (inside the router's transaction).
"""
