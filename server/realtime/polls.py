"""Live polls over the socket: moderators prepare, open, close, show and hide them; the
audience answers. Every change runs in polls.lua and reaches each face through the session
feed in its view (a draft only to moderators, results to the audience only when shown);
results are logged coalesced, like vote counts."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import polls as pl
from server.domain import qa, validate
from server.errors import Conflict, Forbidden, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn


def _joined(conn: Conn, data: Any, fields: set[str], required: set[str]) -> tuple[Any, str]:
    data = validate.payload(data, fields | {"session"}, required | {"session"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return data, session_id


def _moderator(conn: Conn) -> None:
    if conn.principal.presence_role != idn.MODERATOR:
        raise Forbidden("Only moderators run polls.")


async def create(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:create {session, kind, question, options?, multi?, anonymous?, correct?, time_limit?}."""
    data, session_id = _joined(conn, data, set(pl.DEFINITION_FIELDS), {"kind", "question"})
    _moderator(conn)
    definition = pl.definition(data)
    poll_id, version = await app[appkeys.POLLS].create(session_id, definition)
    return ok(poll=poll_id, v=version)


async def edit(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:edit {session, poll, ...any definition field} (drafts only)."""
    data, session_id = _joined(conn, data, set(pl.DEFINITION_FIELDS) | {"poll"}, {"poll"})
    _moderator(conn)
    store = app[appkeys.POLLS]
    poll_id = validate.identifier(data["poll"], "poll")
    current = pl.poll_from_fields(await store.get(session_id, poll_id))
    definition = pl.definition({k: v for k, v in data.items() if k not in ("session", "poll")}, current)
    version = await store.edit(
        session_id, poll_id, {k: definition[k] for k in pl.DEFINITION_FIELDS if k in definition}
    )
    return ok(v=version)


async def act(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:state {session, poll, action: open|close|show|hide|delete}."""
    data, session_id = _joined(conn, data, {"poll", "action"}, {"poll", "action"})
    _moderator(conn)
    poll_id = validate.identifier(data["poll"], "poll")
    action = validate.choice(data["action"], "action", pl.ACTIONS)
    store = app[appkeys.POLLS]
    version, changed = await store.act(session_id, poll_id, action)
    if changed and action == "close":
        # The organizers' systems hear of it (never waiting for them: the outbox).
        poll = await store.one(session_id, poll_id)
        if poll is not None:
            await app[appkeys.WEBHOOKS].emit(
                str(conn.event_id),
                "poll.closed",
                {"session": session_id, "poll": pl.export(poll, lambda ms: ms)},
            )
    return ok(v=version, changed=changed)


async def answer(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:answer {session, poll, answer}: one per person, replaced while the poll is open."""
    data, session_id = _joined(conn, data, {"poll", "answer"}, {"poll", "answer"})
    person = conn.principal.participant_id
    if conn.principal.role != idn.AUDIENCE or not person:
        raise Forbidden("Polls are for the audience.")
    store = app[appkeys.POLLS]
    poll_id = validate.identifier(data["poll"], "poll")
    # The answer is checked against the poll as this worker's copy of the session has it (a
    # poll's kind and options never change once it opened); only a poll not open there is
    # read from the store. polls.lua checks again, atomically, that it is open and in time.
    local = app[appkeys.HUB].sessions.get(session_id)
    poll = local.state.polls.get(poll_id) if local is not None else None
    if poll is None or poll.get("state") != "open":
        poll = pl.poll_from_fields(await store.get(session_id, poll_id))
        if poll["state"] != "open":
            raise Conflict("This poll is not open.")
    keys = pl.answer_keys(poll, data["answer"])
    changed, voters = await store.answer(session_id, poll_id, person, keys)
    return ok(poll=poll_id, answer=keys, changed=changed, voters=voters)


async def approve(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:approve {session, poll, text, approve: bool}: an open answer reaches the hall and
    the audience only once a moderator lets it through."""
    data, session_id = _joined(conn, data, {"poll", "text", "approve"}, {"poll", "text", "approve"})
    _moderator(conn)
    poll_id = validate.identifier(data["poll"], "poll")
    text = validate.text(data["text"], "text", max_len=pl.TEXT_MAX, multiline=True)
    on = validate.boolean(data["approve"], "approve")
    version, changed = await app[appkeys.POLLS].approve(session_id, poll_id, text, on)
    return ok(v=version, changed=changed)


async def mine(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:mine {session}: the caller's answers to the session's polls (after a reload)."""
    _data, session_id = _joined(conn, data, set(), set())
    person = conn.principal.participant_id
    if not person:
        return ok(answers={})
    return ok(answers=await app[appkeys.POLLS].mine(session_id, person))


LEADERBOARD_SIZE = 10


async def leaderboard(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """poll:leaderboard {session}: the quiz's best players (most right answers, then the
    fastest), by the name they gave or their alias (moderators, speakers and screens)."""
    _data, session_id = _joined(conn, data, set(), set())
    if conn.principal.presence_role not in (idn.MODERATOR, idn.SCREEN, idn.SPEAKER):
        raise Forbidden("The leaderboard is for the stage.")
    scores = await app[appkeys.POLLS].quiz_scores(session_id)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))[:LEADERBOARD_SIZE]
    secret = app[appkeys.AUTH].secret
    names = await app[appkeys.IDENTITY].participant_names([person for person, _ in ranked])
    board = []
    for rank, ((person, (right, ms)), given) in enumerate(zip(ranked, names, strict=True), start=1):
        name = given or qa.pseudonym(secret, session_id, person)
        board.append({"rank": rank, "name": name, "right": right, "seconds": round(ms / 1000, 1)})
    return ok(leaderboard=board, players=len(scores))


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the poll handlers."""
    handlers.register(sio, app, p.POLL_CREATE, create)
    handlers.register(sio, app, p.POLL_EDIT, edit)
    handlers.register(sio, app, p.POLL_STATE, act)
    answers = handlers.PersonLimit("answer", app[appkeys.SETTINGS].votes_per_10s, 10)
    handlers.register(sio, app, p.POLL_ANSWER, answer, per_person=answers)
    handlers.register(sio, app, p.POLL_MINE, mine)
    handlers.register(sio, app, p.POLL_APPROVE, approve)
    handlers.register(sio, app, p.POLL_LEADERBOARD, leaderboard)


class ResultLogger:
    """Logs changed poll results at most once per session per interval, from one worker."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def flush_once(self) -> int:
        """Log due results; returns how many sessions."""
        return await self.app[appkeys.POLLS].log_results(self.app[appkeys.SETTINGS].votes_broadcast_ms)
