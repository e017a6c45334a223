"""The block list staff manage by number (abuse), kept for its callers: the blocks themselves are owned by
`bot.abuse.blocks` (time-limited or permanent, expiring on their own). Numbers are looked up by keyed hash."""

from __future__ import annotations

from bot.abuse.blocks import block_number, blocked_list, unblock_number
from bot.privacy import Privacy
from bot.store.db import Database


async def set_blocked(db: Database, privacy: Privacy, phone: str, blocked: bool, reason: str = "") -> bool:
    """Block (permanently) or unblock a number (creating its texter row if it never texted). True when something
    changed."""
    if blocked:
        return await block_number(db, privacy, phone, duration="permanent", reason=reason, source="staff")
    return await unblock_number(db, privacy, phone, source="staff")


async def blocked_refs(db: Database) -> list[tuple[str, str]]:
    """(short keyed-hash ref, reason) of every blocked number: staff see no numbers."""
    return [(b.ref, b.reason) for b in await blocked_list(db)]
