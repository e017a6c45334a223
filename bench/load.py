"""Simulated texters: full intakes with human pacing and surges, sent either through our gateway (signed webhooks,
replies read from the fake Twilio API) or straight to Rasa's REST channel; and a steady webhook flood for the
acknowledgement latency. Every loop is bounded in count and time; everything stays on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from bench.fake_api import ObservedTwilio
from bot.settings import Settings
from bot.sms import replies
from bot.sms.signature import sign
from bot.texter import webhook_form

REPLY_TIMEOUT = 15.0  # a turn without any reply by then counts as failed and the texter gives up that intake
EXTRA_ANSWERS = 3  # answers beyond the script when the bot re-asked something, before the texter gives up
# Seconds a texter takes between the bot's reply and their next text. Stress: far quicker than people text, so
# the machine is saturated (the throughput comparison with stock Rasa). SMS: still quick for someone typing on
# a phone. Either way, half the texters also join surges (every 10 s, they all text at once).
THINK_STRESS = (1.0, 3.0)
THINK_SMS = (5.0, 20.0)
QUEUE_TEXTS = frozenset(replies.queue_position(n) for n in (1, 2, 9))  # the gateway's text after a handoff

# Our own example texts (low-risk intakes). A full intake here is 7 turns: the screener is answered "no".
GREETINGS = ("hi", "hello", "hey", "hi there")
TOPICS = (
    "school has been really hard lately and i can't sleep",
    "my girlfriend broke up with me and i feel empty",
    "i lost my job and i'm scared about rent",
    "i've been feeling anxious all week and can't calm down",
    "my best friend stopped talking to me and i feel alone",
    "my parents keep yelling at each other every night",
)
SAFE = ("yeah im safe", "yes i'm safe", "yes")
NO = ("no", "nah", "nope")
NEVER = ("no never", "no", "never")
AGES = ("16", "19", "24", "35", "im 17")


def intake_script(rng: random.Random) -> list[str]:
    """A texter's answers, in order: greeting, topic, safe now, wish dead, thoughts, behavior, age."""
    return [rng.choice(GREETINGS), rng.choice(TOPICS), rng.choice(SAFE), rng.choice(NO), rng.choice(NO),
            rng.choice(NEVER), rng.choice(AGES)]


@dataclass
class TurnOutcome:
    latency: float  # seconds from sending the text to the bot's complete reply
    handed_off: bool


class Channel(Protocol):
    name: str

    async def send_turn(self, sender: str, body: str) -> bool:
        """Send one texter text; return once the bot's first reply is there (False: none in time)."""
        ...

    def finish_turn(self, sender: str) -> TurnOutcome:
        """Called just before the texter's next text: the complete reply to the previous one."""
        ...

    def close_sender(self, sender: str) -> None: ...


class GatewayChannel:
    """Signed webhooks to our gateway; replies are the texts the gateway sends to the fake Twilio API."""

    name = "ours"

    def __init__(self, session: aiohttp.ClientSession, settings: Settings, twilio: ObservedTwilio) -> None:
        self.session = session
        self.settings = settings
        self.twilio = twilio
        self.url = f"http://127.0.0.1:{settings.gateway_port}/twilio/sms"
        self.public_url = settings.public_base_url + "/twilio/sms"
        self._sent_at: dict[str, float] = {}
        self._seen: dict[str, int] = {}

    async def post(self, phone: str, body: str) -> int:
        form = webhook_form(self.settings, phone, body)
        headers = {"X-Twilio-Signature": sign(self.settings.twilio_auth_token, self.public_url, form)}
        async with self.session.post(self.url, data=form, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def send_turn(self, sender: str, body: str) -> bool:
        seen = len(self.twilio.by_phone[sender])
        self._seen[sender] = seen
        self._sent_at[sender] = time.monotonic()
        if await self.post(sender, body) != 200:
            return False
        return await self.twilio.wait_count(sender, seen + 1, REPLY_TIMEOUT)

    def finish_turn(self, sender: str) -> TurnOutcome:
        got = self.twilio.by_phone[sender][self._seen[sender]:]
        return TurnOutcome(got[-1].received_at - self._sent_at[sender], any(m.body in QUEUE_TEXTS for m in got))

    def close_sender(self, sender: str) -> None:
        self.twilio.forget(sender)
        self._sent_at.pop(sender, None)
        self._seen.pop(sender, None)


class RestChannel:
    """Stock Rasa's REST channel: the bot's reply is the HTTP response."""

    name = "stock"

    def __init__(self, session: aiohttp.ClientSession, rasa_url: str) -> None:
        self.session = session
        self.url = rasa_url.rstrip("/") + "/webhooks/rest/webhook"
        self._last: dict[str, TurnOutcome] = {}

    async def send_turn(self, sender: str, body: str) -> bool:
        started = time.monotonic()
        try:
            async with self.session.post(
                self.url, json={"sender": sender, "message": body}, timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT)
            ) as resp:
                payload = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
        if not payload:
            return False
        handed_off = any(isinstance(m.get("custom"), dict) and "handoff" in m["custom"] for m in payload)
        self._last[sender] = TurnOutcome(time.monotonic() - started, handed_off)
        return True

    def finish_turn(self, sender: str) -> TurnOutcome:
        return self._last[sender]

    def close_sender(self, sender: str) -> None:
        self._last.pop(sender, None)


class Surges:
    """Every ``period`` seconds, the texters that join surges stop thinking and text at once."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._event = asyncio.Event()

    async def run(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() + self.period < until:
            await asyncio.sleep(self.period)
            self._event.set()
            self._event.clear()  # waiters already woken stay woken

    async def think(self, seconds: float, joins: bool) -> None:
        await asyncio.sleep(min(seconds, 0.3))  # a surge never cuts into the bot's own multi-part reply
        if seconds > 0.3:
            if joins:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._event.wait(), seconds - 0.3)
            else:
                await asyncio.sleep(seconds - 0.3)


@dataclass
class LoadResult:
    channel: str
    texters: int
    started: float = 0.0
    ended: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failed_turns: int = 0
    intakes_done: int = 0
    intakes_abandoned: int = 0
    cpu_ms_per_turn: dict[str, float] = field(default_factory=dict)  # per process, filled in by the caller
    others_cores: float = 0.0  # CPU used meanwhile by processes outside the benchmark (other work on the machine)

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds


class PhoneBook:
    """Fresh numbers from the reserved 555-01xx range style prefix, one per intake (never real numbers)."""

    def __init__(self, prefix: str) -> None:
        self._counter = itertools.count(1)
        self.prefix = prefix

    def next(self) -> str:
        return f"{self.prefix}{next(self._counter):06d}"


async def _texter(
    channel: Channel, phones: PhoneBook, rng: random.Random, surges: Surges, stop_at: float, result: LoadResult,
    think: tuple[float, float],
) -> None:
    loop = asyncio.get_running_loop()
    joins_surges = rng.random() < 0.5
    while loop.time() < stop_at:
        sender = phones.next()
        script = intake_script(rng) + [rng.choice(NO) for _ in range(EXTRA_ANSWERS)]
        done = False
        for body in script:
            if loop.time() >= stop_at:
                break
            if not await channel.send_turn(sender, body):
                result.failed_turns += 1
                break
            await surges.think(rng.uniform(*think), joins_surges)
            outcome = channel.finish_turn(sender)
            result.latencies.append(outcome.latency)
            result.ended = max(result.ended, loop.time())
            if outcome.handed_off:
                done = True
                break
        channel.close_sender(sender)
        if done:
            result.intakes_done += 1
        elif loop.time() < stop_at:
            result.intakes_abandoned += 1
        await asyncio.sleep(rng.uniform(0.0, 1.0))  # the next texter on this "line" comes in


async def run_intakes(
    channel: Channel, texters: int, seconds: float, seed: int, phone_prefix: str,
    think: tuple[float, float] = THINK_STRESS,
) -> LoadResult:
    """``texters`` simulated texters doing full intakes for ``seconds``, taking ``think`` seconds (uniform) to
    answer; all start at once (the first surge)."""
    loop = asyncio.get_running_loop()
    result = LoadResult(channel.name, texters, started=loop.time())
    stop_at = loop.time() + seconds
    surges = Surges(period=10.0)
    phones = PhoneBook(phone_prefix)
    surge_task = asyncio.create_task(surges.run(stop_at))
    rngs = [random.Random(seed * 1000 + i) for i in range(texters)]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(_texter(channel, phones, rng, surges, stop_at, result, think) for rng in rngs)),
            timeout=seconds + REPLY_TIMEOUT + 10,
        )
    finally:
        surge_task.cancel()
    return result


@dataclass
class AckResult:
    latencies: list[float]
    errors: int
    offered: int
    seconds: float


async def flood(channel: GatewayChannel, rate: float, seconds: float, numbers: Sequence[str]) -> AckResult:
    """Open loop: a signed webhook every 1/rate seconds whatever the answers take; the acknowledgement latency of
    each. The texts cycle through an intake script per number, so the gateway does its real work behind them."""
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    script = [*intake_script(random.Random(7)), "ok", "thanks", "ok"]
    latencies: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        phone = numbers[i % len(numbers)]
        body = script[(i // len(numbers)) % len(script)]
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(channel.post(phone, body), 10.0)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status = 0
        if status == 200:
            latencies.append(time.monotonic() - started)
        else:
            errors += 1

    t0 = loop.time()
    tasks = []
    for i in range(total):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return AckResult(latencies, errors, total, loop.time() - t0)
