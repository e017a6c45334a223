"""The block list staff manage: numbers that may not reach the line (abuse). Numbers are looked up by keyed hash."""

from __future__ import annotations

from sqlalchemy import select

from bot.privacy import Privacy
from bot.store.db import Database
from bot.store.models import AuditEvent, Texter, utcnow


async def set_blocked(db: Database, privacy: Privacy, phone: str, blocked: bool, reason: str = "") -> bool:
    """Block or unblock a number (creating its texter row if it never texted). True when something changed."""
    phone_hash = privacy.hash_phone(phone)
    async with db.transaction() as s:
        texter = await s.scalar(select(Texter).where(Texter.phone_hash == phone_hash))
        if texter is None:
            if not blocked:
                return False
            texter = Texter(phone_hash=phone_hash, phone_enc=privacy.encrypt(phone), last_seen_at=utcnow())
            s.add(texter)
            await s.flush()
        if bool(texter.blocked) == blocked:
            return False
        texter.blocked = blocked
        texter.blocked_reason = reason[:200] if blocked else None
        texter.notice_sent_at = None
        s.add(AuditEvent(kind="blocked" if blocked else "unblocked", data={"texter": phone_hash[:10]}))
        return True


async def blocked_refs(db: Database) -> list[tuple[str, str]]:
    """(short keyed-hash ref, reason) of every blocked number: staff see no numbers."""
    async with db.session() as s:
        rows = await s.execute(select(Texter.phone_hash, Texter.blocked_reason).where(Texter.blocked.is_(True)))
        return [(h[:10], r or "") for h, r in rows]
