"""engine.bounded_json: what it refuses, how it names the place, and what it leaves alone."""

from __future__ import annotations

import json

import pytest

from engine.bounded_json import MAX_DEPTH, InvalidJSON, decode, decode_payload


def refusal(data: bytes | str, **limits: int) -> str:
    with pytest.raises(InvalidJSON) as info:
        decode(data.encode() if isinstance(data, str) else data, **limits)
    return str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        {"pipeline": "hello", "data": {"name": "Ada", "n": 3, "ok": True, "none": None}},
        {"emoji": "\U0001f600", "accents": "éàü", "cjk": "漢字", "nul": "\u0000"},
        [1.5, -2, 10**30, 1e300, "", [], {}],
        "just a string",
    ],
)
def test_ordinary_json_decodes_as_json_loads_does(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert decode(text.encode()) == json.loads(text)


def test_a_surrogate_pair_is_one_character_not_a_lone_surrogate() -> None:
    assert decode(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_lone_surrogates_are_named_by_path() -> None:
    assert refusal('{"data": {"name": "\\ud800"}}') == "lone surrogate in $.data.name"
    assert refusal('{"r": [{"x": 1}, {"n": "a\\udfffb"}]}') == "lone surrogate in $.r[1].n"
    assert refusal('{"odd key": ["\\udc00"]}') == "lone surrogate in $['odd key'][0]"
    assert refusal('{"d": {"\\ud800": 1}}') == "lone surrogate in a key of $.d"
    # A backslash before the escape makes it plain text, not a surrogate.
    assert decode(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_depth_is_bounded_and_the_path_says_where() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert decode(ok.encode()) is not None
    deep = '{"data": ' + '{"a": ' * 3000 + "1" + "}" * 3001
    message = refusal(deep)
    assert message.startswith("nesting deeper than 64 at $.data.a.a.a.a.a...(")
    assert message.endswith(".a.a")
    assert refusal("[" * 65 + "]" * 65).startswith("nesting deeper than 64 at $[0][0]")
    # Brackets inside strings are text, not nesting.
    assert decode(json.dumps({"s": "[" * 500}).encode()) == {"s": "[" * 500}


def test_the_depth_check_does_not_recurse() -> None:
    """A million brackets: refused by the scan, never handed to a recursive parser."""
    assert refusal("[" * 1_000_000).startswith("nesting deeper than 64")


def test_size_utf8_numbers_constants_and_duplicates() -> None:
    assert refusal(b" " * 11 + b"1", max_bytes=10) == "12 bytes, more than the limit of 10"
    assert refusal(b'{"a": "\xff"}') == "invalid UTF-8 at byte 7"
    assert refusal(b'"\xed\xa0\x80"') == "invalid UTF-8 at byte 1"  # a surrogate, raw
    assert refusal("1" * 101) == "a number of 101 digits (the limit is 100)"
    assert refusal("1e999") == "number 1e999 is out of range"
    assert refusal('{"a": NaN}') == "NaN is not a JSON value"
    assert refusal('{"a": 1, "a": 2}') == "duplicate key 'a'"
    assert refusal('{"a": ').startswith("not JSON: Expecting value at line 1 column 7")


def test_payload_encodings() -> None:
    assert decode_payload("binary/null", b"") is None
    assert decode_payload("json/plain", b'{"a": 1}') == {"a": 1}
    with pytest.raises(InvalidJSON, match="'binary/encrypted' is not json/plain .*encryption"):
        decode_payload("binary/encrypted", b"...")
    with pytest.raises(InvalidJSON, match="'none' is not json/plain"):
        decode_payload("", b"{}")


def test_brackets_that_do_not_pair_are_still_depth() -> None:
    """The parser recurses on every open bracket before it notices a wrong close."""
    assert refusal("[" * 3000 + "}").startswith("nesting deeper than 64")
    assert refusal("[}" * 100).startswith("not JSON")
