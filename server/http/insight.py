"""The organizer's view of the event over HTTP: the live dashboard's data, the post-event
reports (JSON and CSV), and each event's webhook."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from aiohttp import web

from server import appkeys
from server.auth import now
from server.domain import events as ev
from server.domain import insight as ins
from server.domain import polls, validate
from server.domain import webhooks as wh
from server.domain.reactions import EMOJI
from server.errors import Invalid, NotFound, Unavailable
from server.http.api import (
    _cell,
    _export_rows,
    _session_for_organizer,
    _session_for_staff,
    body,
    json_ok,
    organizer,
)

LIVE_MINUTES = 120  # the dashboard's default window
MAX_MINUTES = 24 * 60


async def polls_of(app: web.Application, session_id: str, zone: str) -> list[dict[str, Any]]:
    """The session's polls with their results, for insight and reports (`polls`, a list), as
    the export gives them."""
    return [polls.export(p, lambda ms: _iso(ms, zone)) for p in await app[appkeys.POLLS].all(session_id)]


def _iso(ms: int | None, zone: str) -> str | None:
    return ev.local_iso(ms // 1000, zone) if ms else None


def _minutes(request: web.Request) -> int:
    """The dashboard's window (?minutes=), LIVE_MINUTES unless given."""
    raw = request.query.get("minutes", str(LIVE_MINUTES))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MINUTES:
        raise Invalid(f"minutes must be a whole number from 1 to {MAX_MINUTES}.", field="minutes")
    return int(raw)


async def session_insight(
    app: web.Application, session: ev.Session, event: ev.Event, status: str, minutes: int
) -> dict[str, Any]:
    """What the dashboard shows of one session: the last `minutes` minutes, per minute."""
    store = app[appkeys.INSIGHT]
    now_ms = int(time.time() * 1000)
    since = (now_ms // ins.MINUTE_MS - minutes) * ins.MINUTE_MS
    # One sample before the window, so that its first minute's activity is a difference.
    samples = await store.samples(session.id, since - ins.MINUTE_MS)
    timeline = [m for m in ins.timeline(samples) if m.at_ms >= since]
    last = samples[-1].at_ms if samples else None
    seq_counts = await app[appkeys.PRESENCE_STORE].counts(session.id)
    return {
        "session": session.public(event.time_zone),
        "status": status,
        "running": ins.running(status, last, now_ms),
        "time_zone": event.time_zone,
        "last_sample": _iso(last, event.time_zone),
        "present": seq_counts[1],
        "totals": await store.tally(session.id),
        "series": ins.series(timeline),
        "polls": await polls_of(app, session.id, event.time_zone),
    }


async def event_insight(request: web.Request) -> web.Response:
    """GET /api/events/{event_id}/insight?minutes=: every running session's dashboard data,
    and the other sessions' ids and statuses."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    app = request.app
    event = await app[appkeys.EVENTS].get_event(event_id)
    minutes = _minutes(request)
    sessions = await app[appkeys.EVENTS].list_sessions(event_id)
    ids = [s.id for s in sessions]
    statuses = await app[appkeys.INSIGHT].statuses(ids)
    last = await app[appkeys.INSIGHT].last_sample_ms(ids)
    now_ms = int(time.time() * 1000)
    running, others = [], []
    for s in sessions:
        if ins.running(statuses[s.id], last[s.id], now_ms):
            running.append(await session_insight(app, s, event, statuses[s.id], minutes))
        else:
            others.append(
                {"id": s.id, "title": s.title, "status": statuses[s.id], "sampled": last[s.id] is not None}
            )
    return json_ok(event=event.public(), time_zone=event.time_zone, running=running, others=others)


async def one_session_insight(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/insight?minutes=: one session's dashboard data."""
    session, event = await _session_for_organizer(request)
    status = (await request.app[appkeys.INSIGHT].statuses([session.id]))[session.id]
    # (not json_ok: its `status` is the HTTP one)
    return web.json_response(
        {"ok": True, **await session_insight(request.app, session, event, status, _minutes(request))}
    )


# --- reports ---------------------------------------------------------------------------


async def session_report(
    app: web.Application, session: ev.Session, event: ev.Event, questions: list[dict[str, Any]]
) -> dict[str, Any]:
    """A session's report: attendance, time in session, questions, polls, reactions, and its
    minutes; times ISO 8601 in the event's zone."""
    store = app[appkeys.INSIGHT]
    zone = event.time_zone
    samples = await store.samples(session.id)
    minutes = ins.timeline(samples)
    status = (await store.statuses([session.id]))[session.id]
    dwell, since, now_ms = await store.stays(session.id)
    if status == "ended" and samples:
        now_ms = min(now_ms, samples[-1].at_ms + ins.MINUTE_MS)  # stays end with the session
    attendance = ins.attendance(samples)
    attendance["peak"]["at"] = _iso(attendance["peak"].pop("at_ms"), zone)
    totals = await store.tally(session.id)
    reaction_totals = await app[appkeys.REACTIONS].totals(session.id)
    fates = ins.QuestionFates.of(questions)
    return {
        "session": session.public(zone),
        "status": status,
        "time_zone": zone,
        "generated_at": ev.local_iso(int(time.time()), zone),
        "attendance": attendance,
        "time_in_session": ins.distribution(ins.stays(dwell, since, now_ms)),
        "questions": {
            "asked": totals.get("asked", 0),
            "approved": totals.get("approved", 0),
            "answered": totals.get("answered", 0),
            "votes": totals.get("votes", 0),
            "by_state": fates.by_state,
            "list": [
                {
                    k: q[k]
                    for k in (
                        "id",
                        "state",
                        "text",
                        "name",
                        "anonymous",
                        "votes",
                        "asked_at",
                        "answered_at",
                        "merged_into",
                    )
                }
                for q in questions
            ],
        },
        "polls": await polls_of(app, session.id, zone),
        "reactions": {
            "totals": {e: reaction_totals.get(e, 0) for e in EMOJI} | reaction_totals,
            "timeline": [
                {"at": _iso(m.at_ms, zone), "total": m.counts["reactions"], "counts": m.reactions}
                for m in minutes
            ],
        },
        "timeline": [
            {
                "at": _iso(m.at_ms, zone),
                "people": m.people,
                **{name: m.counts[name] for name in (*ins.TALLIES, "reactions")},
            }
            for m in minutes
        ],
    }


def _download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _json(payload: dict[str, Any], filename: str) -> web.Response:
    return web.json_response(
        {"ok": True, **payload},
        dumps=lambda obj: json.dumps(obj, ensure_ascii=False),
        headers=_download(filename),
    )


async def session_report_json(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/report.json (organizers, and the session's moderators)."""
    session, event, rows = await _export_rows(request)
    report = await session_report(request.app, session, event, rows)
    return _json({"event": event.public(), **report}, f"podium-report-{session.id}.json")


async def session_report_csv(request: web.Request) -> web.Response:
    """GET /api/sessions/{session_id}/report.csv: the session's minutes, one row each."""
    session, event = await _session_for_staff(request)
    minutes = ins.timeline(await request.app[appkeys.INSIGHT].samples(session.id))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ins.CSV_COLUMNS)
    for m in minutes:
        writer.writerow([_cell(v) for v in ins.csv_row(m, ev.local_iso(m.at_ms // 1000, event.time_zone))])
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers=_download(f"podium-report-{session.id}.csv"),
    )


async def event_report_json(request: web.Request) -> web.Response:
    """GET /api/events/{event_id}/report.json: every session's report (organizers)."""
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    app = request.app
    event = await app[appkeys.EVENTS].get_event(event_id)
    reports = []
    for session in await app[appkeys.EVENTS].list_sessions(event_id):
        questions = await _questions(request, session, event)
        reports.append(await session_report(app, session, event, questions))
    summary = {
        "sessions": len(reports),
        "peak_audience": max((r["attendance"]["peak"]["total"] for r in reports), default=0),
        "questions_asked": sum(r["questions"]["asked"] for r in reports),
        "questions_answered": sum(r["questions"]["answered"] for r in reports),
        "votes": sum(r["questions"]["votes"] for r in reports),
        "reactions": sum(sum(r["reactions"]["totals"].values()) for r in reports),
    }
    return _json(
        {"event": event.public(), "time_zone": event.time_zone, "summary": summary, "sessions": reports},
        f"podium-report-{event.id}.json",
    )


async def _questions(request: web.Request, session: ev.Session, event: ev.Event) -> list[dict[str, Any]]:
    qa_store = request.app[appkeys.QA]

    def local(ms: int | None) -> str:
        return ev.local_iso(ms // 1000, event.time_zone) if ms else ""

    return [
        {
            "id": q["id"], "state": q["state"], "text": q["text"], "name": "" if q["anon"] else q["name"],
            "anonymous": q["anon"], "votes": q["votes"], "asked_at": local(q["created_at"]),
            "answered_at": local(q["answered_at"]), "merged_into": q["merged_into"],
        }
        for q in await qa_store.all(session.id)
    ]  # fmt: skip


# --- webhooks ----------------------------------------------------------------------------


async def _webhook_view(request: web.Request, event_id: str) -> dict[str, Any]:
    store = request.app[appkeys.WEBHOOKS].store
    hook = await store.get(event_id)
    zone = (await request.app[appkeys.EVENTS].get_event(event_id)).time_zone
    deliveries = []
    for d in await store.recent(event_id):
        deliveries.append(
            {
                "id": d["id"], "type": d["type"], "status": d["status"], "code": d.get("code"),
                "attempts": d["attempts"], "error": d.get("error", ""),
                "made_at": _iso(d.get("made_ms"), zone), "at": _iso(d.get("at_ms"), zone),
                "next_at": _iso(d.get("next_ms"), zone),
            }
        )  # fmt: skip
    return {
        "webhook": {
            "url": hook.get("url", ""),
            "configured": bool(hook.get("url")),
            "updated_at": _iso(int(hook["updated_at"]) * 1000, zone) if hook.get("updated_at") else None,
            "types": list(wh.TYPES),
        },
        "deliveries": deliveries,
    }


async def _event_for_webhook(request: web.Request) -> str:
    event_id = validate.identifier(request.match_info["event_id"], "event")
    await organizer(request, event_id)
    await request.app[appkeys.EVENTS].get_event(event_id)  # NotFound for a deleted event
    return event_id


async def get_webhook(request: web.Request) -> web.Response:
    """GET /api/events/{event_id}/webhook: its address and recent deliveries (never the secret)."""
    event_id = await _event_for_webhook(request)
    return json_ok(**await _webhook_view(request, event_id))


async def put_webhook(request: web.Request) -> web.Response:
    """PUT /api/events/{event_id}/webhook {url}: set the address; the first time, the secret
    (shown this once)."""
    event_id = await _event_for_webhook(request)
    data = validate.payload(await body(request), {"url"}, {"url"})
    url = wh.webhook_url(data["url"], request.app[appkeys.SETTINGS].webhooks_allow_private)
    secret = await request.app[appkeys.WEBHOOKS].store.set_url(event_id, url, now())
    view = await _webhook_view(request, event_id)
    if secret:
        view["secret"] = secret
    return json_ok(**view)


async def rotate_secret(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/webhook/secret: a new secret, shown this once."""
    event_id = await _event_for_webhook(request)
    secret = await request.app[appkeys.WEBHOOKS].store.rotate(event_id, now())
    if secret is None:
        raise NotFound("This event has no webhook.")
    return json_ok(secret=secret, **await _webhook_view(request, event_id))


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /api/events/{event_id}/webhook: no more deliveries."""
    event_id = await _event_for_webhook(request)
    await request.app[appkeys.WEBHOOKS].store.remove(event_id)
    return json_ok()


TESTS_PER_MINUTE = 6  # test deliveries an event's organizers may ask for


async def test_webhook(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/webhook/test: queue a `webhook.test` delivery now, so an
    organizer sees their receiver answer (and its signature check pass) before the event."""
    event_id = await _event_for_webhook(request)
    await request.app[appkeys.RATES].hit(f"hooktest:{event_id}", TESTS_PER_MINUTE, 60)
    hooks = request.app[appkeys.WEBHOOKS]
    if not (await hooks.store.get(event_id)).get("url"):
        raise NotFound("This event has no webhook.")
    delivery_id = await hooks.emit(event_id, wh.TEST, {"test": True})
    if delivery_id is None:
        raise Unavailable("The test delivery could not be queued; try again.")
    return json_ok(delivery=delivery_id, **await _webhook_view(request, event_id))


def setup(app: web.Application) -> None:
    """Add the insight, report and webhook routes."""
    r = app.router
    r.add_get("/api/events/{event_id}/insight", event_insight)
    r.add_get("/api/sessions/{session_id}/insight", one_session_insight)
    r.add_get("/api/sessions/{session_id}/report.json", session_report_json)
    r.add_get("/api/sessions/{session_id}/report.csv", session_report_csv)
    r.add_get("/api/events/{event_id}/report.json", event_report_json)
    r.add_get("/api/events/{event_id}/webhook", get_webhook)
    r.add_put("/api/events/{event_id}/webhook", put_webhook)
    r.add_delete("/api/events/{event_id}/webhook", delete_webhook)
    r.add_post("/api/events/{event_id}/webhook/secret", rotate_secret)
    r.add_post("/api/events/{event_id}/webhook/test", test_webhook)
