"""Behind the stage, over the socket: cues to a speaker (acknowledged), the backstage chat of
moderators and speakers, the speakers' connection health, and the audience's raised hands
(a moderator may bring one backstage, which makes that person a speaker of the session)."""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import validate
from server.domain.qa import client_id
from server.errors import Conflict, Forbidden, NotFound, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn
from server.realtime.stage import require_moderator

CUE_KINDS = ("minutes", "wrap", "text")
CUE_TEXT_MAX = 200
CHAT_MAX = 500
NOTE_MAX = 140
GUEST_LINK_HOURS_AFTER = 6  # a brought-in guest's speaker link outlives the session by this


def _joined(conn: Conn, data: Any) -> str:
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return session_id


def _backstage_member(conn: Conn) -> bool:
    return conn.principal.presence_role in (idn.MODERATOR, idn.SPEAKER)


async def backstage_snapshot(app: web.Application, conn: Conn, session_id: str) -> dict[str, Any] | None:
    """Chat and cues for moderators and speakers (a speaker sees only their own cues);
    moderators also get the raised hands."""
    who = conn.principal
    store = app[appkeys.BACKSTAGE]
    if who.presence_role == idn.MODERATOR:
        return {
            "chat": await store.chat(session_id),
            "cues": await store.cues(session_id),
            "hands": await store.hands(session_id),
        }
    if who.role == idn.SPEAKER and who.invite_id:
        return {"chat": await store.chat(session_id), "cues": await store.cues(session_id, who.invite_id)}
    return None


# --- cues ----------------------------------------------------------------------------


async def _emit_cue(app: web.Application, session_id: str, cue: dict[str, Any]) -> None:
    sio = app[appkeys.SIO]
    message = {"session": session_id, "cue": cue}
    await sio.emit(p.STAGE_CUE, message, room=p.moderators_room(session_id))
    await sio.emit(p.STAGE_CUE, message, room=p.invite_room(cue["speaker"]))


async def send_cue(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:cue {session, speaker, kind: minutes|wrap|text, minutes?, text?} (moderators)."""
    fields = {"session", "speaker", "kind", "minutes", "text"}
    data = validate.payload(data, fields, {"session", "speaker", "kind"})
    session_id = require_moderator(conn, data, "send cues")
    speaker = validate.identifier(data["speaker"], "speaker")
    kind = validate.choice(data["kind"], "kind", CUE_KINDS)
    minutes = validate.integer(data.get("minutes"), "minutes", lo=1, hi=120) if kind == "minutes" else None
    text = validate.text(data.get("text"), "text", max_len=CUE_TEXT_MAX) if kind == "text" else ""
    if await app[appkeys.LINEUP].state_of(session_id, speaker) is None:
        raise NotFound("That speaker has not arrived in this session.")
    by = await _name(app, conn)
    cue = await app[appkeys.BACKSTAGE].send_cue(session_id, speaker, kind, text=text, minutes=minutes, by=by)
    await _emit_cue(app, session_id, cue)
    return ok(cue=cue)


async def ack_cue(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:cue_ack {session, cue} (the speaker the cue is for): the read receipt."""
    data = validate.payload(data, {"session", "cue"}, {"session", "cue"})
    session_id = _joined(conn, data)
    if conn.principal.role != idn.SPEAKER or not conn.principal.invite_id:
        raise Forbidden("Only the speaker a cue is for can acknowledge it.")
    cue_id = validate.identifier(data["cue"], "cue")
    first, cue = await app[appkeys.BACKSTAGE].ack_cue(session_id, cue_id, conn.principal.invite_id)
    if first:
        await _emit_cue(app, session_id, cue)
    return ok(cue=cue, changed=first)


# --- health ----------------------------------------------------------------------------


async def health(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:health {session, rtt_ms, kbps?, loss?, fps?} (speakers, every few seconds)."""
    fields = {"session", "rtt_ms", "kbps", "loss", "fps"}
    data = validate.payload(data, fields, {"session", "rtt_ms"})
    session_id = _joined(conn, data)
    if conn.principal.role != idn.SPEAKER or not conn.principal.invite_id:
        raise Forbidden("Only speakers report their connection.")
    report: dict[str, Any] = {
        "session": session_id,
        "speaker": conn.principal.invite_id,
        "rtt_ms": validate.integer(data["rtt_ms"], "rtt_ms", lo=0, hi=60_000),
        "at": int(time.time() * 1000),
    }
    for name, hi in (("kbps", 1_000_000), ("loss", 100), ("fps", 240)):
        if data.get(name) is not None:
            report[name] = validate.integer(data[name], name, lo=0, hi=hi)
    await app[appkeys.SIO].emit(p.STAGE_HEALTH, report, room=p.moderators_room(session_id))
    return ok()


# --- chat ----------------------------------------------------------------------------


async def _name(app: web.Application, conn: Conn) -> str:
    """How a moderator or speaker signs backstage: their link's label."""
    if conn.principal.invite_id:
        try:
            return (await app[appkeys.IDENTITY].get_invite(conn.principal.invite_id)).label
        except NotFound:
            return ""
    return ""


async def send_chat(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """chat:send {session, text, client_id} (moderators and speakers of the session)."""
    data = validate.payload(data, {"session", "text", "client_id"}, {"session", "text", "client_id"})
    session_id = _joined(conn, data)
    if not _backstage_member(conn):
        raise Forbidden("The backstage chat is for the session's moderators and speakers.")
    text = validate.text(data["text"], "text", max_len=CHAT_MAX, multiline=True)
    cid = client_id(data["client_id"])
    sender = {"role": conn.principal.presence_role, "name": await _name(app, conn)}
    new, message = await app[appkeys.BACKSTAGE].post(session_id, conn.principal.person, cid, sender, text)
    if new:
        await app[appkeys.SIO].emit(
            p.CHAT_MESSAGE, {"session": session_id, "message": message}, room=p.backstage_room(session_id)
        )
    return ok(message=message, changed=new)


# --- raised hands --------------------------------------------------------------------


async def _publish_hands(app: web.Application, session_id: str, person: str) -> None:
    sio = app[appkeys.SIO]
    store = app[appkeys.BACKSTAGE]
    queue = {"session": session_id, "hands": await store.hands(session_id)}
    await sio.emit(p.HAND_QUEUE, queue, room=p.moderators_room(session_id))
    mine = {"session": session_id, **await store.my_hand(session_id, person)}
    await sio.emit(p.HAND_MINE, mine, room=p.person_room(person))


def _audience_person(conn: Conn) -> str:
    if conn.principal.role != idn.AUDIENCE or not conn.principal.participant_id:
        raise Forbidden("Only the audience raises hands.")
    return conn.principal.participant_id


async def raise_hand(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """hand:raise {session, note?}: ask to speak (again: keeps the place, updates the note)."""
    data = validate.payload(data, {"session", "note"}, {"session"})
    session_id = _joined(conn, data)
    person = _audience_person(conn)
    note = validate.optional_text(data.get("note"), "note", max_len=NOTE_MAX)
    await app[appkeys.RATES].hit(f"hand:{person}", 10, 60)
    name = await app[appkeys.IDENTITY].participant_name(person)
    new = await app[appkeys.BACKSTAGE].raise_hand(session_id, person, name, note)
    await _publish_hands(app, session_id, person)
    return ok(changed=new, state="raised")


async def withdraw_hand(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """hand:withdraw {session}: lower one's own hand."""
    data = validate.payload(data, {"session"}, {"session"})
    session_id = _joined(conn, data)
    person = _audience_person(conn)
    changed = await app[appkeys.BACKSTAGE].lower_hand(session_id, person)
    if changed:
        await _publish_hands(app, session_id, person)
    return ok(changed=changed, state="none")


async def answer_hand(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """hand:answer {session, person, action: decline|bring} (moderators)."""
    data = validate.payload(data, {"session", "person", "action"}, {"session", "person", "action"})
    session_id = require_moderator(conn, data, "answer raised hands")
    person = validate.identifier(data["person"], "person")
    action = validate.choice(data["action"], "action", ("decline", "bring"))
    store = app[appkeys.BACKSTAGE]
    # Taking the hand down first is what makes two moderators answering at once safe: only
    # the one who took it goes on (and only one speaker link is ever made).
    if not await store.lower_hand(session_id, person):
        raise Conflict("That hand is no longer raised.")
    outcome: dict[str, Any] = {"state": "declined"}
    if action == "bring":
        session = await app[appkeys.EVENTS].get_session(session_id)
        name = await app[appkeys.IDENTITY].participant_name(person)
        hours = max(1.0, (session.ends_at - time.time()) / 3600 + GUEST_LINK_HOURS_AFTER)
        invite, token = await app[appkeys.AUTH].create_invite(
            idn.SPEAKER, session.event_id, session_id, name, hours
        )
        outcome = {"state": "brought", "token": token, "speaker": invite.id}
    await store.set_outcome(session_id, person, outcome)
    await _publish_hands(app, session_id, person)
    return ok(state=outcome["state"], speaker=outcome.get("speaker"))


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the backstage handlers."""
    handlers.register(sio, app, p.STAGE_CUE, send_cue)
    handlers.register(sio, app, p.STAGE_CUE_ACK, ack_cue)
    handlers.register(sio, app, p.STAGE_HEALTH, health)
    handlers.register(sio, app, p.CHAT_SEND, send_chat)
    handlers.register(sio, app, p.HAND_RAISE, raise_hand)
    handlers.register(sio, app, p.HAND_WITHDRAW, withdraw_hand)
    handlers.register(sio, app, p.HAND_ANSWER, answer_hand)
