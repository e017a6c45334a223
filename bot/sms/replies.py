"""The gateway's own texts to texters: short, warm, plain words, with 911 and 988 wherever risk may be."""

from __future__ import annotations

EMERGENCY = "If you're in danger now, call 911. You can also call or text 988 any time."

FAIL_OPEN = (
    "Thank you for texting. A trained counselor will be with you as soon as they can. " + EMERGENCY
)
HELP = (
    "This is a crisis text line. A trained counselor reads your texts. In an emergency call 911. "
    "Call or text 988 any time. Text STOP to end texts."
)
OPTED_IN = "You're back on. Text us any time. " + EMERGENCY
MEDIA_ONLY = (
    "Thanks for sending that. We can't see pictures or files here, so please tell us in words what's going on."
)
EMPTY = "We got an empty text. When you're ready, tell us in a few words what's going on. " + EMERGENCY
# An imminent-risk text during the intake: the questions stop and the texter goes to the head of the queue.
IMMINENT = "I'm getting a counselor to you right now. Please keep your phone close. You're not alone. " + EMERGENCY
RATE_LIMITED = "We got a lot of texts from you at once. We'll keep reading. " + EMERGENCY
BLOCKED = "This number can't reach this line anymore. " + EMERGENCY


def queue_position(position: int) -> str:
    """Where the texter is in line, without promising a time."""
    if position <= 1:
        return "You're next in line for a counselor."
    if position <= 3:
        return "A counselor will be with you soon. A few people are ahead of you."
    return "All our counselors are helping others right now. Please stay with us, someone will text you."


STILL_WAITING = "We're still here. A counselor will text you as soon as one is free. " + EMERGENCY
IDLE_CLOSED = (
    "We haven't heard from you in a while, so we're closing this chat. Text us any time. " + EMERGENCY
)
