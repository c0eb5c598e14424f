"""Access on open sockets: a revoked or expired link, or a ban, ends a socket's powers within
seconds on every worker, whatever happened to any broadcast.

Revoking a link or banning a person also closes their sockets at once through the broadcast
channel; that message is lost when a worker is not listening (a store restart, a dropped
subscription). So every worker checks its own sockets against the store as well:

- every event from a socket opened with an invite checks the invite's current state (revoked,
  expired, role and scope unchanged), trusting a check at most INVITE_FRESH_S old;
- every SWEEP_S, one round trip reads the state of every invite this worker's sockets hold,
  and one more the ban count of every event they are in (a new ban reads that event's bans);
  a socket that lost its grounds is told why and closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.errors import Unauthorized
from server.realtime import protocol as p
from server.realtime.connections import Conn
from server.store.identity import IdentityStore, InviteState

logger = logging.getLogger(__name__)

INVITE_FRESH_S = 2.0
SWEEP_S = 1.0

REVOKED = "This link was revoked by the organizer."
EXPIRED = "This link has expired."
BANNED = "You were removed from this event by a moderator."


@dataclass
class Check:
    """What the store said of one invite, and when (monotonic seconds)."""

    at: float
    state: InviteState | None


def refusal(conn: Conn, state: InviteState | None, now: float) -> str | None:
    """Why this socket's invite no longer grants its powers, or None while it does."""
    who = conn.principal
    if state is None or state.revoked:
        return REVOKED
    if state.expires_at <= now:
        return EXPIRED
    if (state.role, state.event_id or None, state.session_id or None) != (
        who.role,
        who.event_id,
        who.session_id,
    ):
        return REVOKED  # the record no longer says what the socket was opened with
    return None


class Guard:
    """One worker's checks of its sockets' grounds (see the module's docstring)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.checks: dict[str, Check] = {}
        self.bans: dict[str, int] = {}  # event id -> ban count last seen
        self.sweeper: IdentityStore | None = None  # on the worker's background connection
        self.closing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def require(self, conn: Conn) -> None:
        """Raise Unauthorized (and close the socket) unless its invite still holds; a no-op
        for sockets without one (the audience, a fixed organizer token)."""
        invite_id = conn.principal.invite_id
        if invite_id is None:
            return
        check = self.checks.get(invite_id)
        if check is None or time.monotonic() - check.at > INVITE_FRESH_S:
            states = await self.app[appkeys.IDENTITY].invite_states([invite_id])
            check = self.checks[invite_id] = Check(time.monotonic(), states[invite_id])
        reason = refusal(conn, check.state, time.time())
        if reason is not None:
            self.close_soon([conn], reason)
            raise Unauthorized(reason)

    async def sweep_once(self) -> None:
        """Check every local socket's invite, and new bans of the events they are in."""
        store = self.sweeper or self.app[appkeys.IDENTITY]
        conns = list(self.app[appkeys.CONNECTIONS].values())
        invites = sorted({c.principal.invite_id for c in conns if c.principal.invite_id})
        if invites:
            states = await store.invite_states(invites)
            at = time.monotonic()
            for invite_id, state in states.items():
                self.checks[invite_id] = Check(at, state)
        for gone in set(self.checks) - set(invites):
            del self.checks[gone]
        now = time.time()
        by_reason: dict[str, list[Conn]] = {}
        for conn in conns:
            check = self.checks.get(conn.principal.invite_id or "")
            if check is not None:
                reason = refusal(conn, check.state, now)
                if reason is not None:
                    by_reason.setdefault(reason, []).append(conn)
        for reason, gone_conns in by_reason.items():
            self.close_soon(gone_conns, reason)
        await self._sweep_bans(store, conns)

    async def _sweep_bans(self, store: IdentityStore, conns: list[Conn]) -> None:
        events = sorted({c.event_id for c in conns if c.event_id and c.principal.participant_id})
        for gone in set(self.bans) - set(events):
            del self.bans[gone]
        if not events:
            return
        for event_id, count in zip(events, await store.ban_counts(events), strict=True):
            if self.bans.get(event_id, 0) == count:
                continue
            # A new ban is taken as seen only once acted on: if reading who it was fails (the
            # store just restarted), the next sweep sees the change again.
            banned = await store.banned_ids(event_id)
            hit = [
                c
                for c in conns
                if c.event_id == event_id
                and c.principal.participant_id in banned
                and c.principal.role == idn.AUDIENCE
            ]
            if hit:
                self.close_soon(hit, BANNED)
            self.bans[event_id] = count

    def close_soon(self, conns: list[Conn], reason: str) -> None:
        """Tell these sockets why and close them, after the ack that refused them is out."""
        fresh = [c for c in conns if c.sid not in self.closing]
        if not fresh:
            return
        self.closing.update(c.sid for c in fresh)
        logger.info("closing %d sockets: %s", len(fresh), reason)
        asyncio.get_running_loop().call_later(0.05, self._start_close, fresh, reason)

    def _start_close(self, conns: list[Conn], reason: str) -> None:
        task = asyncio.create_task(self._close(conns, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, conns: list[Conn], reason: str) -> None:
        sio = self.app[appkeys.SIO]
        for conn in conns:
            try:
                await sio.emit(p.CLOSED, {"code": "unauthorized", "message": reason}, to=conn.sid)
                # This worker's own sockets: no broadcast needed (nor possible in an outage).
                await sio.disconnect(conn.sid, ignore_queue=True)
            except Exception:
                logger.debug("closing %s failed", conn.sid, exc_info=True)
            finally:
                self.closing.discard(conn.sid)
