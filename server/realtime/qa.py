"""Q&A over the socket: ask, vote, withdraw, moderate, settings, mute and ban.

Every change runs in qa.lua, which bumps the session's version and logs the changed
questions in the same step; the session feed (server/realtime/feed.py) takes it from there
to every face, each seeing what its role may. Vote counts are coalesced into the log.
"""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import language, qa, validate
from server.errors import Conflict, Forbidden, Invalid, ok
from server.realtime import handlers, webhooks
from server.realtime import protocol as p
from server.realtime.connections import Conn
from server.store.events import new_id


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


def _in_session(conn: Conn, data: Any, fields: set[str], required: set[str]) -> Any:
    data = validate.payload(data, fields | {"session"}, required | {"session"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return data


def _moderator(conn: Conn) -> None:
    if conn.principal.presence_role != idn.MODERATOR:
        raise Forbidden("Only moderators may do that.")


def _translator(conn: Conn) -> None:
    if conn.principal.presence_role not in idn.TRANSLATORS:
        raise Forbidden("Only moderators and interpreters may do that.")


async def _languages(app: web.Application, conn: Conn) -> tuple[str, ...]:
    """The languages of the event of the session conn is in (this worker's copy if it has one)."""
    ls = app[appkeys.HUB].sessions.get(str(conn.session_id))
    if ls is not None:
        return tuple(ls.state.event.get("languages") or ())
    return (await app[appkeys.EVENTS].get_event(str(conn.event_id))).languages


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
        question_id=new_id(9),
        client_id=client_id,
        person=pid,
        name=name,
        anonymous=anonymous,
        alias=qa.pseudonym(secret, session_id, pid),
        text=text,
        now_ms=now_ms(),
        held=held,
        slow_ms=settings.slow_seconds * 1000,
        lang=language.detect(text, await _languages(app, conn)),
    )
    question, screen = await store.get_with_screen(session_id, qid)
    return ok(question=qa.author_view(question, screen), created=created, v=version)


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
    version, _changed = await app[appkeys.QA].withdraw(session_id, qid, pid, now_ms())
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
    if action == "edit":
        arg = qa.question_text(data.get("text"), await store.settings(session_id))
    elif action == "merge":
        arg = validate.identifier(data.get("into"), "into")
    elif "text" in data or "into" in data:
        raise Invalid("Only edit takes text and only merge takes into.")
    version, changed = await store.moderate(session_id, qid, action, now_ms(), arg)
    if changed and action == "approve" and conn.event_id:
        await webhooks.question_approved(
            app, str(conn.event_id), session_id, await store.get(session_id, qid)
        )
    return ok(v=version, changed=changed)


async def translate(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:translate {session, question, lang, text} (moderators and interpreters): attach a
    translation into one of the event's languages; text "" takes it away."""
    data = _in_session(conn, data, {"question", "lang", "text"}, {"question", "lang", "text"})
    _translator(conn)
    qid = validate.identifier(data["question"], "question")
    lang = qa.question_language(data["lang"], await _languages(app, conn))
    text = qa.translation_text(data["text"])
    version, changed = await app[appkeys.QA].translate(str(conn.session_id), qid, lang, text, now_ms())
    return ok(v=version, changed=changed)


async def set_language(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:language {session, question, lang} (moderators and interpreters): correct what a
    question was detected to be written in."""
    data = _in_session(conn, data, {"question", "lang"}, {"question", "lang"})
    _translator(conn)
    qid = validate.identifier(data["question"], "question")
    lang = qa.question_language(data["lang"], await _languages(app, conn))
    version, changed = await app[appkeys.QA].set_language(str(conn.session_id), qid, lang, now_ms())
    return ok(v=version, changed=changed)


async def update_settings(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """qa:settings {session, moderation?, open?, anonymous?, max_length?, slow_seconds?, words?}."""
    data = _in_session(conn, data, set(qa.SETTINGS_FIELDS), set())
    _moderator(conn)
    session_id = str(conn.session_id)
    store = app[appkeys.QA]
    settings = qa.update_settings(await store.settings(session_id), data)
    version = await store.save_settings(session_id, settings)
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
    limits = app[appkeys.SETTINGS]
    asks = handlers.PersonLimit("ask", limits.asks_per_minute, 60)
    handlers.register(sio, app, p.QA_ASK, ask, per_person=asks)
    votes = handlers.PersonLimit("vote", limits.votes_per_10s, 10)
    handlers.register(sio, app, p.QA_VOTE, vote, per_person=votes)
    handlers.register(sio, app, p.QA_WITHDRAW, withdraw)
    handlers.register(sio, app, p.QA_MODERATE, moderate)
    handlers.register(sio, app, p.QA_TRANSLATE, translate)
    handlers.register(sio, app, p.QA_LANGUAGE, set_language)
    handlers.register(sio, app, p.QA_SETTINGS, update_settings)
    handlers.register(sio, app, p.QA_MUTE, mute)
    handlers.register(sio, app, p.QA_BAN, ban)


class VoteLogger:
    """Logs changed vote counts at most once per session per interval, from one worker."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def flush_once(self) -> int:
        """Log due vote counts; returns how many sessions."""
        settings = self.app[appkeys.SETTINGS]
        return await self.app[appkeys.QA].log_vote_counts(settings.votes_broadcast_ms)
