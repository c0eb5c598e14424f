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
from server.domain import stage as st
from server.domain import validate
from server.domain.qa import client_id
from server.errors import Conflict, NotFound, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn
from server.realtime.stage import joined, require_moderator


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
    c = st.cue(data)
    if await app[appkeys.LINEUP].state_of(session_id, c.speaker) is None:
        raise NotFound("That speaker has not arrived in this session.")
    by = await _name(app, conn)
    cue = await app[appkeys.BACKSTAGE].send_cue(
        session_id, c.speaker, c.kind, text=c.text, minutes=c.minutes, by=by
    )
    await _emit_cue(app, session_id, cue)
    return ok(cue=cue)


async def ack_cue(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:cue_ack {session, cue} (the speaker the cue is for): the read receipt."""
    data = validate.payload(data, {"session", "cue"}, {"session", "cue"})
    session_id = joined(conn, data)
    speaker = st.require_speaker(conn.principal, "acknowledge their cues")
    cue_id = validate.identifier(data["cue"], "cue")
    first, cue = await app[appkeys.BACKSTAGE].ack_cue(session_id, cue_id, speaker)
    if first:
        await _emit_cue(app, session_id, cue)
    return ok(cue=cue, changed=first)


# --- health ----------------------------------------------------------------------------


async def health(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:health {session, rtt_ms, kbps?, loss?, fps?} (speakers, every few seconds)."""
    fields = {"session", "rtt_ms", "kbps", "loss", "fps"}
    data = validate.payload(data, fields, {"session", "rtt_ms"})
    session_id = joined(conn, data)
    speaker = st.require_speaker(conn.principal, "report their connection")
    report: dict[str, Any] = {
        "session": session_id,
        "speaker": speaker,
        **st.health(data),
        "at": int(time.time() * 1000),
    }
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
    session_id = joined(conn, data)
    st.require_backstage(conn.principal)
    text = st.chat_text(data["text"])
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


async def raise_hand(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """hand:raise {session, note?}: ask to speak (again: keeps the place, updates the note)."""
    data = validate.payload(data, {"session", "note"}, {"session"})
    session_id = joined(conn, data)
    person = st.require_audience(conn.principal)
    note = st.hand_note(data["note"]) if validate.present(data, "note") else ""
    name = await app[appkeys.IDENTITY].participant_name(person)
    new = await app[appkeys.BACKSTAGE].raise_hand(session_id, person, name, note)
    await _publish_hands(app, session_id, person)
    return ok(changed=new, state="raised")


async def withdraw_hand(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """hand:withdraw {session}: lower one's own hand."""
    data = validate.payload(data, {"session"}, {"session"})
    session_id = joined(conn, data)
    person = st.require_audience(conn.principal)
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
        hours = st.guest_link_hours(session.ends_at, time.time())
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
    limits = app[appkeys.SETTINGS]
    chat = handlers.PersonLimit("chat", limits.chat_per_10s, 10)
    handlers.register(sio, app, p.CHAT_SEND, send_chat, per_person=chat)
    hands = handlers.PersonLimit("hand", limits.hands_per_minute, 60)
    handlers.register(sio, app, p.HAND_RAISE, raise_hand, per_person=hands)
    handlers.register(sio, app, p.HAND_WITHDRAW, withdraw_hand)
    handlers.register(sio, app, p.HAND_ANSWER, answer_hand)
