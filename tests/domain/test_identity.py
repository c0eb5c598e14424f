"""Signed tokens and the permission rules."""

from __future__ import annotations

import pytest

from server.domain import identity as idn
from server.errors import Forbidden, Unauthorized

SECRET = "s" * 32


def test_a_signed_token_round_trips_until_it_expires():
    token = idn.sign({"p": "abc", "x": 200}, SECRET, "participant")
    assert idn.verify(token, SECRET, "participant", now=199)["p"] == "abc"
    with pytest.raises(Unauthorized, match="expired"):
        idn.verify(token, SECRET, "participant", now=200)


def test_a_token_signed_for_one_purpose_never_passes_for_another():
    token = idn.sign({"p": "abc", "x": 200}, SECRET, "participant")
    with pytest.raises(Unauthorized, match="not valid"):
        idn.verify(token, SECRET, "invite", now=100)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "x" * 3000, None, 5, ["a"], "eyJ4Ijo5OTk5OTk5OTk5fQ.AAAA", "!!!.???"],
)
def test_garbage_tokens_are_refused_with_one_message(token):
    with pytest.raises(Unauthorized, match="not valid"):
        idn.verify(token, SECRET, "invite", now=100)


def test_a_tampered_payload_or_other_secret_is_refused():
    token = idn.sign({"r": "screen", "x": 200}, SECRET, "invite")
    forged = (
        idn.sign({"r": "organizer", "x": 200}, SECRET, "invite").split(".")[0] + "." + token.split(".")[1]
    )
    with pytest.raises(Unauthorized):
        idn.verify(forged, SECRET, "invite", now=100)
    with pytest.raises(Unauthorized):
        idn.verify(token, "other" * 8, "invite", now=100)


def test_organizers_manage_their_event_and_only_the_root_creates_events():
    root = idn.Principal(role=idn.ORGANIZER, person="r")
    org = idn.Principal(role=idn.ORGANIZER, person="o", event_id="e1")
    mod = idn.Principal(role=idn.MODERATOR, person="m", event_id="e1")
    assert idn.can_manage_event(root, "e2") and idn.can_manage_event(org, "e1")
    assert not idn.can_manage_event(org, "e2") and not idn.can_manage_event(mod, "e1")
    idn.require_root(root)
    with pytest.raises(Forbidden):
        idn.require_root(org)


def test_session_access_follows_the_links_scope():
    scoped = idn.Principal(role=idn.SPEAKER, person="s", event_id="e1", session_id="s1")
    event_wide = idn.Principal(role=idn.MODERATOR, person="m", event_id="e1")
    idn.require_session_access(scoped, "e1", "s1")
    idn.require_session_access(event_wide, "e1", "s2")
    with pytest.raises(Forbidden, match="another session"):
        idn.require_session_access(scoped, "e1", "s2")
    with pytest.raises(Forbidden, match="another event"):
        idn.require_session_access(event_wide, "e2", "s9")


def test_organizers_count_as_moderators_and_screens_are_in_the_hall():
    assert idn.Principal(role=idn.ORGANIZER, person="o").presence_role == idn.MODERATOR
    assert idn.Principal(role=idn.SCREEN, person="x").default_where() == "hall"
    assert idn.Principal(role=idn.AUDIENCE, person="x").default_where() == "remote"
