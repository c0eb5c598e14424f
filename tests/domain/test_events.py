"""Events and sessions: codes, time zones, times, the current session."""

from __future__ import annotations

import pytest

from server.domain import events as ev
from server.errors import Invalid

NOW = 1_795_000_000


def make_event(**kw):
    data = {"name": "Innovation Day", "time_zone": "Asia/Shanghai", "languages": ["zh-CN", "en", "he"]}
    data.update(kw)
    return ev.new_event(data, "e1", NOW, code="ABC234")


def test_a_new_event_gets_the_generated_code_unless_one_is_asked_for():
    assert make_event().code == "ABC234"
    assert make_event(code="ai-day 26").code == "AIDAY26"


@pytest.mark.parametrize("code", ["abc", "x" * 13, "ab$cd", "", 5, None])
def test_bad_codes_are_refused(code):
    with pytest.raises(Invalid):
        ev.normalize_code(code)


def test_generated_codes_avoid_confusable_characters():
    for _ in range(200):
        code = ev.new_code()
        assert len(code) == ev.CODE_LENGTH
        assert not set(code) & set("01OIL")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "UTC+8", None, 8])
def test_unknown_time_zones_are_refused(zone):
    with pytest.raises(Invalid, match="time_zone"):
        make_event(time_zone=zone)


@pytest.mark.parametrize("langs", [[], ["english!"], "en", [1], ["en"] * 11])
def test_bad_language_lists_are_refused(langs):
    with pytest.raises(Invalid, match="languages"):
        make_event(languages=langs)


def test_languages_keep_their_order_without_repeats():
    assert make_event(languages=["he", "en", "he"]).languages == ("he", "en")


def test_session_times_without_offset_are_read_in_the_events_zone():
    event = make_event()
    s = ev.new_session(
        {"title": "Opening", "starts_at": "2026-12-03T09:30", "ends_at": "2026-12-03T09:45"}, event, "s1"
    )
    assert s.starts_at == 1_796_261_400  # 01:30 UTC
    assert s.public(event.time_zone)["starts_at"] == "2026-12-03T09:30:00+08:00"
    other = ev.new_session(
        {"title": "x", "starts_at": "2026-12-03T03:30+02:00", "ends_at": "2026-12-03T04:00+02:00"},
        event,
        "s2",
    )
    assert other.starts_at == s.starts_at


def test_a_wall_clock_time_skipped_by_daylight_saving_is_refused():
    event = make_event(time_zone="Asia/Jerusalem")
    with pytest.raises(Invalid, match="does not exist"):
        ev.new_session(
            {"title": "x", "starts_at": "2026-03-27T02:30", "ends_at": "2026-03-27T04:00"}, event, "s"
        )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-12-03T10:00", "2026-12-03T09:00", "after"),
        ("2026-12-03T10:00", "2026-12-03T10:00", "after"),
        ("2026-12-03T10:00", "2026-12-13T10:00", "week"),
        ("tomorrow", "2026-12-03T10:00", "date and time"),
    ],
)
def test_bad_session_spans_are_refused(start, end, message):
    with pytest.raises(Invalid, match=message):
        ev.new_session({"title": "x", "starts_at": start, "ends_at": end}, make_event(), "s")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/y", "http://", "not a url", "https://a b"])
def test_stream_urls_must_be_http(url):
    with pytest.raises(Invalid, match="stream_url"):
        ev.stream_url(url)


def test_updates_keep_what_they_do_not_touch_and_recheck_the_span():
    event = make_event()
    s = ev.new_session(
        {"title": "A", "starts_at": "2026-12-03T09:30", "ends_at": "2026-12-03T09:45"}, event, "s"
    )
    s2 = ev.update_session(s, event, {"title": "B"})
    assert (s2.title, s2.starts_at, s2.ends_at) == ("B", s.starts_at, s.ends_at)
    with pytest.raises(Invalid, match="after"):
        ev.update_session(s, event, {"ends_at": "2026-12-03T09:00"})
    assert ev.update_event(event, {"name": "New"}).code == event.code


def test_the_current_session_is_the_running_one_else_the_next_else_the_last():
    event = make_event()

    def sess(i, start, end):
        return ev.new_session({"title": str(i), "starts_at": start, "ends_at": end}, event, f"s{i}")

    a = sess(1, "2026-12-03T09:30", "2026-12-03T09:45")
    b = sess(2, "2026-12-03T09:45", "2026-12-03T10:45")
    assert ev.current_session([], NOW) is None
    assert ev.current_session([a, b], a.starts_at - 3600) == a
    assert ev.current_session([a, b], a.starts_at - 600) == a  # doors open 15 min early
    assert ev.current_session([a, b], b.starts_at + 60) == b
    assert ev.current_session([a, b], b.ends_at + 60) == b
