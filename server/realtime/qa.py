"""Q&A over the socket: ask, vote, withdraw, moderate, settings, mute and ban.

Every change bumps the session's version; one delta per change goes to the moderators'
room (everything) and one to the public room (only what the audience may see, and the
waiting/declined counts), so every socket sees every version. Vote counts are coalesced.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import qa, validate
from server.errors import Conflict, Forbidden, Invalid, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


def counts(questions: list[dict[str, Any]]) -> dict[str, int]:
    """What the audience may know of moderation: how many wait, how many were declined."""
    pending = sum(1 for q in questions if q["state"] == qa.PENDING)
    declined = sum(1 for q in questions if q["state"] == qa.DECLINED and q["held"] != "muted")
    return {"pending": pending, "declined": declined}


async def qa_snapshot(app: web.Application, conn: Conn, session_id: str) -> dict[str, Any]:
    """The Q&A part of a session snapshot, filtered for the caller's role."""
    store = app[appkeys.QA]
    questions = await store.all(session_id)
    screen = await store.screen(session_id)
    settings = await store.settings(session_id)
    who = conn.principal
    if who.presence_role == idn.MODERATOR:
        return {
            "settings": settings.full(),
            "questions": [qa.moderator_view(q, screen) for q in questions],
            "screen": screen,
            "counts": counts(questions),
        }
    visible = [q for q in questions if q["state"] in qa.PUBLIC_STATES]
    out: dict[str, Any] = {
        "settings": settings.public(),
        "questions": [qa.public_view(q, screen) for q in visible],
        "screen": screen,
        "counts": counts(questions),
    }
    if who.participant_id:
        pid = who.participant_id
        out["mine"] = [qa.author_view(q, screen) for q in questions if q["author"] == pid]
        out["voted"] = await store.voted(session_id, pid, [q["id"] for q in visible])
    return out


async def publish(app: web.Application, session_id: str, version: int, question_ids: list[str]) -> None:
    """Send one change to every socket in the session, each room seeing what it may."""
    store = app[appkeys.QA]
    sio = app[appkeys.SIO]
    everything = await store.all(session_id)
    changed = [q for q in everything if q["id"] in set(question_ids)]
    screen = await store.screen(session_id)
    tally = counts(everything)
    await sio.emit(
        p.QA_DELTA,
        {
            "session": session_id,
            "v": version,
            "questions": [qa.moderator_view(q, screen) for q in changed],
            "screen": screen,
            "counts": tally,
        },
        room=p.moderators_room(session_id),
    )
    await sio.emit(
        p.QA_DELTA,
        {
            "session": session_id,
            "v": version,
            # A question the audience may not see (any more) is sent as a bare removal.
            "questions": [
                qa.public_view(q, screen)
                if q["state"] in qa.PUBLIC_STATES
                else {"id": q["id"], "removed": True}
                for q in changed
            ],
            "screen": screen,
            "counts": tally,
        },
        room=p.public_room(session_id),
    )
    for q in changed:
        await sio.emit(
            p.QA_MINE,
            {"session": session_id, "question": qa.author_view(q, screen)},
            room=p.person_room(q["author"]),
        )


def _in_session(conn: Conn, data: Any, fields: set[str], required: set[str]) -> Any:
    data = validate.payload(data, fields | {"session"}, required | {"session"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return data


def _moderator(conn: Conn) -> None:
    if conn.principal.presence_role != idn.MODERATOR:
        raise Forbidden("Only moderators may do that.")


def _person(conn: Conn) -> str:
    pid = conn.principal.participant_id
    if not pid:
        raise Forbidden("Open the event's page to take part.")
    return pid


async def ask(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:ask {session, text, anonymous?, client_id} -> the question as its author sees it."""
    data = _in_session(conn, data, {"text", "anonymous", "client_id"}, {"text", "client_id"})
    pid = _person(conn)
    store = app[appkeys.QA]
    session_id = str(conn.session_id)
    settings = await store.settings(session_id)
    text = qa.question_text(data["text"], settings)
    client_id = qa.client_id(data["client_id"])
    anonymous = validate.boolean(data.get("anonymous", False), "anonymous")
    name = "" if anonymous else await app[appkeys.IDENTITY].participant_name(pid)
    held = "word" if qa.held_by_words(text, settings.words) else ""
    secret = app[appkeys.AUTH].secret
    qid, created, version = await store.ask(
        session_id,
        question_id=secrets.token_urlsafe(9),
        client_id=client_id,
        person=pid,
        name=name,
        anonymous=anonymous,
        alias=qa.pseudonym(secret, session_id, pid),
        text=text,
        now_ms=now_ms(),
        held=held,
        slow_ms=settings.slow_seconds * 1000,
    )
    if created:
        await publish(app, session_id, version, [qid])
    question = await store.get(session_id, qid)
    return ok(question=qa.author_view(question, await store.screen(session_id)), created=created)


async def vote(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:vote {session, question, vote: bool} -> the question's votes (broadcast coalesced)."""
    data = _in_session(conn, data, {"question", "vote"}, {"question", "vote"})
    pid = _person(conn)
    qid = validate.identifier(data["question"], "question")
    on = validate.boolean(data["vote"], "vote")
    qid, votes, _changed = await app[appkeys.QA].vote(str(conn.session_id), qid, pid, on)
    return ok(question=qid, votes=votes, voted=on)


async def withdraw(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:withdraw {session, question}: the author takes their question back."""
    data = _in_session(conn, data, {"question"}, {"question"})
    pid = _person(conn)
    qid = validate.identifier(data["question"], "question")
    session_id = str(conn.session_id)
    version, changed = await app[appkeys.QA].withdraw(session_id, qid, pid, now_ms())
    if changed:
        await publish(app, session_id, version, [qid])
    return ok(v=version)


async def moderate(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:moderate {session, question, action, text?, into?} (moderators only)."""
    data = _in_session(conn, data, {"question", "action", "text", "into"}, {"question", "action"})
    _moderator(conn)
    session_id = str(conn.session_id)
    store = app[appkeys.QA]
    qid = validate.identifier(data["question"], "question")
    action = validate.choice(data["action"], "action", qa.ACTIONS)
    arg = ""
    touched = [qid]
    if action == "edit":
        arg = qa.question_text(data.get("text"), await store.settings(session_id))
    elif action == "merge":
        arg = validate.identifier(data.get("into"), "into")
        touched.append(arg)
    elif "text" in data or "into" in data:
        raise Invalid("Only edit takes text and only merge takes into.")
    before = await store.screen(session_id)
    version, changed = await store.moderate(session_id, qid, action, now_ms(), arg)
    if changed:
        if before and before not in touched:
            touched.append(before)  # it came off screen
        await publish(app, session_id, version, touched)
    return ok(v=version, changed=changed)


async def update_settings(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:settings {session, moderation?, open?, anonymous?, max_length?, slow_seconds?, words?}."""
    data = _in_session(conn, data, set(qa.SETTINGS_FIELDS), set())
    _moderator(conn)
    session_id = str(conn.session_id)
    store = app[appkeys.QA]
    settings = qa.update_settings(await store.settings(session_id), data)
    version = await store.save_settings(session_id, settings)
    sio = app[appkeys.SIO]
    for room, view in (
        (p.moderators_room(session_id), settings.full()),
        (p.public_room(session_id), settings.public()),
    ):
        await sio.emit(
            p.QA_DELTA, {"session": session_id, "v": version, "settings": view, "questions": []}, room=room
        )
    return ok(v=version, settings=settings.full())


async def mute(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:mute {session, question, mute: bool}: mute the author of a question in this session."""
    data = _in_session(conn, data, {"question", "mute"}, {"question", "mute"})
    _moderator(conn)
    session_id = str(conn.session_id)
    qid = validate.identifier(data["question"], "question")
    on = validate.boolean(data["mute"], "mute")
    question = await app[appkeys.QA].get(session_id, qid)
    removed = await app[appkeys.QA].mute(session_id, question["author"], on)
    return ok(muted=on, votes_removed=removed)


async def ban(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:ban {session, question}: remove a question's author from the whole event.

    Their sockets close on every worker at once; they are muted here (votes removed);
    their id, and new identities from their address, are refused from now on.
    """
    data = _in_session(conn, data, {"question"}, {"question"})
    _moderator(conn)
    session_id = str(conn.session_id)
    qid = validate.identifier(data["question"], "question")
    author = (await app[appkeys.QA].get(session_id, qid))["author"]
    identity = app[appkeys.IDENTITY]
    _first_seen, address = await identity.participant_info(author)
    await identity.ban(str(conn.event_id), author, address, int(time.time()))
    await app[appkeys.QA].mute(session_id, author, True)
    sio = app[appkeys.SIO]
    room = p.person_room(author)
    await sio.emit(
        p.CLOSED,
        {"code": "forbidden", "message": "You were removed from this event by its moderators."},
        room=room,
    )
    await sio.manager.disconnect_room(room)
    return ok(banned=True)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the Q&A handlers."""
    handlers.register(sio, app, p.QA_ASK, ask)
    handlers.register(sio, app, p.QA_VOTE, vote)
    handlers.register(sio, app, p.QA_WITHDRAW, withdraw)
    handlers.register(sio, app, p.QA_MODERATE, moderate)
    handlers.register(sio, app, p.QA_SETTINGS, update_settings)
    handlers.register(sio, app, p.QA_MUTE, mute)
    handlers.register(sio, app, p.QA_BAN, ban)


class VoteBroadcaster:
    """Sends changed vote counts at most once per session per interval, from one worker."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def flush_once(self) -> int:
        """Broadcast due vote counts; returns how many sessions were sent."""
        settings = self.app[appkeys.SETTINGS]
        updates = await self.app[appkeys.QA].take_vote_updates(settings.votes_broadcast_ms)
        sio = self.app[appkeys.SIO]
        for u in updates:
            await sio.emit(
                p.QA_VOTES,
                {"session": u.session_id, "seq": u.seq, "votes": u.votes},
                room=p.session_room(u.session_id),
            )
        return len(updates)
