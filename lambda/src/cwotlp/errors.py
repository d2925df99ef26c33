"""The two ways a delivery ends badly. Their messages are written for an operator and never carry a
credential: no secret value, token, header value or query string, and no third-party exception text
(which may quote any of them)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus


class ConfigError(Exception):
    """The configuration is unusable; the message says what to fix."""


class DeliveryError(Exception):
    """Data could not be delivered this time; the message says why. Lambda's retry may succeed."""


PART_CHARS = 12  # this many consecutive characters of a secret, in any case, are a secret's part
WHOLE_CHARS = 8  # a secret at least this long is looked for in any case too


def redact(text: str, secrets: Iterable[str], limit: int = 200) -> str:
    """Text from a peer made fit for a log or an error: every secret replaced, as it is and as JSON
    encoders escape it; control characters and runs of whitespace collapsed; cut to `limit` characters
    (after the replacement, so no cut can leave a secret's prefix behind). A text that still holds a
    secret once URL-decoded (however a peer chose to encode it), a secret of WHOLE_CHARS or more in
    other letter case, or PART_CHARS consecutive characters of one (a peer that quotes the start of a
    key) is withheld whole. Give it the whole text: a cut made before it could leave a secret's prefix."""
    given = {secret for secret in secrets if secret}
    found = {form for secret in given for form in _json_forms(secret)}
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "***")
    decoded = (unquote(text), unquote_plus(text))
    if any(secret in form for form in decoded for secret in found) or _quotes_a_part((text, *decoded), given):
        return "(withheld: it quoted a credential)"
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quotes_a_part(texts: tuple[str, ...], secrets: set[str]) -> bool:
    """Whether a text holds a secret of WHOLE_CHARS or more in any letter case, or PART_CHARS
    consecutive characters of one. The texts' windows are looked up among the secrets' (a set), so the
    cost grows with the lengths of the texts and of the secrets, not with their product: a peer's answer
    is up to 64 KiB and a token up to 16 KiB."""
    parts: dict[int, set[str]] = {}  # window width -> the secrets' windows of that width
    for secret in secrets:
        if len(secret) >= WHOLE_CHARS:
            width = min(len(secret), PART_CHARS)
            lowered = secret.lower()
            parts.setdefault(width, set()).update(
                lowered[i : i + width] for i in range(len(lowered) - width + 1)
            )
    for text in {text.lower() for text in texts}:
        for width, windows in parts.items():
            if not windows.isdisjoint(text[i : i + width] for i in range(len(text) - width + 1)):
                return True
    return False


def _json_forms(secret: str) -> set[str]:
    """A secret and the ways JSON encoders write it inside a string: escaped as Python does, with
    non-ASCII kept (most encoders), with `/` escaped (PHP), with `&`, `<` and `>` escaped (Go)."""
    import json

    ascii_escaped = json.dumps(secret)[1:-1]
    html_safe = ascii_escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return {
        secret,
        ascii_escaped,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        ascii_escaped.replace("/", "\\/"),
        html_safe,
    }
