"""`python -m bench` (`make bench`): every benchmark in one run, each figure printed next to its target.

Order: our stack (action server, Rasa, gateway, fake Twilio API on loopback) takes (a) a steady webhook flood and
then (b) 50 texters doing full intakes at stress pacing (answers 1-3 s apart) while (d) imminent-risk texts are
timed to the head of the queue, then the same 50 texters at SMS pacing (5-20 s); Rasa and the gateway stop, and
(c) stock Rasa serves the same model with the same action server to the same 50 texters at stress pacing; then
(f) triage speed and (g) counselor claims on PostgreSQL; (h) the abuse detector's precision, recall and false flags
on our own examples (bench/abuse_bench.py). (e) Peak memory is read from each process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, func, select

from bench import claims, procs
from bench.fake_api import ObservedTwilio
from bench.imminent import IMMINENT_TEXTS, ImminentResult, probe_imminent
from bench.load import (
    THINK_SMS,
    THINK_STRESS,
    TOPICS,
    AckResult,
    Channel,
    GatewayChannel,
    LoadResult,
    RestChannel,
    flood,
    intake_script,
    run_intakes,
)
from bench.stats import Latency, verdict
from bot.runner import ROOT, Proc, ensure_model, rasa_workers, stop_stack, tensorflow_threads
from bot.settings import Settings
from bot.sms.inbox import UNHANDLED
from bot.sms.outbox import UNFINISHED
from bot.store.db import sync_url
from bot.store.models import Message
from tests.support.databases import fresh_database
from tests.support.ports import free_port
from tests.support.stack import gateway_env, patched_env

RUN_DIR = ROOT / "var" / "bench"
TARGET_ACK_P99_MS = 50.0
TARGET_BURST_P99_MS = 100.0
BURST_TEXTS, BURST_TEXTERS = 200, 100
TARGET_TURN_P99_MS = 1000.0
TARGET_RATIO = 1.0
TARGET_IMMINENT_P99_MS = 1000.0
DRAIN_LIMIT = 120.0


def say(line: str = "") -> None:
    print(line, flush=True)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, Python {platform.python_version()}, " \
           f"load average {load:.1f} at start"


def redis_server() -> str:
    """REDIS_URL, else a Redis answering on 127.0.0.1:6379, else "" (Rasa then keeps its in-memory lock store)."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError):
        return ""
    return url


async def wait_drained(database_url: str, limit: float) -> float | None:
    """Seconds until no inbound text is unhandled and no outbound text unsent (None: not within ``limit``)."""
    engine = create_engine(sync_url(database_url), future=True)

    def backlog() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(
                select(func.count()).select_from(Message).where(
                    ((Message.direction == "in") & Message.status.in_(UNHANDLED))
                    | ((Message.direction == "out") & Message.status.in_(UNFINISHED))
                )
            ) or 0)

    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            if await asyncio.to_thread(backlog) == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.25)
        return None
    finally:
        engine.dispose()


def settings_line(settings: Settings, rasa_workers: int) -> str:
    """The behaviour settings in force (no secrets, no URLs), as the README's configuration table names them."""
    shown = {
        "INBOX_WORKERS": settings.inbox_workers, "RASA_TIMEOUT": settings.rasa_timeout,
        "RATE_LIMIT_PER_MINUTE": settings.rate_limit_per_minute, "SEND_TIMEOUT": settings.send_timeout,
        "SEND_MAX_ATTEMPTS": settings.send_max_attempts, "LOG_LEVEL": settings.log_level,
        "SANIC_WORKERS": rasa_workers, **tensorflow_threads(),
    }
    return ", ".join(f"{k}={v}" for k, v in shown.items())


async def warm_up(channel: Channel, prefix: str, intakes: int = 3) -> None:
    """A few full intakes one after another, so first-call costs (model graphs, pools) stay out of the figures."""
    for i in range(intakes):
        sender = f"{prefix}{i:06d}"
        for body in intake_script(random.Random(i)):
            if not await channel.send_turn(sender, body):
                break
            await asyncio.sleep(0.05)
            if channel.finish_turn(sender).handed_off:
                break
        channel.close_sender(sender)


async def measured_intakes(
    channel: Channel, args: argparse.Namespace, named: list[tuple[str, Proc]], phone_prefix: str,
    think: tuple[float, float] = THINK_STRESS,
) -> LoadResult:
    meter = procs.CpuMeter(named)
    meter.start()
    result = await run_intakes(channel, args.texters, args.seconds, seed=1, phone_prefix=phone_prefix, think=think)
    result.cpu_ms_per_turn = meter.per_turn_ms(result.turns)
    result.others_cores = meter.others_cores
    return result


class Report:
    """Collects the figures, prints each as it comes and a summary with the targets at the end."""

    def __init__(self) -> None:
        self.setup = ""
        self.settings = ""
        self.ack: AckResult | None = None
        self.burst: AckResult | None = None
        self.drain: float | None = None
        self.ours: LoadResult | None = None  # stress pacing, beside stock Rasa's run
        self.ours_sms: LoadResult | None = None  # SMS pacing
        self.stock: LoadResult | None = None
        self.imminent: ImminentResult | None = None  # during (b): a surge, every part of the stack busy
        self.imminent_quiet: ImminentResult | None = None  # after (b), once its backlog is done
        self.memory: list[procs.PeakMemory] = []
        self.triage_per_cpu_second: float | None = None
        self.claims: list[claims.ClaimResult] = []

    def print_ack(self, rate: float) -> None:
        assert self.ack is not None
        lat = Latency.of(self.ack.latencies)
        say(f"(a) webhook acknowledgement, {self.ack.offered} signed webhooks at {rate:.0f}/s over "
            f"{self.ack.seconds:.1f} s, {self.ack.errors} errors")
        say(f"    {lat.line()}   target p99 <= {TARGET_ACK_P99_MS:.0f} ms: {verdict(lat.p99 <= TARGET_ACK_P99_MS)}")
        drained = f"{self.drain:.1f} s" if self.drain is not None else f"NOT within {DRAIN_LIMIT:.0f} s"
        say(f"    the work behind the flood (Rasa turns, replies) was done {drained} after it ended")

    def print_burst(self) -> None:
        assert self.burst is not None
        lat = Latency.of(self.burst.latencies)
        say(f"(a) webhook acknowledgement, a burst of {self.burst.offered} texts from {BURST_TEXTERS} texters at once, "
            f"{self.burst.errors} errors")
        say(f"    {lat.line()}   target p99 <= {TARGET_BURST_P99_MS:.0f} ms: {verdict(lat.p99 <= TARGET_BURST_P99_MS)}")

    @staticmethod
    def print_load(label: str, result: LoadResult) -> None:
        lat = Latency.of(result.latencies)
        say(f"{label}")
        say(f"    {result.texters} texters for {result.seconds:.0f} s: {result.turns} turns = "
            f"{result.turns_per_second:.1f} turns/s; {result.intakes_done} intakes completed, "
            f"{result.intakes_abandoned} given up, {result.failed_turns} turns without a reply within 15 s")
        say(f"    per-turn latency {lat.line()}")
        cpu = ", ".join(f"{name} {ms:.0f}" for name, ms in result.cpu_ms_per_turn.items())
        say(f"    CPU ms per turn: {cpu}; other work on the machine meanwhile: {result.others_cores:.2f} cores")

    def rows(self) -> list[tuple[str, str, str, str]]:
        rows: list[tuple[str, str, str, str]] = []
        if self.ack is not None:
            lat = Latency.of(self.ack.latencies)
            rows.append(("(a) webhook ack p50 / p99 at 100 texts/s", f"{lat.p50:.1f} / {lat.p99:.1f} ms",
                         f"p99 <= {TARGET_ACK_P99_MS:.0f} ms", verdict(lat.p99 <= TARGET_ACK_P99_MS)))
        if self.burst is not None:
            lat = Latency.of(self.burst.latencies)
            rows.append((f"(a) webhook ack p50 / p99, burst of {BURST_TEXTS} from {BURST_TEXTERS} texters",
                         f"{lat.p50:.1f} / {lat.p99:.1f} ms", f"p99 <= {TARGET_BURST_P99_MS:.0f} ms",
                         verdict(lat.p99 <= TARGET_BURST_P99_MS)))
        for label, result in (("SMS pacing", self.ours_sms), ("stress pacing", self.ours)):
            if result is None:
                continue
            lat = Latency.of(result.latencies)
            rows.append((f"(b) ours, {label}: full turn p50 / p95 / p99",
                         f"{lat.p50:.0f} / {lat.p95:.0f} / {lat.p99:.0f} ms ({result.turns_per_second:.1f} turns/s)",
                         f"p99 <= {TARGET_TURN_P99_MS:.0f} ms", verdict(lat.p99 <= TARGET_TURN_P99_MS)))
        if self.stock is not None:
            lat = Latency.of(self.stock.latencies)
            rows.append(("(c) stock Rasa REST, stress pacing: turn p50 / p95 / p99",
                         f"{lat.p50:.0f} / {lat.p95:.0f} / {lat.p99:.0f} ms ({self.stock.turns_per_second:.1f} "
                         "turns/s)", "", ""))
        if self.ours is not None and self.stock is not None and self.stock.turns_per_second > 0:
            ratio = self.ours.turns_per_second / self.stock.turns_per_second
            rows.append(("(c) ratio ours / stock, turns per second (stress)", f"{ratio:.2f}", f">= {TARGET_RATIO:.1f}",
                         verdict(ratio >= TARGET_RATIO)))
        for label, result in (("during (b)", self.imminent), ("quiet", self.imminent_quiet)):
            if result is not None:
                lat = Latency.of(result.latencies)
                ok = lat.p99 <= TARGET_IMMINENT_P99_MS and result.missed == 0
                rows.append((f"(d) imminent text to head of queue, {label}: p50 / p99",
                             f"{lat.p50:.0f} / {lat.p99:.0f} ms (n={lat.count}, missed {result.missed})",
                             f"p99 <= {TARGET_IMMINENT_P99_MS:.0f} ms", verdict(ok)))
        if self.triage_per_cpu_second is not None:
            rows.append(("(f) triage speed", f"{self.triage_per_cpu_second:,.0f} texts per CPU second", "", ""))
        for r in self.claims:
            lat = Latency.of(r.latencies)
            rows.append(("(g) claim, 50 counselors at once, PostgreSQL: p50 / p99",
                         f"{lat.p50:.0f} / {lat.p99:.0f} ms ({r.claims} claims, {r.double_claims} doubled)", "", ""))
        return rows

    def print_summary(self, started: float) -> None:
        say("")
        say("=" * 110)
        say(f"SUMMARY  machine: {machine()}")
        say(f"         {self.setup}")
        say(f"         settings (make run's defaults; only ports, database and Twilio API differ): {self.settings}")
        rows = self.rows()
        width = max((len(r[0]) for r in rows), default=0)
        for name, value, target, ok in rows:
            say(f"  {name:<{width}}  {value:<36} {target:<16} {ok}")
        if self.memory:
            say("  (e) peak memory (VmHWM):")
            for mem in self.memory:
                say(f"      {mem.line()}")
        say(f"  total time {time.monotonic() - started:.0f} s; logs in {RUN_DIR / 'logs'}")
        say("=" * 110)


async def bench_ours(args: argparse.Namespace, report: Report, stack: ExitStack) -> Proc:
    """Phases (a), (b) and (d) on our stack; returns the action server, left running for stock Rasa."""
    twilio = ObservedTwilio(auto_status="delivered")  # Twilio posts a delivery callback for every text
    await twilio.start()
    try:
        backend = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
        url = stack.enter_context(fresh_database(backend, RUN_DIR))
        redis = redis_server()
        # What `make run` runs, with its defaults: only the ports, the database and the Twilio API differ.
        env = gateway_env(
            RUN_DIR / "var", url, gateway_port=free_port(), rasa_url=f"http://127.0.0.1:{free_port()}",
            twilio=twilio, ACTION_PORT=str(free_port()), REDIS_URL=redis,
        )
        for name in ("RASA_TIMEOUT", "LOG_LEVEL"):
            env.pop(name, None)
            os.environ.pop(name, None)
        with patched_env(env):
            bench_settings = Settings.from_env()
            workers = rasa_workers(bench_settings)
        report.settings = settings_line(bench_settings, workers)
        say(f"settings: {report.settings}")
        report.setup = (f"ours: gateway + Rasa ({workers} Sanic worker{'s' if workers > 1 else ''}) + action server; "
                        f"store and Rasa tracker store on {backend}; Rasa lock store "
                        f"{'on Redis' if redis else 'in memory (no Redis reachable)'}. "
                        f"stock: rasa run, in-memory tracker and lock store, 1 worker.")
        say(f"our stack: {report.setup.split('. stock:')[0].removeprefix('ours: ')}; starting...")
        started = time.monotonic()
        settings, ours = await asyncio.to_thread(procs.start_ours, env, RUN_DIR / "logs")
        say(f"    ready in {time.monotonic() - started:.0f} s")
        twilio.status_auth_token = settings.twilio_auth_token
        by_name = {p.name: p for p in ours}
        named = [("gateway", by_name["gateway"]), ("rasa", by_name["rasa"]), ("actions", by_name["actions"])]
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
                channel = GatewayChannel(session, settings, twilio)
                await warm_up(channel, "+1555100")
                if "a" not in args.skip:
                    numbers = [f"+1555300{i:06d}" for i in range(args.flood_numbers)]
                    report.ack = await flood(channel, args.rate, args.flood_seconds, numbers)
                    report.drain = await wait_drained(settings.database_url, limit=DRAIN_LIMIT)
                    report.print_ack(args.rate)
                    burst_numbers = [f"+1555310{i:06d}" for i in range(BURST_TEXTERS)]
                    report.burst = await flood(channel, 1e6, BURST_TEXTS / 1e6, burst_numbers)
                    await wait_drained(settings.database_url, limit=DRAIN_LIMIT)
                    report.print_burst()
                if "b" not in args.skip:
                    spacing = args.seconds / (args.probes + 1)
                    report.ours, report.imminent = await asyncio.gather(
                        measured_intakes(channel, args, named, "+1555400"),
                        probe_imminent(channel, settings, args.probes, spacing=spacing, phone_prefix="+1555900"),
                    )
                    report.print_load("(b) ours at stress pacing (answers 1-3 s apart, surges every 10 s): signed "
                                      "webhook -> gateway -> Rasa -> actions -> fake Twilio API", report.ours)
                    lat = Latency.of(report.imminent.latencies)
                    say(f"(d) imminent-risk text to the head of the queue, during (b): {lat.line(p95=False)}, "
                        f"missed {report.imminent.missed}")
                    await wait_drained(settings.database_url, limit=DRAIN_LIMIT)
                    report.imminent_quiet = await probe_imminent(
                        channel, settings, args.probes // 2, spacing=0.3, phone_prefix="+1555910")
                    lat = Latency.of(report.imminent_quiet.latencies)
                    say(f"(d) the same on a quiet stack, once (b)'s backlog is done: {lat.line(p95=False)}, "
                        f"missed {report.imminent_quiet.missed}")
                    report.ours_sms = await measured_intakes(channel, args, named, "+1555500", think=THINK_SMS)
                    report.print_load(f"(b) ours again, {args.texters} texters at SMS pacing (answers "
                                      f"{THINK_SMS[0]:.0f}-{THINK_SMS[1]:.0f} s apart, surges every 10 s)",
                                      report.ours_sms)
            report.memory += [procs.peak_memory(name, p.popen.pid) for name, p in named[:2] if p.popen]
        finally:
            await asyncio.to_thread(stop_stack, [by_name["gateway"], by_name["rasa"]])
        return by_name["actions"]
    finally:
        await twilio.stop()


async def bench_stock(args: argparse.Namespace, report: Report, actions: Proc) -> None:
    port = free_port()
    action_port = int(actions.health_url.rsplit(":", 1)[1].split("/")[0])
    say("stock Rasa: rasa run, REST channel, its defaults (in-memory tracker and lock store, 1 worker), the same "
        "model and action server; starting...")
    started = time.monotonic()
    stock = await asyncio.to_thread(procs.start_stock_rasa, port, action_port, RUN_DIR, RUN_DIR / "logs")
    say(f"    ready in {time.monotonic() - started:.0f} s")
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            channel = RestChannel(session, f"http://127.0.0.1:{port}")
            await warm_up(channel, "stock-warm-")
            report.stock = await measured_intakes(channel, args, [("rasa", stock), ("actions", actions)], "stock-")
        report.print_load("(c) stock Rasa: POST /webhooks/rest/webhook directly, same model and action server",
                          report.stock)
        report.memory.append(procs.peak_memory("rasa (stock)", stock.popen.pid))
    finally:
        await asyncio.to_thread(stop_stack, [stock])


def triage_speed(seconds: float = 3.0) -> tuple[int, float]:
    """Texts scored per CPU second by the triage library on this benchmark's own example texts (intake answers
    and imminent-risk texts, cycled), so the figure exists without the development set; (texts, per CPU s)."""
    from bot.triage import assess_many

    examples = [*TOPICS, *IMMINENT_TEXTS, "no", "yeah im safe", "im 17", "thank you for answering"]
    list(assess_many([("warm up", None)]))  # builds the analyzer outside the timing
    done, cpu_start, wall_end = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < wall_end:
        list(assess_many([(text, None) for text in examples]))
        done += len(examples)
    return done, done / max(time.process_time() - cpu_start, 1e-9)


def bench_triage(report: Report) -> None:
    say("(f) triage speed:")
    texts, per_cpu_second = triage_speed()
    report.triage_per_cpu_second = per_cpu_second
    say(f"    {per_cpu_second:,.0f} texts per CPU second on the benchmark's example texts ({texts:,} scored)")
    try:
        from bench import triage_bench

        triage_bench.main(["triage_bench"])  # speed and accuracy on ../shared/data when it is there
    except Exception as exc:  # the development set is optional: never fail the run for it
        say(f"    development-set run skipped: {type(exc).__name__}: {exc}")


async def bench_claims(report: Report) -> None:
    say("(g) claim latency, 50 counselors at once on PostgreSQL (fresh database, real bot.handoff.queue):")
    try:
        server, results = await claims.bench_claims()
    except LookupError as exc:
        say(f"    skipped: {exc}")
        return
    report.claims = results
    for r in results:
        lat = Latency.of(r.latencies)
        say(f"    {r.name:<20} {lat.line(p95=False)}; {r.claims} claims in {r.seconds:.2f} s "
            f"({r.claims / r.seconds:.0f}/s), double claims {r.double_claims}, "
            f"highest priority taken first: {'yes' if r.in_priority_order else 'NO'}  [{server}]")


def bench_abuse() -> None:
    try:
        from bench import abuse_bench

        abuse_bench.main([])
    except Exception as exc:  # never fail the whole run for one phase
        say(f"    abuse detector run failed: {type(exc).__name__}: {exc}")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--texters", type=int, default=50)
    p.add_argument("--seconds", type=float, default=45.0, help="duration of each intake load (b, c)")
    p.add_argument("--rate", type=float, default=100.0, help="webhooks per second in (a)")
    p.add_argument("--flood-seconds", type=float, default=20.0)
    p.add_argument("--flood-numbers", type=int, default=200)
    p.add_argument("--probes", type=int, default=20, help="imminent-risk probes during (b)")
    p.add_argument("--skip", default="", help="letters of phases to skip, e.g. 'fg'")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    started = time.monotonic()
    say(f"crisis intake benchmarks on {machine()}")
    say(f"targets: ack p99 <= {TARGET_ACK_P99_MS:.0f} ms at 100/s; full turn p99 <= {TARGET_TURN_P99_MS:.0f} ms "
        f"with 50 texters; turns/s ours/stock >= {TARGET_RATIO:.1f}; imminent to head of queue p99 <= "
        f"{TARGET_IMMINENT_P99_MS:.0f} ms")
    await asyncio.to_thread(ensure_model)
    report = Report()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    with ExitStack() as stack:
        if not {"a", "b", "c"} <= set(args.skip):
            actions = await bench_ours(args, report, stack)
            try:
                if "c" not in args.skip:
                    await bench_stock(args, report, actions)
            finally:
                report.memory.append(procs.peak_memory("action server", actions.popen.pid))
                await asyncio.to_thread(stop_stack, [actions])
    report.memory.append(procs.peak_memory("bench driver", os.getpid()))
    if "f" not in args.skip:
        bench_triage(report)
    if "g" not in args.skip:
        await bench_claims(report)
    if "h" not in args.skip:
        bench_abuse()
    report.print_summary(started)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
