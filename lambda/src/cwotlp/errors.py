"""The two ways a delivery ends badly. Their messages are written for an operator and never carry a
credential: no secret value, token, header value or query string, and no third-party exception text
(which may quote any of them)."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """The configuration is unusable; the message says what to fix."""


class DeliveryError(Exception):
    """Data could not be delivered this time; the message says why. Lambda's retry may succeed."""


def redact(text: str, secrets: Iterable[str], limit: int = 200) -> str:
    """Text from a peer made fit for a log or an error: every secret replaced, control characters and
    runs of whitespace collapsed, cut to `limit` characters (after the replacement, so no cut can leave
    a secret's prefix behind)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
