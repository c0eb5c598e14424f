"""A live session for the fault suite: people asking and voting, a moderator approving and
putting questions on screen, a stage manager running the clock, a hall screen and people
watching, all of them pages (tests/faults/browser.py) that behave as the browser does.

Every write is kept in a ledger when Podium acknowledges it. A write refused `unavailable`
or `rate_limited`, or left without an answer (the connection dropped, 8 s passed), is sent
again as the page would: an ask with the same `client_id` (the outbox), a vote, an approval,
a screen or a clock action as the same state. At the end, `finish()` stops the writers,
changes the clock once more (a fence every page must pass), and compares with the store
(the Q&A export reads it directly, votes per person from each voter's snapshot): no
acknowledged write lost, none applied twice, every page showing the store's version,
questions, votes, screen and clock.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.conftest import Api
from tests.faults.browser import Crowd, Page
from tests.system.conftest import Setup, create_event, create_invite, join_code

WRITE_DEADLINE_S = 60.0
ASK_EVERY_S = 0.5
VOTE_EVERY_S = 0.3
MODERATE_EVERY_S = 0.25
CLOCK_EVERY_S = 0.5

# A lively session, not a flood: per-person and per-socket limits its pace stays under.
SETTINGS = {"asks_per_minute": "600", "socket_events_per_10s": "200"}

MODERATOR_VIEW = ("moderator", "director")


@dataclass
class Ledger:
    """Every write Podium acknowledged, and what it took."""

    asks: dict[str, str] = field(default_factory=dict)  # text (unique per ask) -> question id
    votes: dict[str, set[str]] = field(default_factory=dict)  # question -> voters (participant ids)
    approved: set[str] = field(default_factory=set)
    screen: str | None = None
    acked: Counter[str] = field(default_factory=Counter)
    retried: int = 0  # writes that needed more than one try
    resent: Counter[str] = field(default_factory=Counter)  # tries after the first, by why
    applied_unanswered: int = 0  # asks whose unanswered try was applied (created: false on a retry)

    def voters(self) -> dict[str, set[str]]:
        """participant -> the questions they vote for now."""
        out: dict[str, set[str]] = {}
        for qid, people in self.votes.items():
            for pid in people:
                out.setdefault(pid, set()).add(qid)
        return out


@dataclass
class Person:
    """Someone in the audience who asks and votes: their page and who they are."""

    page: Page
    participant: dict[str, Any]

    @property
    def pid(self) -> str:
        return str(self.participant["id"])


@dataclass
class Result:
    """What a scenario measured."""

    acknowledged: int
    retried: int
    resent: Counter[str]
    lost: int
    doubled: int
    pages: int
    version: int

    def line(self) -> str:
        why = ", ".join(f"{k} {n}" for k, n in sorted(self.resent.items())) or "none"
        return (
            f"writes acknowledged {self.acknowledged}, retried {self.retried} (tries again: {why}), "
            f"lost {self.lost}, doubled {self.doubled}; {self.pages} pages at v{self.version}"
        )


class Show:
    """One session in full swing on Podium at `urls` (see the module's docstring)."""

    def __init__(self, api: Api, setup: Setup, crowd: Crowd) -> None:
        self.api = api
        self.setup = setup
        self.crowd = crowd
        self.ledger = Ledger()
        self.people: list[Person] = []
        self.pages: list[Page] = []  # every page that must end up at the store's state
        self.moderator: Page | None = None
        self.director: Page | None = None
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.marks = 0

    @property
    def session(self) -> str:
        return self.setup.session

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        api: Api,
        urls: list[str],
        crowd: Crowd,
        *,
        askers: int = 6,
        watchers: int = 3,
        name: str = "Fault Day",
    ) -> Show:
        """An event, its links, and the pages of the session, spread over the workers."""
        setup = await create_event(api, name)
        show = cls(api, setup, crowd)
        mod = (await create_invite(api, setup, "moderator"))["token"]
        screen = (await create_invite(api, setup, "screen"))["token"]
        home = iter(range(10_000))
        show.moderator = crowd.page("moderator", {"token": mod}, urls, next(home))
        show.director = crowd.page("director", {"token": mod}, urls, next(home))
        pages = [show.moderator, show.director, crowd.page("screen", {"token": screen}, urls, next(home))]
        for i in range(askers):
            p = await join_code(http, api.base, setup.code, name=f"Asker {i}")
            page = crowd.page(f"asker{i}", {"participant": p["token"]}, urls, next(home))
            show.people.append(Person(page, p))
            pages.append(page)
        for i in range(watchers):
            p = await join_code(http, api.base, setup.code, name=f"Watcher {i}")
            pages.append(crowd.page(f"watcher{i}", {"participant": p["token"]}, urls, next(home)))
        await crowd.enter(pages, setup.session)
        show.pages = pages
        return show

    # --- writing, as pages do ---------------------------------------------------------------

    async def write(
        self, page: Page, event: str, payload: dict[str, Any], *, count: bool = True
    ) -> dict[str, Any]:
        """Send until acknowledged `ok` (see the module's docstring); the ack. `count`: a
        write of the session's, kept in the ledger (not a read of the test's)."""
        started = time.monotonic()
        tries = 0
        unanswered = False
        while True:
            assert time.monotonic() - started < WRITE_DEADLINE_S, f"{page.name}: {event} never acknowledged"
            if not page.joined:
                assert not page.ended, f"{page.name} was closed by Podium: {page.closed or page.refusal}"
                await page.wait_joined(0.5)
                continue
            tries += 1
            ack = await page.request(event, payload)
            if ack["ok"]:
                if not count:
                    return ack
                self.ledger.acked[event] += 1
                if tries > 1:
                    self.ledger.retried += 1
                if event == "qa:ask" and unanswered and ack["created"] is False:
                    self.ledger.applied_unanswered += 1
                return ack
            why = "no ack" if ack.get("no_ack") else ack["error"]["code"]
            assert why in ("no ack", "unavailable", "rate_limited"), (page.name, event, payload, ack)
            if count:
                self.ledger.resent[why] += 1
            unanswered = unanswered or why == "no ack"
            if why != "no ack":
                await asyncio.sleep(
                    min(1.0, float(ack["error"].get("retry_after", 1))) * (0.5 + random.random())
                )

    async def ask(self, person: Person, text: str) -> str:
        """One question (a new client_id, the same on every try); its id."""
        payload = {"session": self.session, "text": text, "client_id": uuid.uuid4().hex}
        ack = await self.write(person.page, "qa:ask", payload)
        qid = str(ack["question"]["id"])
        self.ledger.asks[text] = qid
        return qid

    async def ask_through_cut(self, person: Person, graceful: bool) -> bool:
        """Ask, and lose the connection before the answer can arrive (a phone walking into a
        lift); once back (on the other worker), ask again with the same client_id, as the
        outbox does. Whether the first try had made the question (the retry found it)."""
        text = f"{person.page.name} asks through a cut ({uuid.uuid4().hex[:8]})?"
        payload = {"session": self.session, "text": text, "client_id": uuid.uuid4().hex}
        first = person.page.request("qa:ask", payload)
        person.page.cut(graceful=graceful, elsewhere=True)  # before the loop could read an answer
        assert (await first).get("no_ack"), "an answer came through a cut connection"
        self.ledger.resent["no ack"] += 1
        self.ledger.retried += 1
        ack = await self.write(person.page, "qa:ask", payload)
        self.ledger.asks[text] = str(ack["question"]["id"])
        if not ack["created"]:
            self.ledger.applied_unanswered += 1
        return not ack["created"]

    async def vote(self, person: Person, qid: str, on: bool) -> None:
        payload = {"session": self.session, "question": qid, "vote": on}
        ack = await self.write(person.page, "qa:vote", payload)
        voters = self.ledger.votes.setdefault(str(ack["question"]), set())
        (voters.add if ack["voted"] else voters.discard)(person.pid)

    async def moderate(self, qid: str, action: str) -> None:
        assert self.moderator is not None
        payload = {"session": self.session, "question": qid, "action": action}
        await self.write(self.moderator, "qa:moderate", payload)
        if action in ("approve", "screen"):
            self.ledger.approved.add(qid)
        if action == "screen":
            self.ledger.screen = qid

    async def clock(self, action: str, seconds: int | None = None) -> dict[str, Any]:
        assert self.director is not None
        payload: dict[str, Any] = {"session": self.session, "action": action}
        if seconds is not None:
            payload["seconds"] = seconds
        return await self.write(self.director, "stage:timer", payload)

    # --- the people -------------------------------------------------------------------------

    def start(self) -> None:
        """Everyone gets going."""
        for person in self.people:
            self.tasks.append(asyncio.create_task(self._asking(person)))
            self.tasks.append(asyncio.create_task(self._voting(person)))
        self.tasks.append(asyncio.create_task(self._moderating()))
        self.tasks.append(asyncio.create_task(self._directing()))
        self.crowd.tasks.update(self.tasks)  # cancelled with the pages if the test fails first

    def burst(self, per_person: int = 3) -> None:
        """Everyone asks several questions at once (the talk just ended); each is sent until
        acknowledged, finished by finish()."""
        for person in self.people:
            for i in range(per_person):
                text = f"{person.page.name} bursts #{i} ({uuid.uuid4().hex[:8]})?"
                task = asyncio.create_task(self.ask(person, text))
                self.tasks.append(task)
                self.crowd.tasks.add(task)

    async def _pace(self, seconds: float) -> None:
        await asyncio.sleep(seconds * (0.75 + random.random() / 2))

    async def _asking(self, person: Person) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            await self.ask(person, f"{person.page.name} asks #{n} ({uuid.uuid4().hex[:8]})?")
            await self._pace(ASK_EVERY_S)

    async def _voting(self, person: Person) -> None:
        while not self.stop.is_set():
            others = sorted(
                qid
                for qid, q in person.page.feed.questions.items()
                if q["state"] == "approved" and not q["text"].startswith(person.page.name + " ")
            )
            if others:
                qid = random.choice(others)
                await self.vote(person, qid, person.pid not in self.ledger.votes.get(qid, set()))
            await self._pace(VOTE_EVERY_S)

    async def _moderating(self) -> None:
        assert self.moderator is not None
        mod = self.moderator
        while not self.stop.is_set():
            for qid, q in list(mod.feed.questions.items()):
                if q["state"] == "pending" and qid not in self.ledger.approved and not self.stop.is_set():
                    await self.moderate(qid, "approve")
            approved = [q for q in mod.feed.questions.values() if q["state"] == "approved"]
            newest = sorted(approved, key=lambda q: q["created_at"])[-2:]
            pick = next((q["id"] for q in newest if q["id"] != self.ledger.screen), None)
            if pick is not None and not self.stop.is_set():
                await self.moderate(pick, "screen")
            await self._pace(MODERATE_EVERY_S)

    async def _directing(self) -> None:
        n = 0
        while not self.stop.is_set():
            step = n % 3
            if step == 0:
                await self.clock("reset", 600 + n)
            else:
                await self.clock("start" if step == 1 else "pause")
            n += 1
            await self._pace(CLOCK_EVERY_S)

    # --- measuring ----------------------------------------------------------------------------

    def live_pages(self) -> list[Page]:
        return [p for p in self.pages if not p.closing]

    async def converged_since(
        self, since: float, back: list[Page] | None = None, timeout: float = 60
    ) -> float:
        """Seconds from `since` (the fault) until every page was in the session and showed a
        change the stage manager makes at once (the clock set to a new length, sent until
        acknowledged), and so everything logged before it: the log is in order; the pages the
        fault cut off (`back`) must have come back first. Call it right after the fault (or
        start it as a task)."""
        returning = set(back or ())
        self.marks += 1
        version = int((await self.clock("reset", 1200 + self.marks))["v"])
        deadline = time.monotonic() + timeout
        behind = self.live_pages()
        while True:
            behind = [
                p
                for p in behind
                if not p.joined
                or p.feed.pos is None
                or p.feed.pos < (version, 0)
                or (p in returning and (p.back_at or 0) < since)
            ]
            if not behind:
                return time.monotonic() - since
            assert time.monotonic() < deadline, f"{len(behind)} pages never reached v{version}: " + ", ".join(
                f"{p.name} at {p.feed.pos} joined={p.joined} ended={p.ended}" for p in behind[:5]
            )
            await asyncio.sleep(0.01)

    def converging(self, since: float, back: list[Page] | None = None) -> asyncio.Task[float]:
        """converged_since(), measured in the background."""
        task = asyncio.create_task(self.converged_since(since, back))
        self.crowd.tasks.add(task)
        return task

    async def wait_writes(self, kind: str, more: int, timeout: float = 30) -> None:
        """Until `more` writes of a kind are acknowledged after now."""
        target = self.ledger.acked[kind] + more
        deadline = time.monotonic() + timeout
        while self.ledger.acked[kind] < target:
            assert time.monotonic() < deadline, f"no {more} more {kind} acknowledged in {timeout} s"
            await asyncio.sleep(0.05)

    # --- the end ------------------------------------------------------------------------------

    async def finish(self, timeout: float = 30) -> Result:
        """Stop writing; fence; compare the store with the ledger and with every page."""
        self.stop.set()
        await asyncio.gather(*self.tasks)
        fence = await self.clock("reset", 900)
        version, clock = int(fence["v"]), fence["clock"]
        pages = self.live_pages()
        deadline = time.monotonic() + timeout
        for page in pages:
            while page.feed.pos is None or page.feed.pos < (version, 0):
                assert time.monotonic() < deadline, f"{page.name} stuck at {page.feed.pos} (fence v{version})"
                await asyncio.sleep(0.02)

        export = await self.api.ok("GET", f"/api/sessions/{self.session}/qa.json")
        assert export["session"]["version"] == version, (export["session"], version)
        stored = {q["id"]: q for q in export["questions"]}
        screen = next((qid for qid, q in stored.items() if q["on_screen"]), None)
        ledger = self.ledger

        # Asks: each acknowledged one in the store, under its id, once; nothing else there.
        texts = Counter(q["text"] for q in stored.values())
        doubled = sum(n - 1 for n in texts.values() if n > 1)
        lost = sum(1 for text, qid in ledger.asks.items() if stored.get(qid, {}).get("text") != text)
        strays = [q["text"] for q in stored.values() if q["text"] not in ledger.asks]
        assert not strays, f"questions in the store that no acknowledged ask made: {strays[:5]}"
        # Votes: each question's count is its acknowledged voters; each voter's set as acked.
        for qid, q in stored.items():
            expected = len(ledger.votes.get(qid, ()))
            lost += max(0, expected - q["votes"])
            doubled += max(0, q["votes"] - expected)
        acked = ledger.voters()
        for person in self.people:
            snap = await self.write(person.page, "session:snapshot", {}, count=False)
            have = set(snap["qa"]["voted"])
            want = acked.get(person.pid, set())
            lost += len(want - have)
            assert not have - want, (
                f"{person.page.name} votes for {have - want} in the store, never acknowledged"
            )
        # Moderation: what was approved stays approved; the last question put on screen is on it.
        public = {qid for qid, q in stored.items() if q["state"] in ("approved", "answered")}
        lost += len(ledger.approved - public)
        assert public <= ledger.approved, f"approved without an acknowledgement: {public - ledger.approved}"
        lost += screen != ledger.screen
        assert lost == 0 and doubled == 0, self._story(stored, screen, lost, doubled)

        # Every page shows the store's state.
        def view(page: Page) -> dict[str, Any]:
            mod = page.name in MODERATOR_VIEW
            return {
                "v": page.feed.pos[0] if page.feed.pos else None,
                "questions": {
                    qid: (q["state"], q["text"], q["votes"])
                    for qid, q in page.feed.questions.items()
                    if mod or q["state"] in ("approved", "answered")
                },
                "screen": page.state_screen(),
                "clock": _clock(page.feed.state.get("clock")),
            }

        def truth(page: Page) -> dict[str, Any]:
            mod = page.name in MODERATOR_VIEW
            return {
                "v": version,
                "questions": {
                    qid: (q["state"], q["text"], q["votes"])
                    for qid, q in stored.items()
                    if mod or q["state"] in ("approved", "answered")
                },
                "screen": screen,
                "clock": _clock(clock),
            }

        # Vote counts reach pages coalesced: give the last of them a moment.
        while True:
            wrong = [p for p in pages if view(p) != truth(p)]
            if not wrong or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert not wrong, f"{len(wrong)} of {len(pages)} pages differ from the store, e.g. " + _diff(
            view(wrong[0]), truth(wrong[0]), wrong[0].name
        )
        assert all(p.feed.regressions == 0 for p in pages), "a page went back in the log"
        return Result(
            acknowledged=sum(ledger.acked.values()),
            retried=ledger.retried,
            resent=ledger.resent,
            lost=lost,
            doubled=doubled,
            pages=len(pages),
            version=version,
        )

    def _story(self, stored: dict[str, Any], screen: str | None, lost: int, doubled: int) -> str:
        missing = {t: q for t, q in self.ledger.asks.items() if stored.get(q, {}).get("text") != t}
        return (
            f"lost {lost}, doubled {doubled}: asks missing {list(missing)[:5]}; "
            f"screen {screen} (acknowledged {self.ledger.screen}); "
            f"texts twice {[t for t, n in Counter(q['text'] for q in stored.values()).items() if n > 1][:5]}"
        )


def _clock(clock: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if clock is None:
        return None
    left = None if clock["state"] == "running" else clock["left_ms"]
    return (clock["state"], left, clock["deadline_ms"])


def _diff(have: dict[str, Any], want: dict[str, Any], name: str) -> str:
    out = [name]
    for key, value in want.items():
        if have[key] == value:
            continue
        if key == "questions":
            a = have[key]
            out.append(
                f"questions: missing {sorted(set(value) - set(a))[:3]}, extra {sorted(set(a) - set(value))[:3]}, "
                f"different {[(k, a[k], value[k]) for k in a if k in value and a[k] != value[k]][:3]}"
            )
        else:
            out.append(f"{key}: {have[key]} (store: {value})")
    return "; ".join(out)
