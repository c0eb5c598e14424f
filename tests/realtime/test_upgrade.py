"""A worker started on a store an older Podium wrote (key layout 1) migrates it and serves its
event as it was: the code, the questions and votes, the one on screen, the live speaker and
their backup recording, the paused clock; the links handed out before still open it."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from server.auth import INVITE
from server.domain import identity as idn
from server.store.connection import connect
from tests.conftest import audience_token, make_settings, start_server, stop_server
from tests.store.test_migrate import load_layout_1


async def test_an_event_from_before_the_upgrade_is_served_as_it_was(
    clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession
):
    client = connect(clean_redis)
    await load_layout_1(client)
    await client.aclose()
    settings = make_settings(clean_redis, tmp_path)
    running = await start_server(settings)
    try:
        token = await audience_token(http, running, "UPGRAD", name="Cho")
        cho = await running.client(auth={"participant": token})
        ack = await cho.call("session:join", {"session": "SES1", "where": "hall"})
        assert ack["ok"], ack
        assert ack["event"]["name"] == "Innovation Day 创新日"
        assert ack["session"]["title"] == "Keynote"
        seen = {q["id"]: q["votes"] for q in ack["qa"]["questions"]}
        assert seen == {"Q1": 2, "Q2": 1}, "the audience sees the approved ones, with their votes"
        assert ack["qa"]["screen"] == "Q1"
        assert ack["stage"]["status"] == "live"
        assert [(s["speaker"], s["state"]) for s in ack["stage"]["lineup"]] == [("SPK1", "live")]
        assert ack["clock"]["state"] == "paused"

        # The speaker's link, handed out before the upgrade, still opens their studio.
        claims = {"i": "SPK1", "r": idn.SPEAKER, "e": "EVT1", "s": "SES1", "x": 1796000000 + 365 * 86400}
        speaker = await running.client(auth={"token": idn.sign(claims, settings.secret, INVITE)})
        joined = await speaker.call("session:join", {"session": "SES1"})
        assert joined["ok"], joined
        (row,) = joined["stage"]["lineup"]
        assert row["state"] == "live" and row["backup_url"] == "https://media.example/backup.mp4"

        # The moderator's too: they approve the question that waited, and the hall sees it.
        claims = {"i": "MOD1", "r": idn.MODERATOR, "e": "EVT1", "s": "", "x": 1796000000 + 365 * 86400}
        mod = await running.client(auth={"token": idn.sign(claims, settings.secret, INVITE)})
        assert (await mod.call("session:join", {"session": "SES1"}))["ok"]
        done = await mod.call("qa:moderate", {"session": "SES1", "question": "Q3", "action": "approve"})
        assert done["ok"], done
        await cho.wait_for(lambda c: "Q3" in c.feed.questions)
        assert cho.feed.questions["Q3"]["text"] == "Still waiting"
        await cho.wait_for(lambda c: c.feed.total() == 3)  # Cho, the speaker, the moderator
    finally:
        await stop_server(running)
