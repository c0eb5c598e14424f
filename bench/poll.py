"""Poll: a keynote-sized crowd answers a live poll, against the question-vote path.

N phones (bench/phones.py, following the feed as web/static/js/live.js does) join one
session. Then, in the same Podium run, two bursts of the same shape:

1. **vote** (the baseline): four questions are asked and approved; every phone votes for one
   of them at a random moment of `--burst` seconds; `--change` of them vote for a second one
   later in the burst (as many writes as the poll's changed answers). Votes are coalesced
   like poll results (`votes_broadcast_ms`), so this is the path the poll's should match.
2. **poll**: the moderator creates a four-option choice poll, opens it and shows its results
   (`--show live`: the hall's bars grow as people answer, and the phones see them); every
   phone answers once within the burst, `--change` of them change their answer once, after
   the first one's ack. Then the moderator closes it (`--show after`: closes, then shows).

Measured for each: ack latency, refusals by code, from the last accepted answer until every
phone shows the final totals, the frames that carried the results to each phone
(coalescing: a few a second, not one per answer), CPU of the workers and Valkey over the
burst and the settling. Checked: the totals every phone ends with equal the store's (SCARD of
a question's voters; a poll's tally and answer count), and the store's equal what the acks
accepted; exit status 1 if not. For the poll, also from the close (or the show) until every
phone shows it closed with the final totals.

    .venv/bin/python -m bench.poll --clients 500,1000,2000,5000
    .venv/bin/python -m bench.poll --clients 40 --burst 1 --procs 1   # a smoke run

Everything runs on 127.0.0.1 and is stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import socketio

from bench.keynote import Fleets, Moderator, floats, mint, procs_for
from bench.phones import raise_open_files
from bench.presence_join import ROOT, Api, Podium, cpu_seconds, machine, machine_busy, pct
from server.store import keys

OPTIONS = ["Nanjing", "Tel Aviv", "Lagos", "Lisbon"]
WEIGHTS = [0.4, 0.3, 0.2, 0.1]  # the crowd's leaning: totals that differ per option


@dataclass
class Burst:
    """One burst of answers (or votes) and what followed (bench/README.md, "poll")."""

    path: str  # "poll" or "vote"
    n: int
    joined: int = 0
    sent: int = 0
    ok: int = 0
    timeouts: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    refused_messages: dict[str, int] = field(default_factory=dict)  # "code: message" -> count
    ack_p50_ms: float = 0
    ack_p95_ms: float = 0
    ack_p99_ms: float = 0
    ack_max_ms: float = 0
    burst_s: float = 0  # first answer sent to last ack
    store: dict[str, int] = field(default_factory=dict)  # the store's totals
    accepted: dict[str, int] = field(default_factory=dict)  # what the acks accepted
    phones_right: int = 0  # phones whose totals equal the store's at the end
    settle_p50_ms: float = 0  # per phone: last accepted answer -> its totals final
    settle_p99_ms: float = 0
    settle_max_ms: float = 0  # every phone shows the final totals
    frames_mean: float = 0  # frames carrying the results (or votes) per phone
    frames_max: int = 0
    frames_per_s: float = 0  # per phone, over the burst and settling
    feed_frames_per_phone: float = 0
    final_p50_ms: float = 0  # poll: close (or show) -> phone shows it closed, final totals
    final_p99_ms: float = 0
    final_max_ms: float = 0
    final_reach: float = 0
    seconds: float = 0  # the measured phase: burst start -> every phone settled
    server_cpu_s: float = 0
    store_cpu_s: float = 0
    us_per_answer: float = 0  # server CPU / accepted writes
    loadgen_cpu_s: float = 0
    machine_busy: float = 0
    mod_ack_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        acks_agree = self.timeouts > 0 or self.accepted == self.store
        return self.joined == self.n and self.phones_right == self.joined and acks_agree


class Asker:
    """One audience member in this process who asks the vote path's questions."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)

    async def ask(self, url: str, token: str, session: str, texts: list[str]) -> list[str]:
        await self.sio.connect(url, transports=["websocket"], auth={"participant": token}, wait_timeout=20)
        ack = await self.sio.call("session:join", {"session": session}, timeout=10)
        if not ack.get("ok"):
            raise RuntimeError(f"the asker could not join: {ack}")
        ids = []
        for i, text in enumerate(texts):
            payload = {"session": session, "text": text, "client_id": f"bench-poll-{i}"}
            ack = await self.sio.call("qa:ask", payload, timeout=10)
            if not ack.get("ok"):
                raise RuntimeError(f"qa:ask refused: {ack}")
            ids.append(str(ack["question"]["id"]))
        return ids

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 5)


async def moderate(mod: Moderator, event: str, payload: dict[str, Any], ack_ms: dict[str, float]) -> Any:
    """One moderator action; its ack time (ms) under its name."""
    t = time.monotonic()
    ack = await mod.call(event, {"session": mod.session, **payload})
    name = str(payload.get("action") or event)
    ack_ms[name] = round((time.monotonic() - t) * 1000, 1)
    if not ack.get("ok"):
        raise RuntimeError(f"{event} {payload}: {ack}")
    return ack


async def store_totals(r: aioredis.Redis, session: str, path: str, subject: Any) -> dict[str, int]:
    """The store's count: a poll's tally and how many answered; each question's voters."""
    if path == "poll":
        counts = await r.hgetall(f"{keys.poll(session, subject)}:t")
        voters = await r.hlen(keys.poll_answers(session, subject))
        return {"voters": int(voters), **{str(k): int(v) for k, v in counts.items() if int(v)}}
    return {qid: int(await r.scard(keys.voters(session, qid))) for qid in subject}


async def settled(fleets: Fleets, expected: dict[str, int], joined: int, within: float, final: bool) -> bool:
    """Wait until every phone shows `expected` (and, with `final`, the poll closed)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        checks = await fleets.ask("check", expected)
        if sum(c["final" if final else "match"] for c in checks) >= joined:
            return True
        await asyncio.sleep(0.1)
    return False


async def burst(
    args: argparse.Namespace,
    path: str,
    n: int,
    podium: Podium,
    fleets: Fleets,
    mod: Moderator,
    r: aioredis.Redis,
    joined: int,
    subject: Any,
) -> Burst:
    """Every phone answers (or votes) within the burst; wait for every phone to settle."""
    run = Burst(path=path, n=n, joined=joined)
    session = mod.session
    choices: list[Any] = list(range(len(OPTIONS))) if path == "poll" else list(subject)
    await fleets.ask("mark")
    pids, store_pids = podium.server_pids(), list(podium.store_pids)
    gen_pids = [*fleets.pids, os.getpid()]
    cpu0 = sum(cpu_seconds(p) for p in pids)
    store0 = sum(cpu_seconds(p) for p in store_pids)
    gen0 = sum(cpu_seconds(p) for p in gen_pids)
    busy0 = machine_busy()
    t0 = time.monotonic()
    plan = {
        "kind": path,
        "poll": subject if path == "poll" else "",
        "choices": choices,
        "weights": WEIGHTS,
        "start": t0 + 0.2,
        "burst": args.burst,
        "change": args.change,
        "timeout": args.ack_timeout,
    }
    results = await fleets.ask("answer", plan | {"seed": args.seed})
    last_ack = max(x["last_ack"] for x in results)
    ack_ms = [v for x in results for v in floats(x["ack_ms"])]
    run.sent = sum(x["sent"] for x in results)
    run.ok = sum(x["ok"] for x in results)
    run.timeouts = sum(x["timeouts"] for x in results)
    for x in results:
        for code, k in x["refused"].items():
            run.refused[code] = run.refused.get(code, 0) + k
        for message, k in x["messages"].items():
            run.refused_messages[message] = run.refused_messages.get(message, 0) + k
        for key, k in x["accepted"].items():
            run.accepted[key] = run.accepted.get(key, 0) + k
    if path == "poll":
        run.accepted["voters"] = sum(x["voters"] for x in results)
    run.burst_s = last_ack - min(x["first_sent"] for x in results)
    run.ack_p50_ms, run.ack_p95_ms, run.ack_p99_ms = pct(ack_ms, 50), pct(ack_ms, 95), pct(ack_ms, 99)
    run.ack_max_ms = max(ack_ms or [0])
    run.store = await store_totals(r, session, path, subject)
    live = path == "vote" or args.show == "live"
    if live and not await settled(fleets, run.store, joined, args.settle_timeout, final=False):
        run.notes.append(f"not every phone showed the store's totals within {args.settle_timeout} s")
    run.seconds = time.monotonic() - t0
    run.server_cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0
    run.store_cpu_s = sum(cpu_seconds(p) for p in store_pids) - store0
    run.loadgen_cpu_s = sum(cpu_seconds(p) for p in gen_pids) - gen0
    run.machine_busy = (machine_busy() - busy0) / run.seconds / (os.cpu_count() or 1)
    run.us_per_answer = run.server_cpu_s / max(1, run.ok) * 1e6
    tallies = [t for part in await fleets.ask("tallies") for t in part]
    reports = await fleets.ask("report")
    run.feed_frames_per_phone = sum(x["counters"]["frames"] for x in reports) / max(1, joined)
    frames = [t[2] for t in tallies]
    run.frames_mean = sum(frames) / max(1, len(frames))
    run.frames_max = max(frames or [0])
    run.frames_per_s = run.frames_mean / run.seconds
    if live:
        settle = [(t[1] - last_ack) * 1000 for t in tallies if t[0] == run.store]
        run.settle_p50_ms, run.settle_p99_ms = pct(settle, 50), pct(settle, 99)
        run.settle_max_ms = max(settle or [0])
    if path == "poll":
        # Close it (and, when its results were not shown, show them): every phone shows it
        # closed with the final totals.
        actions = ["close"] if args.show == "live" else ["close", "show"]
        for action in actions:
            t_final = time.monotonic()
            await moderate(mod, "poll:state", {"poll": subject, "action": action}, run.mod_ack_ms)
        if not await settled(fleets, run.store, joined, args.settle_timeout, final=True):
            run.notes.append(f"not every phone showed the poll closed within {args.settle_timeout} s")
        tallies = [t for part in await fleets.ask("tallies") for t in part]
        final = [(t[3] - t_final) * 1000 for t in tallies if t[3] and t[0] == run.store]
        run.final_p50_ms, run.final_p99_ms = pct(final, 50), pct(final, 99)
        run.final_max_ms = max(final or [0])
        run.final_reach = len(final) / max(1, joined)
    run.phones_right = sum(t[0] == run.store for t in tallies)
    if run.timeouts:
        run.notes.append(f"{run.timeouts} acks timed out: the acks cannot be checked against the store")
    elif run.accepted != run.store:
        run.notes.append(f"the acks accepted {run.accepted}, the store has {run.store}")
    if run.phones_right != joined:
        wrong = [t[0] for t in tallies if t[0] != run.store][:3]
        run.notes.append(f"{joined - run.phones_right} phones end with other totals, e.g. {wrong}")
    return run


async def podium_run(
    args: argparse.Namespace, n: int, workdir: Path, http: aiohttp.ClientSession
) -> list[Burst]:
    env = {"PODIUM_LOG_LEVEL": args.log_level, "PODIUM_JOIN_PER_MINUTE_PER_IP": "100000000"}
    env.update(item.split("=", 1) for item in args.podium_env)
    podium = Podium(workdir, args.workers, None, args.log_level, 500, source=args.podium_dir, extra_env=env)
    procs = args.procs or procs_for(n)
    fleets: Fleets | None = None
    mod = Moderator()
    asker = Asker()
    r = aioredis.from_url(str(podium.redis_url), decode_responses=True)
    runs: list[Burst] = []
    try:
        api = Api(podium, http)
        event = await api.new_event("Keynote")
        session = await api.sessions(event["id"], "Opening keynote")()
        invite = await api.post(
            f"/api/events/{event['id']}/invites", {"role": "moderator", "session_id": session}
        )
        tokens = await mint(api, event["code"], n + 1)
        fleets = Fleets(podium.url, session, tokens[:n], procs, args.connect_concurrency)
        joined = sum(j["joined"] for j in await fleets.ask("join"))
        print(f"  N={n}: {joined} phones joined", flush=True)
        await mod.connect(podium.url, invite["token"], session)
        for path in args.paths.split(","):
            if path == "vote":
                await fleets.ask("watch", ["", []])
                texts = [f"Should next year's keynote be in {city}?" for city in OPTIONS]
                qids = await asker.ask(podium.url, tokens[n], session, texts)
                await fleets.ask("watch", ["", qids])
                approvals: dict[str, float] = {}
                for qid in qids:
                    await moderate(mod, "qa:moderate", {"question": qid, "action": "approve"}, approvals)
                subject: Any = qids
            else:
                definition = {"kind": "choice", "question": "Where should we meet next year?"}
                ack_ms: dict[str, float] = {}
                ack = await moderate(mod, "poll:create", definition | {"options": OPTIONS}, ack_ms)
                subject = ack["poll"]
                await fleets.ask("watch", [subject, []])
                await moderate(mod, "poll:state", {"poll": subject, "action": "open"}, ack_ms)
                if args.show == "live":
                    await moderate(mod, "poll:state", {"poll": subject, "action": "show"}, ack_ms)
            await asyncio.sleep(args.pause)
            run = await burst(args, path, n, podium, fleets, mod, r, joined, subject)
            runs.append(run)
            print(table([run]), flush=True)
            await asyncio.sleep(args.pause)
        return runs
    finally:
        with contextlib.suppress(Exception):
            await r.aclose()
        await asker.close()
        await mod.close()
        if fleets is not None:
            await fleets.stop()
        podium.stop()


# --- report -----------------------------------------------------------------------------

COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("path", lambda r: r.path),
    ("sent / ok", lambda r: f"{r.sent:,} / {r.ok:,}"),
    ("refused", lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.refused.items())) or "0"),
    ("ack p50/p95/p99/max ms", lambda r: ms(r.ack_p50_ms, r.ack_p95_ms, r.ack_p99_ms, r.ack_max_ms)),
    ("burst s", lambda r: f"{r.burst_s:.1f}"),
    ("last answer → phone p50/p99/max ms", lambda r: ms(r.settle_p50_ms, r.settle_p99_ms, r.settle_max_ms)),
    ("result frames/phone (max)", lambda r: f"{r.frames_mean:.1f} ({r.frames_max})"),
    ("per s", lambda r: f"{r.frames_per_s:.1f}"),
    ("feed frames/phone", lambda r: f"{r.feed_frames_per_phone:.1f}"),
    (
        "close → phone p50/p99/max ms",
        lambda r: ms(r.final_p50_ms, r.final_p99_ms, r.final_max_ms) if r.path == "poll" else "–",
    ),
    ("phones right", lambda r: f"{r.phones_right:,}/{r.joined:,}"),
    ("server CPU s", lambda r: f"{r.server_cpu_s:.1f}"),
    ("Valkey CPU s", lambda r: f"{r.store_cpu_s:.1f}"),
    ("µs/answer", lambda r: f"{r.us_per_answer:.0f}"),
    ("phase s", lambda r: f"{r.seconds:.1f}"),
    ("loadgen CPU s", lambda r: f"{r.loadgen_cpu_s:.1f}"),
    ("machine busy", lambda r: f"{r.machine_busy:.0%}"),
]


def ms(*values: float) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def table(runs: list[Burst]) -> str:
    head = "| " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = ["| " + " | ".join(f(r) for _, f in COLUMNS) + " |" for r in runs]
    return "\n".join([head, rule, *rows])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="500,1000,2000", help="comma-separated N")
    p.add_argument("--paths", default="vote,poll", help="in this order: vote (the baseline), poll")
    p.add_argument("--burst", type=float, default=5.0, help="seconds over which every phone answers")
    p.add_argument("--change", type=float, default=0.3, help="share of phones that change their answer once")
    p.add_argument(
        "--show",
        choices=("live", "after"),
        default="live",
        help="poll results shown from the opening, or after the close",
    )
    p.add_argument("--pause", type=float, default=1.0, help="seconds before and after each burst")
    p.add_argument("--settle-timeout", type=float, default=30.0)
    p.add_argument("--ack-timeout", type=float, default=30.0, help="a phone's wait for an ack")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--procs", type=int, default=0, help="phone processes (0: one per 2,500 phones)")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--podium-dir", type=Path, default=ROOT, help="run Podium from this checkout")
    p.add_argument("--podium-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", type=Path, help="write every number here")
    return p.parse_args(argv)


async def run_all(args: argparse.Namespace) -> list[Burst]:
    runs: list[Burst] = []
    async with aiohttp.ClientSession() as http:
        for n in [int(x) for x in args.clients.split(",")]:
            with tempfile.TemporaryDirectory(prefix="podium-poll-") as tmp:
                runs.extend(await podium_run(args, n, Path(tmp), http))
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files()
    info = machine(args.podium_dir)
    print("poll:", " ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    started = time.time()
    runs = asyncio.run(run_all(args))
    print()
    print(table(runs))
    print()
    for r in runs:
        print(
            f"{r.path} N={r.n}: store {r.store}, acks accepted {r.accepted}, "
            f"moderator acks ms {r.mod_ack_ms}, refused {r.refused_messages or 0}, "
            f"{'right' if r.correct else 'WRONG'}"
        )
        for note in r.notes:
            print(f"note ({r.path}, N={r.n}): {note}")
    print(f"took {time.time() - started:.0f} s")
    if args.json:
        record = {
            "machine": info,
            "args": {k: str(v) for k, v in vars(args).items()},
            "runs": [asdict(r) | {"correct": r.correct} for r in runs],
        }
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return 0 if runs and all(r.correct for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
