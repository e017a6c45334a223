"""Rasa's REST channel, as the gateway calls it: one texter turn in, the bot's texts and any handoff out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp


class RasaUnavailable(Exception):
    """Rasa (or its action server) errored, timed out or is down: the caller fails open to humans."""


@dataclass
class RasaReply:
    texts: list[str] = field(default_factory=list)
    handoff: dict[str, Any] | None = None


def parse_reply(payload: Any) -> RasaReply:
    """Read the REST channel's list of bot messages; the handoff rides as a custom payload."""
    if not isinstance(payload, list):
        raise RasaUnavailable("unexpected response from Rasa")
    reply = RasaReply()
    for item in payload:
        if not isinstance(item, dict):
            continue
        text = item.get("text")
        if isinstance(text, str) and text.strip():
            reply.texts.append(text.strip())
        custom = item.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
            reply.handoff = custom["handoff"]
    return reply


class RasaClient:
    """Posts texter turns to ``{rasa_url}/webhooks/rest/webhook`` under the conversation id."""

    def __init__(self, base_url: str, timeout: float, session: aiohttp.ClientSession) -> None:
        self._url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session

    async def turn(self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None) -> RasaReply:
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status}")
                payload = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        reply = parse_reply(payload)
        if not reply.texts and reply.handoff is None:
            # Rasa answered nothing at all (e.g. the action server is down): treat as unavailable.
            raise RasaUnavailable("Rasa returned no reply")
        return reply
