"""Redaction: what every message quoting a peer goes through before it reaches a log or an error."""

from __future__ import annotations

from cwotlp.errors import redact


def test_redaction_replaces_every_secret_longest_first() -> None:
    text = "token abc123-long and its prefix abc123 and the key k3y"
    assert (
        redact(text, {"abc123", "abc123-long", "k3y", ""}) == "token *** and its prefix *** and the key ***"
    )


def test_redaction_collapses_control_characters_and_whitespace() -> None:
    assert redact("line one\r\n\tline\x00two\x1b[31m  three", set()) == "line one line two [31m three"


def test_redaction_cuts_after_replacing_so_no_secret_prefix_is_left() -> None:
    secret = "S" * 50
    text = "x" * 180 + secret + "y" * 100
    out = redact(text, {secret}, limit=200)
    assert out == "x" * 180 + "***" + "y" * 16 + "…"
    assert len(out) == 200
    assert "SSSS" not in redact("x" * 190 + secret, {secret}, limit=200)


def test_redaction_replaces_a_secret_as_json_encoders_escape_it() -> None:
    secret = 'k/ey&<x>"Ω'
    echoes = [
        'k/ey&<x>\\"\\u03a9',  # Python's json.dumps
        'k/ey&<x>\\"Ω',  # non-ASCII kept
        'k\\/ey&<x>\\"\\u03a9',  # PHP escapes the slash
        'k/ey\\u0026\\u003cx\\u003e\\"\\u03a9',  # Go escapes &, < and >
    ]
    for echo in echoes:
        assert redact('{"error":"key ' + echo + ' revoked"}', {secret}) == '{"error":"key *** revoked"}'


KEY = "pk-4f9a2c71-Zq8d-Kx7w-credential"


def test_redaction_withholds_a_secret_in_other_letter_case() -> None:
    for echo in (KEY.upper(), KEY.lower(), KEY.swapcase()):
        assert redact(f"key {echo} revoked", {KEY}) == "(withheld: it quoted a credential)"


def test_redaction_withholds_a_part_of_a_secret_from_twelve_characters() -> None:
    for start in range(len(KEY) - 12 + 1):
        part = KEY[start : start + 12]
        assert redact(f"key starting {part}... revoked", {KEY}) == "(withheld: it quoted a credential)", part
    shown = redact(f"key starting {KEY[:11]}... revoked", {KEY})
    assert shown == f"key starting {KEY[:11]}... revoked"


def test_redaction_withholds_a_part_of_a_secret_url_encoded() -> None:
    assert redact("key pk-4f9a2c71%2DZq8d revoked", {KEY}) == "(withheld: it quoted a credential)"


def test_redaction_leaves_short_secrets_in_other_case_alone() -> None:
    assert redact("the K3Y header and ABC123", {"k3y", "abc123"}) == "the K3Y header and ABC123"
