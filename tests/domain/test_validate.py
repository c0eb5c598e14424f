"""The text normalization and type checks every input goes through."""

from __future__ import annotations

import pytest

from server.domain import validate
from server.errors import Invalid
from tests.conftest import hostile

H = hostile()


@pytest.mark.parametrize("value", H["markup"] + H["languages"] + ["\u2066isolated\u2069 text", "admin\u200b"])
def test_markup_bidi_and_every_language_are_stored_as_given(value):
    assert validate.text(value, "name", max_len=200) == value


@pytest.mark.parametrize("value", H["control"])
def test_control_characters_are_refused_not_silently_dropped(value):
    with pytest.raises(Invalid) as err:
        validate.text(value, "name", max_len=200)
    assert err.value.details == {"field": "name"}


def test_line_breaks_become_spaces_in_single_line_fields_and_lf_in_multiline():
    assert validate.text("tab\tand\r\nnewlines", "name", max_len=50) == "tab and newlines"
    assert validate.text("a\u2028b\r\nc", "q", max_len=50, multiline=True) == "a\nb\nc"


@pytest.mark.parametrize("value", [None, 0, -1, 1e308, True, [], {}])
def test_wrong_types_are_refused(value):
    with pytest.raises(Invalid):
        validate.text(value, "name", max_len=10)


@pytest.mark.parametrize("value", ["", " ", "\u00a0"])
def test_blank_is_refused_where_text_is_required(value):
    with pytest.raises(Invalid, match="must not be empty"):
        validate.text(value, "name", max_len=10)


def test_length_is_counted_after_normalization_and_huge_input_is_refused_early():
    assert validate.text("  " + "x" * 10 + "  ", "name", max_len=10) == "x" * 10
    with pytest.raises(Invalid, match="at most 10"):
        validate.text("x" * 11, "name", max_len=10)
    with pytest.raises(Invalid, match="too long"):
        validate.text("x" * H["sizes"]["long_question_chars"], "name", max_len=300)


def test_payload_refuses_unknown_and_missing_fields():
    assert validate.payload({"a": 1}, {"a", "b"}, {"a"}) == {"a": 1}
    with pytest.raises(Invalid, match="Unknown field: c"):
        validate.payload({"a": 1, "c": 2}, {"a"})
    with pytest.raises(Invalid, match="Missing field: a"):
        validate.payload({}, {"a"}, {"a"})
    for bad in (None, [], "x", 1):
        with pytest.raises(Invalid, match="must be an object"):
            validate.payload(bad, {"a"})


def test_identifiers_choices_integers_booleans():
    assert validate.identifier("abc-_9", "id") == "abc-_9"
    for bad in ("", "a b", "../x", "x" * 65, 5, None):
        with pytest.raises(Invalid):
            validate.identifier(bad, "id")
    assert validate.choice("hall", "where", ("hall", "remote")) == "hall"
    with pytest.raises(Invalid, match="hall, remote"):
        validate.choice("roof", "where", ("hall", "remote"))
    assert validate.integer(3, "n", lo=1, hi=5) == 3
    for bad in (True, 0, 6, 2.5, "3"):
        with pytest.raises(Invalid):
            validate.integer(bad, "n", lo=1, hi=5)
    assert validate.boolean(False, "b") is False
    with pytest.raises(Invalid):
        validate.boolean(0, "b")
