"""Abuse, pranks and spam: text signals, behaviour signals, blocks that expire, and the supervisors' review queue.

The interface the gateway's router calls on each turn (see the README's section for staff):
- `turn.check_turn(session, texter_id=, conversation_id=, message_id=, text=, settings=, risk_level=, now=)`
  -> `TurnAbuse(signals, behaviour, block, auto_block, review_id)`: all of the below in one call;
- `detector.score(text) -> AbuseSignals` (pure, fast, cached);
- `behaviour.observe(session, texter_id, text, now, hasher) -> Behaviour`;
- `review.record(session, texter_id, conversation_id, message_id, signals, behaviour)`;
- `blocks.status(session, texter_id, now) -> BlockStatus(blocked, until, reason)`;
- `policy.auto_block_decision(signals, settings, behaviour, risk_level=) -> AutoBlock | None`.
Risk always wins: a text the triage scores high or imminent is never ignored, whatever these say.
"""
