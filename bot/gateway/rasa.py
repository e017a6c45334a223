"""Rasa as the gateway calls it: one texter turn in through the REST channel, the bot's texts and any handoff out;
for a turn a stopped gateway may have delivered already, the reply read back from Rasa's tracker; and whether Rasa
and the action server answer (for /ready, and for texts that arrive while Rasa is still loading)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds for one readiness probe
PROBE_FRESH = 0.5  # seconds a probe's answer is reused (many waiting turns share one probe)
WAIT_POLL = 0.5  # seconds between probes while a text waits for Rasa to load


class RasaUnavailable(Exception):
    """Rasa (or its action server) errored, timed out or is down: the caller fails open to humans."""


class RasaNotThere(RasaUnavailable):
    """Nothing took the text: Rasa refused the connection, or its REST channel is not there yet (still loading).
    The text surely did not reach Rasa, so it can be sent again."""


class Readiness:
    """Whether Rasa's REST channel (``GET {rasa}/webhooks/rest/``, there only once the model is loaded) and the
    action server (``GET {actions}/health``) answer; and whether Rasa has answered once since this gateway
    started. Until then (and for at most ``grace`` seconds after start-up), texts wait for Rasa to load instead
    of failing open; afterwards an unreachable Rasa fails open at once (the runner restarts it meanwhile)."""

    def __init__(self, rasa_url: str, action_url: str, session: aiohttp.ClientSession, grace: float) -> None:
        self._rasa = rasa_url.rstrip("/") + "/webhooks/rest/"
        self._actions = action_url.rstrip("/") + "/health"
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        self.grace_until = time.monotonic() + grace
        self.rasa_answered = False
        self._last: dict[str, str] = {}
        self._last_at = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def in_grace(self) -> bool:
        return not self.rasa_answered and time.monotonic() < self.grace_until

    def answered(self) -> None:
        self.rasa_answered = True

    async def _answers(self, url: str) -> bool:
        try:
            async with self._session.get(url, timeout=self._timeout) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def check(self) -> dict[str, str]:
        """{"rasa": "ok"|"down", "actions": "ok"|"down"}, probed at most every PROBE_FRESH seconds."""
        async with self._lock:
            if time.monotonic() - self._last_at >= PROBE_FRESH:
                rasa, actions = await asyncio.gather(self._answers(self._rasa), self._answers(self._actions))
                if rasa:
                    self.answered()
                self._last = {"rasa": "ok" if rasa else "down", "actions": "ok" if actions else "down"}
                self._last_at = time.monotonic()
            return dict(self._last)

    async def wait(self) -> dict[str, str]:
        """Wait until Rasa and the actions answer, at most until the start-up grace ends; their last state."""
        while True:
            state = await self.check()
            if all(v == "ok" for v in state.values()) or time.monotonic() >= self.grace_until:
                return state
            await asyncio.sleep(min(WAIT_POLL, max(0.0, self.grace_until - time.monotonic())))


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
    """Posts texter turns to ``{rasa_url}/webhooks/rest/webhook`` under the conversation id. With a
    ``readiness``, a turn in the start-up grace first waits for Rasa to load (see ``Readiness``)."""

    def __init__(
        self, base_url: str, timeout: float, session: aiohttp.ClientSession, token: str = "",
        readiness: Readiness | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._url = self._base + "/webhooks/rest/webhook"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._token = token
        self.readiness = readiness

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
        ready = self.readiness
        if ready is not None and ready.in_grace:
            # Posted only once Rasa answers: a connection queued while a multi-worker Rasa loads would be
            # served later, after this turn had already failed open.
            await self._wait_for_rasa(ready)
        try:
            reply = await self._post(body)
        except RasaNotThere:
            if ready is None or not ready.in_grace:
                raise
            await self._wait_for_rasa(ready)
            reply = await self._post(body)  # it never reached Rasa: sending it again is safe
        if ready is not None:
            ready.answered()
        return reply

    async def _wait_for_rasa(self, ready: Readiness) -> None:
        started = time.monotonic()
        if (await ready.wait())["rasa"] != "ok":
            raise RasaNotThere("Rasa did not load within the start-up grace")
        if time.monotonic() - started > WAIT_POLL:
            log.info("rasa: a text waited %.1f s for Rasa to load", time.monotonic() - started)

    async def _post(self, body: dict[str, Any]) -> RasaReply:
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                if resp.status == 404:
                    raise RasaNotThere("Rasa's REST channel is not there yet")
                if resp.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {resp.status}")
                payload = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            raise RasaNotThere(type(exc).__name__) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        reply = parse_reply(payload)
        if not reply.texts and reply.handoff is None:
            # Rasa answered nothing at all (e.g. the action server is down): treat as unavailable.
            raise RasaUnavailable("Rasa returned no reply")
        return reply
