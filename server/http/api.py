"""The JSON API: organizers manage events, sessions and invites; the audience joins by code."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from dataclasses import replace
from typing import Any

from aiohttp import web
from redis.exceptions import RedisClusterException, RedisError

from server import appkeys
from server.auth import PARTICIPANT_COOKIE, address_hash, now
from server.domain import events as ev
from server.domain import identity as idn
from server.domain import polls, qa, validate
from server.domain.identity import Principal
from server.errors import (
    HTTP_STATUS,
    Forbidden,
    Invalid,
    NotFound,
    PodiumError,
    Unauthorized,
    Unavailable,
)
from server.realtime import doors, sfu
from server.realtime import protocol as p
from server.realtime.session import tell_moderators_of_invites
from server.store.connection import store_trouble
from server.store.events import new_id
from server.store.identity import Invite

logger = logging.getLogger(__name__)

# A deleted session's keys are purged at once and again this much later, for what its faces
# wrote on their way out (a last presence leave) after the first pass.
PURGE_AGAIN_S = 30.0
MAX_INVITE_HOURS = 24 * 90
NAME_MAX = 60


def json_ok(status: int = 200, **payload: Any) -> web.Response:
    """A successful JSON answer, in the same shape as a socket ack."""
    return web.json_response({"ok": True, **payload}, status=status)


def json_error(exc: PodiumError) -> web.Response:
    """A failed JSON answer with the error's code and its HTTP status."""
    return web.json_response({"ok": False, "error": exc.to_dict()}, status=HTTP_STATUS[exc.code])


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every API failure is JSON with a code from the fixed list; nothing leaks a traceback."""
    if not request.path.startswith("/api/"):
        response: web.StreamResponse = await handler(request)
        return response
    try:
        response = await handler(request)
        return response
    except PodiumError as exc:
        logger.info("%s %s refused: %s %s", request.method, request.path, exc.code, exc.message)
        return json_error(exc)
    except web.HTTPRequestEntityTooLarge:
        return json_error(Invalid("The request is too large."))
    except web.HTTPNotFound:
        return json_error(NotFound("No such API."))
    except web.HTTPMethodNotAllowed:
        return json_error(Invalid("This method is not allowed here."))
    except web.HTTPException:
        raise
    except (RedisError, RedisClusterException) as exc:
        logger.exception("%s %s: store unavailable", request.method, request.path)
        return json_error(Unavailable(store_trouble(exc)))
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return web.json_response(
            {"ok": False, "error": {"code": "internal", "message": "Something went wrong on our side."}},
            status=500,
        )


async def body(request: web.Request) -> Any:
    """The request's JSON body (an empty body reads as {}): UTF-8, nested no deeper than the
    socket's payloads may be, which is checked before any parsing."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The body must be JSON in UTF-8.") from None
    if validate.too_deep(text):
        raise Invalid(f"The body is nested too deeply (at most {validate.MAX_DEPTH} levels).")
    try:
        return json.loads(text)
    except ValueError:
        raise Invalid("The body must be JSON.") from None


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return None


async def invite_holder(request: web.Request) -> Principal:
    """The caller, from their invite token (Bearer), or Unauthorized."""
    token = bearer(request)
    if not token:
        raise Unauthorized("Sign in with your invite link.")
    auth = request.app[appkeys.AUTH]
    pid = auth.participant_or_none(request.cookies.get(PARTICIPANT_COOKIE))
    return await auth.invite_principal(token, person=pid)


async def organizer(request: web.Request, event_id: str | None = None) -> Principal:
    """The caller as an organizer (of event_id, when given), or Unauthorized/Forbidden."""
    who = await invite_holder(request)
    if event_id is None:
        if who.role != idn.ORGANIZER:
            raise Unauthorized("Only organizers may do that.")
    else:
        idn.require_manage_event(who, event_id)
    return who


def check_origin(request: web.Request) -> None:
    """Cookie-authenticated writes must come from one of Podium's own pages."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") not in request.app[appkeys.SETTINGS].origins:
        raise Forbidden("This page is not allowed to call Podium.")


def invite_url(request: web.Request, role: str, session_id: str, token: str) -> str:
    """The link an invite holder opens; the token rides in the fragment, never sent in logs."""
    base = request.app[appkeys.SETTINGS].base_url
    path = {
        idn.MODERATOR: "/m", idn.SPEAKER: "/studio", idn.SCREEN: "/s", idn.ORGANIZER: "/o",
        idn.INTERPRETER: "/i",
    }[role]  # fmt: skip
    if session_id and role != idn.ORGANIZER:
        path += f"/{session_id}"
    return f"{base}{path}#t={token}"


async def event_view(request: web.Request, event: ev.Event, with_invites: bool) -> dict[str, Any]:
    """An event with its sessions (and, for organizers, its invites)."""
    sessions = await request.app[appkeys.EVENTS].list_sessions(event.id)
    current = ev.current_session(sessions, now())
    out: dict[str, Any] = {
        "event": event.public(),
        "sessions": [s.public(event.time_zone) for s in sessions],
        "current_session": current.id if current else None,
    }
    if with_invites:
        invites = await request.app[appkeys.IDENTITY].list_invites(event.id)
        out["invites"] = [i.public() for i in invites]
    return out


# --- audience ------------------------------------------------------------------------


async def public_event(request: web.Request) -> web.Response:
    """GET /api/codes/{code}: what anyone with the code may see."""
    code = ev.normalize_code(request.match_info["code"])
    event = await request.app[appkeys.EVENTS].event_by_code(code)
    return json_ok(**await event_view(request, event, with_invites=False))


async def join_by_code(request: web.Request) -> web.Response:
    """POST /api/codes/{code}/join {name?}: an anonymous identity for this browser."""
    check_origin(request)
    settings = request.app[appkeys.SETTINGS]
    auth = request.app[appkeys.AUTH]
    ip = doors.client_ip(request)
    await request.app[appkeys.RATES].hit(f"httpjoin:{ip}", settings.join_per_minute_per_ip, 60)
    data = validate.payload(await body(request), {"name"})
    name = None
    if validate.present(data, "name"):
        name = validate.optional_text(data["name"], "name", max_len=NAME_MAX)
    code = ev.normalize_code(request.match_info["code"])
    event = await request.app[appkeys.EVENTS].event_by_code(code)
    pid = auth.participant_or_none(request.cookies.get(PARTICIPANT_COOKIE)) or auth.new_participant_id()
    identity = request.app[appkeys.IDENTITY]
    name = await identity.touch_participant(pid, now(), name)
    await refuse_banned(request, event.id, pid)
    token = auth.participant_token(pid, settings.participant_cookie_days)
    response = json_ok(
        participant={"id": pid, "name": name, "token": token},
        **await event_view(request, event, with_invites=False),
    )
    set_participant_cookie(response, settings, token)
    return response


async def refuse_banned(request: web.Request, event_id: str, pid: str) -> None:
    """Forbidden for a person banned from the event (by id, or new from a banned address)."""
    identity = request.app[appkeys.IDENTITY]
    address = address_hash(request.app[appkeys.AUTH].secret, doors.client_ip(request))
    first_seen, _ = await identity.participant_info(pid)
    if await identity.is_banned(event_id, pid, address, first_seen):
        raise Forbidden("You were removed from this event by its moderators.")
    await identity.record_address(pid, address)


def set_participant_cookie(response: web.StreamResponse, settings: Any, token: str) -> None:
    """The signed, HttpOnly cookie that keeps a browser the same person across reloads."""
    response.set_cookie(
        PARTICIPANT_COOKIE,
        token,
        max_age=int(settings.participant_cookie_days * 86400),
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        path="/",
    )


async def me(request: web.Request) -> web.Response:
    """GET /api/me: an invite holder's role, event and the sessions they may enter."""
    who = await invite_holder(request)
    events = request.app[appkeys.EVENTS]
    if who.event_id is None:
        return json_ok(role=who.role, root=True, event=None, sessions=[])
    event = await events.get_event(who.event_id)
    sessions = await events.list_sessions(event.id)
    if who.session_id:
        sessions = [s for s in sessions if s.id == who.session_id]
    return json_ok(
        role=who.role,
        root=False,
        event=event.public(),
        sessions=[s.public(event.time_zone) for s in sessions],
    )


# --- organizer: events ---------------------------------------------------------------


async def list_events(request: web.Request) -> web.Response:
    """GET /api/events: the events this organizer may manage."""
    who = await organizer(request)
    events = await request.app[appkeys.EVENTS].list_events()
    mine = [e.public() for e in events if idn.can_manage_event(who, e.id)]
    return json_ok(events=mine, root=who.is_root)


async def create_event(request: web.Request) -> web.Response:
    """POST /api/events {name, time_zone, languages?, code?}."""
    who = await organizer(request)
    idn.require_root(who)
    store = request.app[appkeys.EVENTS]
    data = await body(request)
    event_id = new_id()
    draft = ev.new_event(data, event_id, now(), code="PENDING")
    if not (isinstance(data, dict) and data.get("code")):
        draft = replace(draft, code=await store.fresh_code(event_id))
    event = await store.create_event(draft)
    logger.info("event %s created (%s)", event.id, event.code)
    return json_ok(status=201, **await event_view(request, event, with_invites=True))


async def get_event(request: web.Request) -> web.Response:
    """GET /api/events/{event_id}: the event, its sessions and invites."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    event = await request.app[appkeys.EVENTS].get_event(event_id)
    return json_ok(**await event_view(request, event, with_invites=True))


async def update_event(request: web.Request) -> web.Response:
    """PATCH /api/events/{event_id} {name?, code?, time_zone?, languages?}."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    store = request.app[appkeys.EVENTS]
    old = await store.get_event(event_id)
    new = await store.update_event(old, ev.update_event(old, await body(request)))
    for session in await store.list_sessions(event_id):
        await store.log_info(session, new)  # every face of every session shows the new event
    return json_ok(**await event_view(request, new, with_invites=True))


async def delete_event(request: web.Request) -> web.Response:
    """DELETE /api/events/{event_id} {confirm: <the event's name>}: gone, links and all."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    store = request.app[appkeys.EVENTS]
    event = await store.get_event(event_id)
    data = validate.payload(await body(request), {"confirm"}, required={"confirm"})
    if data["confirm"] != event.name:
        raise Invalid("Type the event's name exactly to confirm deleting it.", field="confirm")
    session_ids, invite_ids = await store.delete_event(event)
    await close_invite_connections(request, invite_ids, "The event was deleted.")
    purge_later(request.app, session_ids, event_id)
    logger.info("event %s deleted", event_id)
    return json_ok()


# --- organizer: sessions -------------------------------------------------------------


async def create_session(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/sessions {title, starts_at, ends_at, stream_url?}."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    store = request.app[appkeys.EVENTS]
    event = await store.get_event(event_id)
    session = await store.create_session(ev.new_session(await body(request), event, new_id()))
    return json_ok(status=201, session=session.public(event.time_zone))


async def _session_for_organizer(request: web.Request) -> tuple[ev.Session, ev.Event]:
    session_id = validate.identifier(request.match_info["session_id"], "session")
    store = request.app[appkeys.EVENTS]
    who = await invite_holder(request)
    session = await store.get_session(session_id)
    idn.require_manage_event(who, session.event_id)
    return session, await store.get_event(session.event_id)


async def update_session(request: web.Request) -> web.Response:
    """PATCH /api/sessions/{session_id} {title?, starts_at?, ends_at?, stream_url?}."""
    session, event = await _session_for_organizer(request)
    updated = ev.update_session(session, event, await body(request))
    updated = await request.app[appkeys.EVENTS].update_session(updated, event)
    return json_ok(session=updated.public(event.time_zone))


async def delete_session(request: web.Request) -> web.Response:
    """DELETE /api/sessions/{session_id}: its session-scoped invites stop working."""
    session, _event = await _session_for_organizer(request)
    await request.app[appkeys.EVENTS].delete_session(session)
    await sfu.session_over(request.app, session.id)
    identity = request.app[appkeys.IDENTITY]
    revoked = [i.id for i in await identity.list_invites(session.event_id) if i.session_id == session.id]
    for invite_id in revoked:
        await identity.revoke_invite(invite_id)
    await close_invite_connections(request, revoked, "This session was deleted.")
    purge_later(request.app, [session.id])
    return json_ok()


def purge_later(app: web.Application, session_ids: list[str], event_id: str | None = None) -> None:
    """Remove what deleted sessions (and their event) left in the store, in the background:
    now, and once more after PURGE_AGAIN_S. A worker stopped in between leaves the second
    pass undone (docs/operations.md says how to find such keys)."""

    async def purge() -> None:
        store = app[appkeys.EVENTS]
        for wait in (0.0, PURGE_AGAIN_S):
            await asyncio.sleep(wait)
            try:
                gone = sum([await store.purge_session(s) for s in session_ids])
                if event_id:
                    gone += await store.purge_event(event_id)
            except (RedisError, RedisClusterException, OSError):
                logger.exception("purging deleted sessions %s failed", session_ids)
                continue
            logger.info("purged %d keys of deleted sessions %s", gone, session_ids)

    chores = app[appkeys.CHORES]
    task = asyncio.create_task(purge(), name="purge deleted")
    chores.add(task)
    task.add_done_callback(chores.discard)


async def session_presence(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/presence: who is here now."""
    session, _event = await _session_for_organizer(request)
    seq, counts = await request.app[appkeys.PRESENCE_STORE].counts(session.id)
    return json_ok(session=session.id, seq=seq, counts=counts)


# --- Q&A export ----------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id", "state", "language", "text", "name", "anonymous", "alias", "votes", "edited", "on_screen",
    "merged_into", "held", "asked_at", "answered_at", "updated_at",
)  # fmt: skip
# The CSV adds a column per language of the event ("translation_zh-CN"), then the languages
# whose translation predates an edit of the question ("translations_stale").


async def _session_for_staff(request: web.Request) -> tuple[ev.Session, ev.Event]:
    """The session, if the caller organizes its event or moderates it."""
    session_id = validate.identifier(request.match_info["session_id"], "session")
    store = request.app[appkeys.EVENTS]
    who = await invite_holder(request)
    session = await store.get_session(session_id)
    if who.role == idn.MODERATOR:
        idn.require_session_access(who, session.event_id, session.id)
    else:
        idn.require_manage_event(who, session.event_id)
    return session, await store.get_event(session.event_id)


async def _export_rows(request: web.Request) -> tuple[ev.Session, ev.Event, list[dict[str, Any]]]:
    session, event = await _session_for_staff(request)
    qa_store = request.app[appkeys.QA]
    screen = await qa_store.screen(session.id)

    def local(ms: int | None) -> str:
        return ev.local_iso(ms // 1000, event.time_zone) if ms else ""

    rows = []
    for q in await qa_store.all(session.id):
        rows.append(
            {
                "id": q["id"],
                "state": q["state"],
                "text": q["text"],
                "name": "" if q["anon"] else q["name"],
                "anonymous": q["anon"],
                "alias": q["alias"],
                "votes": q["votes"],
                "edited": q["edited"],
                "on_screen": q["id"] == screen,
                "merged_into": q["merged_into"],
                "held": q["held"],
                "asked_at": local(q["created_at"]),
                "answered_at": local(q["answered_at"]),
                "updated_at": local(q["updated_at"]),
                "language": q["lang"],
                "translations": {
                    tag: {"text": tr["text"], "stale": tr["stale"], "at": local(tr["at"])}
                    for tag, tr in q["translations"].items()
                },
            }
        )
    return session, event, rows


def _filename(session: ev.Session, ext: str) -> str:
    return f"podium-qa-{session.id}.{ext}"


async def export_json(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/qa.json: every question, all states, times in the event's zone."""
    session, event, rows = await _export_rows(request)
    return web.json_response(
        {
            "ok": True,
            "event": event.public(),
            "session": session.public(event.time_zone),
            "questions": rows,
            "polls": await _export_polls(request, session, event),
        },
        dumps=lambda obj: json.dumps(obj, ensure_ascii=False),
        headers={"Content-Disposition": f'attachment; filename="{_filename(session, "json")}"'},
    )


async def _export_polls(request: web.Request, session: ev.Session, event: ev.Event) -> list[dict[str, Any]]:
    """Every poll with its results, answers named by their text (an option, a star, a word)."""

    def local(ms: int | None) -> str:
        return ev.local_iso(ms // 1000, event.time_zone) if ms else ""

    store = request.app[appkeys.POLLS]
    identity = request.app[appkeys.IDENTITY]
    secret = request.app[appkeys.AUTH].secret
    out = []
    for poll in await store.all(session.id):
        row = polls.export(poll, local)
        if not poll["anonymous"]:
            # A named poll: who answered what, by the name they gave (or their alias).
            answers = sorted((await store.responses(session.id, poll["id"])).items())
            names = await identity.participant_names([person for person, _ in answers])
            row["responses"] = [
                {
                    "name": given or qa.pseudonym(secret, session.id, person),
                    "answer": [polls.answer_label(poll, k) for k in answer],
                }
                for (person, answer), given in zip(answers, names, strict=True)
            ]
        out.append(row)
    return out


async def export_polls_csv(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/polls.csv: one row per poll and answer, with its count."""
    session, event = await _session_for_staff(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "poll",
            "kind",
            "question",
            "state",
            "voters",
            "answer",
            "count",
            "correct",
            "opened_at",
            "closed_at",
        ]
    )
    for poll in await _export_polls(request, session, event):
        for a in poll["answers"] or [{"answer": "", "count": 0}]:
            writer.writerow(
                [_cell(x) for x in (
                    poll["id"], poll["kind"], poll["question"], poll["state"], poll["voters"], a["answer"],
                    a["count"], a.get("correct", ""), poll["opened_at"], poll["closed_at"],
                )]
            )  # fmt: skip
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="podium-polls-{session.id}.csv"'},
    )


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run: formulas are prefixed with a quote."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


async def export_csv(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/qa.csv: the same as qa.json, for spreadsheets."""
    session, event, rows = await _export_rows(request)
    out = io.StringIO()
    writer = csv.writer(out)
    translated = [f"translation_{tag}" for tag in event.languages]
    writer.writerow([*EXPORT_COLUMNS, *translated, "translations_stale"])
    for row in rows:
        tr = row["translations"]
        writer.writerow(
            [
                *(_cell(row[c]) for c in EXPORT_COLUMNS),
                *(_cell(tr[tag]["text"]) if tag in tr else "" for tag in event.languages),
                " ".join(tag for tag in tr if tr[tag]["stale"]),
            ]
        )
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),  # BOM: spreadsheets read UTF-8 right
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(session, "csv")}"'},
    )


# --- organizer: invites --------------------------------------------------------------


async def create_invite(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/invites {role, session_id?, label?, hours?}."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    data = validate.payload(await body(request), {"role", "session_id", "label", "hours"}, {"role"})
    role = validate.choice(data["role"], "role", idn.INVITE_ROLES)
    session_id = ""
    if validate.present(data, "session_id"):
        session_id = validate.identifier(data["session_id"], "session_id")
        session = await request.app[appkeys.EVENTS].get_session(session_id)
        if session.event_id != event_id:
            raise NotFound("No such session in this event.")
    if role == idn.ORGANIZER and session_id:
        raise Invalid("An organizer link is for the whole event.", field="session_id")
    label = ""
    if validate.present(data, "label"):
        label = validate.optional_text(data["label"], "label", max_len=80)
    hours = data.get("hours", 72)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= MAX_INVITE_HOURS:
        raise Invalid(f"hours must be a number from 1 to {MAX_INVITE_HOURS}.", field="hours")
    await request.app[appkeys.EVENTS].get_event(event_id)
    invite, token = await request.app[appkeys.AUTH].create_invite(
        role, event_id, session_id, label, float(hours)
    )
    await tell_moderators_of_invites(request.app, event_id, session_id)
    return json_ok(
        status=201,
        invite=invite.public(),
        token=token,
        url=invite_url(request, role, session_id, token),
    )


async def _invite_for_organizer(request: web.Request) -> Invite:
    """The invite in the path, if the caller may manage it. The caller's credentials are
    checked first, and a caller from another event hears the same as for an id that does not
    exist: the answers tell nobody outside an event which of its ids are real."""
    who = await invite_holder(request)
    invite_id = validate.identifier(request.match_info["invite_id"], "invite")
    try:
        invite = await request.app[appkeys.IDENTITY].get_invite(invite_id)
    except NotFound:
        invite = None
    if invite is None or (not who.is_root and who.event_id != (invite.event_id or None)):
        raise NotFound("No such invite.")
    # Someone with a seat in the invite's event (who sees its lineup) hears why not.
    idn.require_manage_event(who, invite.event_id)
    return invite


async def revoke_invite(request: web.Request) -> web.Response:
    """POST /api/invites/{invite_id}/revoke: the link stops working and its sockets close."""
    invite = await _invite_for_organizer(request)
    await request.app[appkeys.IDENTITY].revoke_invite(invite.id)
    await close_invite_connections(request, [invite.id], "This link was revoked by the organizer.")
    await tell_moderators_of_invites(request.app, invite.event_id, invite.session_id)
    return json_ok(invite={**invite.public(), "revoked": True})


async def update_invite(request: web.Request) -> web.Response:
    """PATCH /api/invites/{invite_id} {backup_url}: attach a speaker's backup recording (or
    remove it with ""); the lineups that show this speaker get it at once."""
    invite = await _invite_for_organizer(request)
    invite_id = invite.id
    identity = request.app[appkeys.IDENTITY]
    data = validate.payload(await body(request), {"backup_url"}, {"backup_url"})
    if invite.role != idn.SPEAKER:
        raise Invalid("Only a speaker's link has a backup recording.", field="backup_url")
    url = ev.media_url(data["backup_url"], "backup_url")
    await identity.set_backup_url(invite_id, url)
    sessions = [invite.session_id]
    if not invite.session_id:
        sessions = await request.app[appkeys.EVENTS].session_ids(invite.event_id)
    lineup = request.app[appkeys.LINEUP]
    for session_id in sessions:
        await lineup.touch(session_id, invite_id, url)  # logged: every stage shows the recording
    await tell_moderators_of_invites(request.app, invite.event_id, invite.session_id)
    return json_ok(invite={**invite.public(), "backup_url": url or None})


async def close_invite_connections(request: web.Request, invite_ids: list[str], message: str) -> None:
    """Tell every socket opened with these invites why, then close them on every worker."""
    sio = request.app[appkeys.SIO]
    for invite_id in invite_ids:
        room = p.invite_room(invite_id)
        await sio.emit(p.CLOSED, {"code": "unauthorized", "message": message}, room=room)
        await sio.manager.disconnect_room(room)


def setup(app: web.Application) -> None:
    """Add the API routes."""
    r = app.router
    r.add_get("/api/codes/{code}", public_event)
    r.add_post("/api/codes/{code}/join", join_by_code)
    r.add_get("/api/me", me)
    r.add_get("/api/events", list_events)
    r.add_post("/api/events", create_event)
    r.add_get("/api/events/{event_id}", get_event)
    r.add_patch("/api/events/{event_id}", update_event)
    r.add_delete("/api/events/{event_id}", delete_event)
    r.add_post("/api/events/{event_id}/sessions", create_session)
    r.add_post("/api/events/{event_id}/invites", create_invite)
    r.add_patch("/api/sessions/{session_id}", update_session)
    r.add_delete("/api/sessions/{session_id}", delete_session)
    r.add_get("/api/sessions/{session_id}/presence", session_presence)
    r.add_get("/api/sessions/{session_id}/qa.json", export_json)
    r.add_get("/api/sessions/{session_id}/qa.csv", export_csv)
    r.add_get("/api/sessions/{session_id}/polls.csv", export_polls_csv)
    r.add_post("/api/invites/{invite_id}/revoke", revoke_invite)
    r.add_patch("/api/invites/{invite_id}", update_invite)
