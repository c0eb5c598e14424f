"""The pages: audience, organizer, moderator, hall screen and speaker studio, plus the QR code."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import segno
from aiohttp import web
from redis.exceptions import RedisError

from server import appkeys
from server.auth import PARTICIPANT_COOKIE, now
from server.domain import events as ev
from server.domain.reactions import EMOJI
from server.errors import Forbidden, Invalid, NotFound, PodiumError
from server.http.api import event_view, refuse_banned, set_participant_cookie
from server.http.assets import Assets, compress_page, respond
from server.http.i18n import LANG_COOKIE

WEB = Path(__file__).resolve().parents[2] / "web"
VENDOR = {
    # url name -> file inside web/node_modules (installed from web/package.json)
    "socket.io.esm.min.js": "socket.io-client/dist/socket.io.esm.min.js",
    "socket.io.esm.min.js.map": "socket.io-client/dist/socket.io.esm.min.js.map",
    "hls.light.min.mjs": "hls.js/dist/hls.light.min.mjs",
    "hls.light.min.mjs.map": "hls.js/dist/hls.light.min.mjs.map",
    "uPlot.esm.js": "uplot/dist/uPlot.esm.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}

# Every emoji a page shows (the reactions, the hall screen's sound button) is a Twemoji image
# (npm @discordapp/twemoji; graphics CC-BY 4.0, credited in the README), so a kiosk or a phone
# without a colour emoji font shows the same picture. Only these files are served.
SHOWN_EMOJI = (*EMOJI, "\N{SPEAKER WITH CANCELLATION STROKE}")
EMOJI_MAX_AGE = 7 * 86400  # an emoji's picture changes only with a new major Twemoji


def twemoji_file(emoji: str) -> str:
    """Twemoji's file for an emoji: its code points in hex joined by "-", without the
    variation selector U+FE0F unless the emoji is a sequence joined by U+200D ("2764.svg")."""
    if "\u200d" not in emoji:
        emoji = emoji.replace("\ufe0f", "")
    return "-".join(f"{ord(c):x}" for c in emoji) + ".svg"


EMOJI_IMAGES = {twemoji_file(e): f"@discordapp/twemoji/dist/svg/{twemoji_file(e)}" for e in SHOWN_EMOJI}

# Pages only load what Podium serves itself; user text is never executed. Video may come
# from elsewhere (a speaker's backup recording, a session's stream); a page that plays a
# stream may also fetch from the stream's origin (hls.js loads playlists and segments).
CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: https: http:; connect-src 'self'{connect}; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
)
CSP = CSP_TEMPLATE.format(connect="")


def csp_with_streams(urls: list[str]) -> str:
    """The policy for a page that plays streams: any https origin (a stream set while the page
    is open must play without a reload), plus the plain-http origins of these ones, each
    rebuilt from its parsed URL (a URL that is not a plain one adds nothing)."""
    origins = sorted({o for o in map(ev.media_origin, urls) if o is not None and o.startswith("http:")})
    return CSP_TEMPLATE.format(connect="".join(f" {o}" for o in ["https:", *origins]))


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Headers that keep pages from being framed, sniffed or scripted from elsewhere."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:  # raised responses (404, redirects) get them too
        _secure(request, exc)
        raise
    if not response.prepared:
        _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse | web.HTTPException) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


# The language chosen on a page is remembered for that kind of page: a hall screen and a
# speaker's studio keep their own (a screen in Chinese, a studio in English, one session).
LANG_COOKIES = {"screen": "podium_lang_screen", "studio": "podium_lang_studio"}
LANG_COOKIE_DAYS = 365


def render(
    request: web.Request,
    template: str,
    page: str,
    config: dict[str, Any],
    *,
    status: int = 200,
    languages: tuple[str, ...] = (),
) -> web.Response:
    """A page in the caller's language (`Catalogs.negotiate`; `languages`: the event's), with
    its config, its strings and the language switcher's choices handed to its script."""
    catalogs = request.app[appkeys.CATALOGS]
    remembered = LANG_COOKIES.get(page, LANG_COOKIE)
    lang = catalogs.negotiate(request, languages, remembered)
    strings = catalogs.catalog(lang)

    def t(key: str, **values: Any) -> str:
        return catalogs.translate(lang, key, **values)

    context = {
        "lang": lang,
        "dir": catalogs.direction(lang),
        "t": t,
        "page": page,
        "config": {**config, "lang": lang, "page": page},
        "strings": strings,
        "languages": catalogs.choices(languages),
    }
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    # Made for this request (a phone's page carries its name): kept by no shared cache, and
    # asked for again each time.
    response.headers["Cache-Control"] = "private, no-cache"
    compress_page(request, response)
    if catalogs.supported(request.query.get("lang", "")) == lang:
        response.set_cookie(
            remembered,
            lang,
            max_age=LANG_COOKIE_DAYS * 86400,
            path="/",
            samesite="Lax",
            httponly=True,
            secure=request.app[appkeys.SETTINGS].secure_cookies,
        )
    return response


async def landing(request: web.Request) -> web.Response:
    """GET /: type an event code."""
    return render(request, "landing.html", "landing", {"error": None, "code": ""})


async def go(request: web.Request) -> web.StreamResponse:
    """GET /go?code=...: the landing form, normalized and checked."""
    typed = request.query.get("code", "")[:40]
    try:
        code = ev.normalize_code(typed)
        await request.app[appkeys.EVENTS].event_by_code(code)
    except (Invalid, NotFound):
        return render(
            request, "landing.html", "landing", {"error": "landing.unknown_code", "code": typed}, status=404
        )
    raise web.HTTPSeeOther(f"/e/{code}")


async def audience(request: web.Request) -> web.Response:
    """GET /e/{code}: the audience page; the browser gets its participant cookie here."""
    try:
        code = ev.normalize_code(request.match_info["code"])
        event = await request.app[appkeys.EVENTS].event_by_code(code)
    except (Invalid, NotFound):
        return render(
            request,
            "landing.html",
            "landing",
            {"error": "landing.unknown_code", "code": request.match_info["code"][:40]},
            status=404,
        )
    settings = request.app[appkeys.SETTINGS]
    auth = request.app[appkeys.AUTH]
    identity = request.app[appkeys.IDENTITY]
    cookie = request.cookies.get(PARTICIPANT_COOKIE)
    pid = auth.participant_or_none(cookie)
    # A new browser gets its identity; a returning one past half its cookie's life gets it
    # renewed, so someone who keeps coming back stays the same person.
    issue = pid is None or auth.participant_half_spent(cookie, settings.participant_cookie_days)
    if pid is None:
        pid = auth.new_participant_id()
    name = await identity.touch_participant(pid, now())
    try:
        await refuse_banned(request, event.id, pid)
    except Forbidden:
        return render(
            request, "landing.html", "landing", {"error": "landing.removed", "code": ""}, status=403
        )
    view = await event_view(request, event, with_invites=False)
    where = request.query.get("w")
    response = render(
        request,
        "audience.html",
        "audience",
        {
            **view,
            "name": name,
            "where": where if where in ("hall", "remote") else None,
            "sfu": bool(settings.sfu_url),  # the remote audience watches the stage from the SFU
        },
        languages=event.languages,
    )
    streams = [s["stream_url"] for s in view["sessions"] if s["stream_url"]]
    response.headers["Content-Security-Policy"] = csp_with_streams(streams)
    if issue:
        set_participant_cookie(
            response, settings, auth.participant_token(pid, settings.participant_cookie_days)
        )
    return response


async def qr_svg(request: web.Request) -> web.Response:
    """GET /e/{code}/qr.svg?w=hall: the join QR, drawn here (no outside service)."""
    try:
        code = ev.normalize_code(request.match_info["code"])
        await request.app[appkeys.EVENTS].event_by_code(code)
    except (Invalid, NotFound):
        raise web.HTTPNotFound() from None
    url = f"{request.app[appkeys.SETTINGS].base_url}/e/{code}"
    if request.query.get("w") in ("hall", "remote"):
        url += f"?w={request.query['w']}"
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out, kind="svg", scale=10, border=2, xmldecl=False, svgns=True, title=code
    )
    return web.Response(
        body=out.getvalue(),
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=300"},
    )


def role_page(template: str, page: str) -> Any:
    """A page opened with an invite link; its script reads the token from the fragment."""

    async def handler(request: web.Request) -> web.Response:
        session_id = request.match_info.get("session_id")
        base_url = request.app[appkeys.SETTINGS].base_url
        languages: tuple[str, ...] = ()
        if session_id:
            events = request.app[appkeys.EVENTS]
            with contextlib.suppress(PodiumError, RedisError):  # the page's script says what is wrong
                session = await events.get_session(session_id)
                languages = (await events.get_event(session.event_id)).languages
        return render(
            request, template, page, {"session_id": session_id, "base_url": base_url}, languages=languages
        )

    return handler


async def report_page(request: web.Request) -> web.Response:
    """GET /o/report/{event_id}: the event's report; its script reads the organizer's token
    from this browser's storage (or the fragment) and fetches the numbers."""
    event_id = request.match_info["event_id"][:40]
    languages: tuple[str, ...] = ()
    with contextlib.suppress(PodiumError, RedisError):
        languages = (await request.app[appkeys.EVENTS].get_event(event_id)).languages
    return render(request, "report.html", "report", {"event_id": event_id}, languages=languages)


# Our own files are not versioned in their URLs: a browser checks each with its ETag before
# using it again, so a page never runs one module of the new release beside one of the old.
STATIC_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=3600"


async def static(request: web.Request) -> web.Response:
    """GET /static/{path}: web/static, compressed for browsers that accept it."""
    assets = request.app[appkeys.ASSETS]
    path = assets.static_path(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return respond(request, await assets.get(path), STATIC_CACHE)


async def vendor(request: web.Request) -> web.Response:
    """GET /static/vendor/{name}: browser packages installed from npm, served by Podium."""
    name = request.match_info["name"]
    if name not in VENDOR:
        raise web.HTTPNotFound()
    return await _node_module_file(request, VENDOR[name], VENDOR_CACHE)


async def emoji_image(request: web.Request) -> web.Response:
    """GET /static/vendor/emoji/{name}: the Twemoji picture of an emoji a page shows; no other."""
    name = request.match_info["name"]
    if name not in EMOJI_IMAGES:
        raise web.HTTPNotFound()
    return await _node_module_file(request, EMOJI_IMAGES[name], f"public, max-age={EMOJI_MAX_AGE}")


async def _node_module_file(request: web.Request, path: str, cache_control: str) -> web.Response:
    file = WEB / "node_modules" / path
    if not file.exists():
        raise web.HTTPServiceUnavailable(text="Run `make install`: web/node_modules is missing.")
    return respond(request, await request.app[appkeys.ASSETS].get(file), cache_control)


def setup(app: web.Application) -> None:
    """Add the page routes, templates and static files."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}
    assets = app[appkeys.ASSETS] = Assets(WEB / "static")
    env.globals["module_preloads"] = assets.module_preloads
    r = app.router
    r.add_get("/", landing)
    r.add_get("/go", go)
    r.add_get("/e/{code}", audience)
    r.add_get("/e/{code}/qr.svg", qr_svg)
    r.add_get("/o", role_page("organizer.html", "organizer"))
    r.add_get("/o/report/{event_id}", report_page)
    for prefix, template, page in (
        ("/m", "moderator.html", "moderator"),
        ("/s", "screen.html", "screen"),
        ("/studio", "studio.html", "studio"),
        ("/i", "interpreter.html", "interpreter"),
    ):
        r.add_get(prefix, role_page(template, page))
        r.add_get(prefix + "/{session_id}", role_page(template, page))
    r.add_get("/static/vendor/emoji/{name}", emoji_image)
    r.add_get("/static/vendor/{name}", vendor)
    r.add_get("/static/{path:.+}", static)
