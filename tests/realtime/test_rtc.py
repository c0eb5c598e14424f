"""WebRTC through Podium's signaling: real aiortc peers, and who may signal whom."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from server import appkeys
from server.domain import rtc
from tests.conftest import Connected, Running, World, audience_token
from tests.conftest import join_session as joined


async def test_a_speakers_video_reaches_a_hall_screen_through_podiums_signaling(
    server: Running, world: World
):
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    screen, snap = await joined(server, world, {"token": world.tokens["screen"]})
    peers = snap["rtc"]["peers"]
    assert [p["role"] for p in peers] == ["speaker"]
    assert snap["rtc"]["ice_transport_policy"] == "all"  # the default: direct when possible
    speaker_sid = peers[0]["peer"]
    screen_sid = snap["rtc"]["you"]
    arrived = await speaker.wait_for(lambda c: c.events("rtc:peer"))
    assert arrived[0]["peer"] == screen_sid and arrived[0]["role"] == "screen"

    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    frames: asyncio.Queue = asyncio.Queue()
    tasks: set[asyncio.Future] = set()  # kept, so none is collected mid-flight
    try:
        sender.addTrack(VideoStreamTrack())

        @receiver.on("track")
        def on_track(track):
            async def pull():
                frames.put_nowait(await track.recv())

            tasks.add(asyncio.ensure_future(pull()))

        # The screen answers whatever offer Podium relays to it.
        async def screen_answers(data):
            await receiver.setRemoteDescription(RTCSessionDescription(**data["data"]))
            await receiver.setLocalDescription(await receiver.createAnswer())
            answer = {"type": "answer", "sdp": receiver.localDescription.sdp}
            ack = await screen.call(
                "rtc:signal", {"session": world.session, "to": data["from"], "kind": "answer", "data": answer}
            )
            assert ack == {"ok": True}

        screen.sio.on("rtc:signal", lambda data: tasks.add(asyncio.ensure_future(screen_answers(data))))
        answered = asyncio.get_running_loop().create_future()
        speaker.sio.on("rtc:signal", answered.set_result)

        await sender.setLocalDescription(await sender.createOffer())
        offer = {"type": "offer", "sdp": sender.localDescription.sdp}
        ack = await speaker.call(
            "rtc:signal", {"session": world.session, "to": screen_sid, "kind": "offer", "data": offer}
        )
        assert ack == {"ok": True}
        answer = await asyncio.wait_for(answered, 10)
        assert (answer["from"], answer["role"], answer["kind"]) == (screen_sid, "screen", "answer")
        await sender.setRemoteDescription(RTCSessionDescription(**answer["data"]))

        frame = await asyncio.wait_for(frames.get(), 20)
        assert frame.width > 0 and frame.height > 0
    finally:
        await sender.close()
        await receiver.close()
    assert speaker_sid


async def peer_ids(c: Connected) -> dict[str, str]:
    snap = await c.call("session:snapshot", {})
    return {p["role"]: p["peer"] for p in snap["rtc"]["peers"]}


OFFER = {"type": "offer", "sdp": "v=0\r\n"}


async def test_the_audience_cannot_signal_and_never_hears_of_peers(server: Running, world: World, http):
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    _screen, snap = await joined(server, world, {"token": world.tokens["screen"]})
    audience, asnap = await joined(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    assert "rtc" not in asnap
    target = snap["rtc"]["peers"][0]["peer"]
    ack = await audience.call(
        "rtc:signal", {"session": world.session, "to": target, "kind": "offer", "data": OFFER}
    )
    assert ack["error"]["code"] == "forbidden"
    await asyncio.sleep(0.2)
    assert not audience.events("rtc:peer") and not audience.events("rtc:signal")
    assert not speaker.events("rtc:signal")


async def test_screens_do_not_signal_screens_and_no_one_signals_an_audience_member(
    server: Running, world: World, http
):
    screen, _snap = await joined(server, world, {"token": world.tokens["screen"]})
    _mod, msnap = await joined(server, world, {"token": world.tokens["moderator"]})
    audience, _ = await joined(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    ack = await screen.call(
        "rtc:signal", {"session": world.session, "to": msnap["rtc"]["you"], "kind": "offer", "data": OFFER}
    )
    assert ack["error"]["code"] == "forbidden", "a screen and a moderator exchange no media"
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    audience_sid = audience.sio.get_sid()
    ack = await speaker.call(
        "rtc:signal", {"session": world.session, "to": audience_sid, "kind": "offer", "data": OFFER}
    )
    assert ack["error"]["code"] == "not_found"


async def test_no_signal_crosses_sessions(server: Running, world: World, org):
    elsewhere = await org.ok(
        "POST",
        f"/api/events/{world.event['id']}/invites",
        {"role": "screen", "session_id": world.sessions[1]["id"]},
    )
    other_screen, osnap = await joined(
        server, world, {"token": elsewhere["token"]}, session=world.sessions[1]["id"]
    )
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    ack = await speaker.call(
        "rtc:signal", {"session": world.session, "to": osnap["rtc"]["you"], "kind": "offer", "data": OFFER}
    )
    assert ack["error"]["code"] == "not_found"
    ack = await speaker.call(
        "rtc:signal",
        {"session": world.sessions[1]["id"], "to": osnap["rtc"]["you"], "kind": "offer", "data": OFFER},
    )
    assert ack["error"]["code"] == "conflict"
    assert not other_screen.events("rtc:signal")


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("shout", OFFER),
        ("offer", None),
        ("offer", {"type": "answer", "sdp": "v=0"}),
        ("offer", {"type": "offer", "sdp": "x" * 30_001}),
        ("offer", {"type": "offer", "sdp": 5}),
        ("offer", {"type": "offer"}),
        ("candidate", {"candidate": "x" * 1001}),
        ("candidate", {"sdpMid": "0"}),
        ("candidate", {"candidate": "c", "sdpMLineIndex": "0"}),
        ("candidate", {"candidate": "c", "extra": 1}),
    ],
)
async def test_malformed_signals_are_refused_and_not_relayed(server: Running, world: World, kind, data):
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    screen, snap = await joined(server, world, {"token": world.tokens["screen"]})
    payload = {"session": world.session, "to": snap["rtc"]["you"], "kind": kind}
    if data is not None:
        payload["data"] = data
    ack = await speaker.call("rtc:signal", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    await asyncio.sleep(0.1)
    assert not screen.events("rtc:signal")


async def test_a_peer_that_leaves_is_announced(server: Running, world: World):
    screen, _ = await joined(server, world, {"token": world.tokens["screen"]})
    speaker, ssnap = await joined(server, world, {"token": world.tokens["speaker"]})
    await speaker.disconnect()
    gone = await screen.wait_for(lambda c: [e for e in c.events("rtc:peer") if not e["present"]])
    assert gone[0]["peer"] == ssnap["rtc"]["you"]


def test_turn_credentials_follow_the_turn_rest_convention():
    servers = rtc.ice_servers(
        ("stun:stun.example.org:3478",),
        ("turn:turn.example.org:3478",),
        turn_secret="s3cret",
        user="i:abc",
        now=1_000,
        ttl=3_600,
    )
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1]["username"] == "4600:i:abc"
    # base64(HMAC-SHA1(secret, username)), what coturn's use-auth-secret checks
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(b"s3cret", b"4600:i:abc", hashlib.sha1).digest()).decode()
    assert servers[1]["credential"] == expected
    # They expire ttl seconds after they are made: coturn refuses them from then on.
    assert rtc.turn_credentials("s3cret", "i:abc", now=1_000, ttl=60)[0] == "1060:i:abc"
    assert rtc.ice_servers((), ("turn:x",), turn_secret="", user="u", now=0, ttl=1) == []


async def test_a_studio_opening_to_ten_viewers_gets_its_whole_ice_burst_through(
    server: Running, world: World
):
    """An offer and eight candidates to each of ten screens within a moment: none refused,
    every one relayed once. Signaling has its own allowance, apart from other events."""
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    screens = [(await joined(server, world, {"token": world.tokens["screen"]}))[0] for _ in range(10)]
    sends = []
    for screen in screens:
        to = screen.sio.get_sid()
        sends.append(
            speaker.call("rtc:signal", {"session": world.session, "to": to, "kind": "offer", "data": OFFER})
        )
        for i in range(8):
            data = {"candidate": f"candidate:{i} 1 udp 2122260223 10.0.0.{i} 5{i}000 typ host", "sdpMid": "0"}
            sends.append(
                speaker.call(
                    "rtc:signal", {"session": world.session, "to": to, "kind": "candidate", "data": data}
                )
            )
    acks = await asyncio.gather(*sends)
    assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
    for screen in screens:
        await screen.wait_for(lambda c: len(c.events("rtc:signal")) >= 9)
        assert len(screen.events("rtc:signal")) == 9
    # The burst did not spend the allowance every other event shares.
    assert (await speaker.call("session:snapshot", {}))["ok"]


async def test_a_signaling_flood_is_refused_without_touching_other_events(server: Running, world: World):
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    screen, _ = await joined(server, world, {"token": world.tokens["screen"]})
    to = screen.sio.get_sid()
    data = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host"}
    acks = await asyncio.gather(
        *(
            speaker.call(
                "rtc:signal", {"session": world.session, "to": to, "kind": "candidate", "data": data}
            )
            for _ in range(400)
        )
    )
    codes = [a["error"]["code"] if not a["ok"] else "ok" for a in acks]
    assert "rate_limited" in codes and set(codes) <= {"ok", "rate_limited"}
    relayed = codes.count("ok")
    await screen.wait_for(lambda c: len(c.events("rtc:signal")) >= relayed)
    assert len(screen.events("rtc:signal")) == relayed
    assert (await speaker.call("session:snapshot", {}))["ok"], "other events have their own allowance"


async def test_a_signal_between_two_sockets_of_one_worker_is_not_published_to_the_others(
    server: Running, world: World
):
    """Relayed signals are most of the stage's traffic: one to a socket this worker holds
    goes straight to it, without a Redis PUBLISH that every other worker would decode."""
    speaker, _ = await joined(server, world, {"token": world.tokens["speaker"]})
    screen, _ = await joined(server, world, {"token": world.tokens["screen"]})
    store = server.app[appkeys.REDIS]

    async def publishes() -> int:
        stats = await store.info("commandstats")
        return int(stats.get("cmdstat_publish", {}).get("calls", 0))

    before = await publishes()
    to = screen.sio.get_sid()
    for i in range(50):
        data = {"candidate": f"candidate:{i} 1 udp 2122260223 10.0.0.1 5{i:04d} typ host"}
        assert (
            await speaker.call(
                "rtc:signal", {"session": world.session, "to": to, "kind": "candidate", "data": data}
            )
        )["ok"]
    await screen.wait_for(lambda c: len(c.events("rtc:signal")) == 50)
    assert await publishes() - before < 10, "each signal went through Redis pub/sub"
