"""Events, sessions and invites in a real Valkey."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from server.domain import events as ev
from server.errors import Conflict, NotFound
from server.store import keys
from server.store.events import EventStore, new_id
from server.store.identity import IdentityStore, Invite


def draft(code: str = "ABC234", name: str = "Day") -> ev.Event:
    return ev.new_event({"name": name, "time_zone": "Europe/Paris", "code": code}, new_id(), 1, code="")


async def test_an_event_round_trips_and_is_found_by_its_code(rclient):
    store = EventStore(rclient)
    event = await store.create_event(draft())
    assert await store.get_event(event.id) == event
    assert await store.event_by_code("ABC234") == event
    assert [e.id for e in await store.list_events()] == [event.id]


async def test_two_events_cannot_share_a_code_even_when_created_at_once(rclient):
    store = EventStore(rclient)
    results = await asyncio.gather(*(store.create_event(draft()) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, ev.Event) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, ev.Event))
    assert len(await store.list_events()) == 1


async def test_fresh_codes_are_unique_and_reserved(rclient):
    store = EventStore(rclient)
    codes = {await store.fresh_code(f"e{i}") for i in range(50)}
    assert len(codes) == 50


async def test_changing_the_code_releases_the_old_one(rclient):
    store = EventStore(rclient)
    event = await store.create_event(draft())
    other = await store.create_event(draft("OTHER2"))
    with pytest.raises(Conflict):
        await store.update_event(event, replace(event, code="OTHER2"))
    await store.update_event(event, replace(event, code="NEWONE"))
    assert (await store.event_by_code("NEWONE")).id == event.id
    with pytest.raises(NotFound):
        await store.event_by_code("ABC234")
    assert (await store.event_by_code("OTHER2")).id == other.id


async def test_session_changes_bump_the_version_atomically(rclient):
    store = EventStore(rclient)
    event = await store.create_event(draft())
    s = await store.create_session(
        ev.new_session(
            {"title": "A", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T10:00"}, event, new_id()
        )
    )
    assert s.version == 1
    versions = await asyncio.gather(
        *(store.update_session(replace(s, title=f"T{i}"), event) for i in range(10))
    )
    assert sorted(v.version for v in versions) == list(range(2, 12))
    assert (await store.get_session(s.id)).version == 11
    # Each change is in the session's log at its version, in the order the versions say.
    log = await rclient.xrange(keys.log(s.id))
    assert [entry_id for entry_id, _ in log] == [f"{v}-0" for v in range(2, 12)]
    titles = {entry_id: json.loads(f["d"])["session"]["title"] for entry_id, f in log}
    for v in versions:
        assert titles[f"{v.version}-0"] == v.title


async def test_a_deleted_session_is_not_resurrected_by_a_late_update(rclient):
    store = EventStore(rclient)
    event = await store.create_event(draft())
    s = await store.create_session(
        ev.new_session(
            {"title": "A", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T10:00"}, event, new_id()
        )
    )
    await store.delete_session(s)
    with pytest.raises(NotFound):
        await store.update_session(replace(s, title="B"), event)
    with pytest.raises(NotFound):
        await store.get_session(s.id)
    assert await store.log_info(s, event) == 0
    # The log's last word is the deletion; it stays a while for anyone still reading it.
    ((last_id, last),) = await rclient.xrevrange(keys.log(s.id), count=1)
    assert last["t"] == "deleted" and last_id == "2-0"
    assert 0 < await rclient.ttl(keys.log(s.id)) <= 3600


async def test_deleting_an_event_removes_its_sessions_invites_and_code(rclient):
    store, ids = EventStore(rclient), IdentityStore(rclient)
    event = await store.create_event(draft())
    s = await store.create_session(
        ev.new_session(
            {"title": "A", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T10:00"}, event, new_id()
        )
    )
    await ids.create_invite(Invite("i1", "moderator", event.id, s.id, "", 1, 10**10, False))
    sessions, invites = await store.delete_event(event)
    assert (sessions, invites) == ([s.id], ["i1"])
    for probe in (
        store.get_event(event.id),
        store.get_session(s.id),
        ids.get_invite("i1"),
        store.event_by_code("ABC234"),
    ):
        with pytest.raises(NotFound):
            await probe
    assert await store.list_events() == []


async def test_invites_are_listed_revoked_and_expire_from_the_store(rclient):
    ids = IdentityStore(rclient)
    inv = await ids.create_invite(Invite("i1", "screen", "e1", "", "Projector", 1, 2_000_000_000, False))
    assert await ids.list_invites("e1") == [inv]
    await ids.revoke_invite("i1")
    assert (await ids.get_invite("i1")).revoked
    assert await rclient.ttl(keys.invite("i1")) > 0
    with pytest.raises(NotFound):
        await ids.revoke_invite("nope")


async def test_the_secret_is_made_once_and_shared(rclient):
    a, b = IdentityStore(rclient), IdentityStore(rclient)
    s1, s2 = await asyncio.gather(a.secret(), b.secret())
    assert s1 == s2 and len(s1) >= 48


async def test_participants_keep_their_name(rclient):
    ids = IdentityStore(rclient)
    assert await ids.touch_participant("p1", 1) == ""
    assert await ids.touch_participant("p1", 2, "Ann") == "Ann"
    assert await ids.touch_participant("p1", 3) == "Ann"
    assert await ids.participant_name("p1") == "Ann"


def test_ids_begin_with_a_letter_or_a_digit_so_a_csv_export_keeps_them_as_they_are() -> None:
    ids = [new_id(9) for _ in range(3000)] + [new_id() for _ in range(3000)]
    assert all(i[0].isalnum() for i in ids)
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {12, 22}
