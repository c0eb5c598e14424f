"""The stage's rules, pure: who may run it, and what a cue, a report, a message, a hand and an
order may hold."""

from __future__ import annotations

import pytest

from server.domain import identity as idn
from server.domain import stage as st
from server.domain.identity import Principal
from server.errors import Forbidden, Invalid

MODERATOR = Principal(role=idn.MODERATOR, person="i:m", invite_id="m")
ORGANIZER = Principal(role=idn.ORGANIZER, person="i:o", invite_id="o")
SPEAKER = Principal(role=idn.SPEAKER, person="i:s", invite_id="s")
SCREEN = Principal(role=idn.SCREEN, person="i:x", invite_id="x")
AUDIENCE = Principal(role=idn.AUDIENCE, person="p1", participant_id="p1")


def test_only_moderators_and_organizers_run_the_stage():
    st.require_moderator(MODERATOR, "move speakers")
    st.require_moderator(ORGANIZER, "move speakers")
    for who in (SPEAKER, SCREEN, AUDIENCE):
        with pytest.raises(Forbidden, match="Only moderators move speakers"):
            st.require_moderator(who, "move speakers")


def test_speakers_are_their_link_and_the_backstage_is_moderators_and_speakers():
    assert st.require_speaker(SPEAKER, "x") == "s"
    for who in (MODERATOR, SCREEN, AUDIENCE, Principal(role=idn.SPEAKER, person="p")):
        with pytest.raises(Forbidden):
            st.require_speaker(who, "x")
    for who in (MODERATOR, ORGANIZER, SPEAKER):
        st.require_backstage(who)
    for who in (SCREEN, AUDIENCE):
        with pytest.raises(Forbidden):
            st.require_backstage(who)
    assert st.require_audience(AUDIENCE) == "p1"
    for who in (MODERATOR, SPEAKER, SCREEN):
        with pytest.raises(Forbidden):
            st.require_audience(who)


def test_cues_of_each_kind():
    assert st.cue({"speaker": "s", "kind": "minutes", "minutes": 2}) == st.Cue("s", "minutes", minutes=2)
    assert st.cue({"speaker": "s", "kind": "wrap", "minutes": 99, "text": "ignored"}) == st.Cue("s", "wrap")
    assert st.cue({"speaker": "s", "kind": "text", "text": "  Louder  "}) == st.Cue(
        "s", "text", text="Louder"
    )


@pytest.mark.parametrize(
    "data",
    [
        {"speaker": "s", "kind": "shout"},
        {"speaker": "s", "kind": "minutes"},
        {"speaker": "s", "kind": "minutes", "minutes": 0},
        {"speaker": "s", "kind": "minutes", "minutes": 121},
        {"speaker": "s", "kind": "minutes", "minutes": True},
        {"speaker": "s", "kind": "text", "text": ""},
        {"speaker": "s", "kind": "text", "text": "x" * 201},
        {"speaker": "../s", "kind": "wrap"},
    ],
    ids=repr,
)
def test_bad_cues_are_invalid(data):
    with pytest.raises(Invalid):
        st.cue(data)


def test_health_reports_keep_known_fields_within_bounds():
    assert st.health({"rtt_ms": 84, "kbps": 1450, "loss": 0}) == {
        "rtt_ms": 84,
        "kbps": 1450,
        "loss": 0,
    }
    for bad in (
        {"rtt_ms": -1},
        {"rtt_ms": 60_001},
        {"rtt_ms": 1, "loss": 101},
        {"rtt_ms": 1.5},
        {"rtt_ms": "1"},
        {"rtt_ms": 1, "fps": None},  # null is a wrong type, not "unknown" (leave it out)
    ):
        with pytest.raises(Invalid):
            st.health(bad)


def test_chat_keeps_line_breaks_and_hands_may_say_nothing():
    assert st.chat_text("one\r\ntwo") == "one\ntwo"
    with pytest.raises(Invalid):
        st.chat_text("x" * 501)
    assert st.hand_note(None) == "" and st.hand_note("  ") == ""
    with pytest.raises(Invalid):
        st.hand_note("x" * 141)


def test_a_running_order_lists_speakers_once():
    assert st.running_order(["b", "a"]) == ["b", "a"]
    for bad in ([], ["a", "a"], "a", [1], ["a"] * 101, ["a b"]):
        with pytest.raises(Invalid):
            st.running_order(bad)


def test_a_guests_link_outlives_the_session_by_six_hours_and_lives_an_hour_at_least():
    now = 1_000_000
    assert st.guest_link_hours(now + 3600, now) == 7.0
    assert st.guest_link_hours(now - 10 * 3600, now) == 1.0
