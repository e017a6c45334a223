"""Rasa as the gateway calls it: one texter turn in through the REST channel, the bot's texts and any handoff out;
and, for a turn a stopped gateway may have delivered already, the reply read back from Rasa's tracker."""

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
        if isinstance(item, dict):
            _add(reply, item.get("text"), item.get("custom"))
    return reply


def _add(reply: RasaReply, text: Any, custom: Any) -> None:
    if isinstance(text, str) and text.strip():
        reply.texts.append(text.strip())
    if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
        reply.handoff = custom["handoff"]


def reply_in_tracker(events: Any, message_ids: list[int]) -> RasaReply | None:
    """The bot's reply to the user turn that carried any of ``message_ids`` (in its metadata), read from a
    tracker's events; None when Rasa never received that turn."""
    if not isinstance(events, list):
        raise RasaUnavailable("unexpected tracker from Rasa")
    wanted = set(message_ids)
    reply: RasaReply | None = None
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "user":
            if reply is not None:
                break  # the next turn began
            ids = ((event.get("metadata") or {}).get("message_ids")) or []
            if wanted.intersection(ids if isinstance(ids, list) else []):
                reply = RasaReply()
        elif kind == "bot" and reply is not None:
            data = event.get("data") or {}
            _add(reply, event.get("text"), data.get("custom") if isinstance(data, dict) else None)
    return reply


class RasaClient:
    """Posts texter turns to ``{rasa_url}/webhooks/rest/webhook`` under the conversation id."""

    def __init__(self, base_url: str, timeout: float, session: aiohttp.ClientSession, token: str = "") -> None:
        self._base = base_url.rstrip("/")
        self._url = self._base + "/webhooks/rest/webhook"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._token = token

    async def replay(self, conversation_id: str, message_ids: list[int]) -> RasaReply | None:
        """Rasa's reply to these texts if Rasa already had them (a gateway stopped after Rasa's turn and before
        recording it), read from the tracker through Rasa's HTTP API; None when Rasa never got them."""
        url = f"{self._base}/conversations/{conversation_id}/tracker"
        try:
            async with self._session.get(url, params={"token": self._token, "include_events": "ALL"},
                                         timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa's tracker answered HTTP {resp.status}")
                tracker = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        return reply_in_tracker((tracker or {}).get("events") if isinstance(tracker, dict) else None, message_ids)

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
