"""What the secret says about where requests go and what they carry, checked when it is read: URLs
(https, plain http only by explicit opt-in, a host, a valid port, no user info), header names and
values, and the text of the other fields. Errors name the setting, never its value: a path or query
may hold a key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from cwotlp.errors import ConfigError

_HEADER_NAME_CHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_HEADER_NAME = re.compile(_HEADER_NAME_CHARS + "+")
_HEADER_NAME_START = re.compile(_HEADER_NAME_CHARS + "*")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")


@dataclass(frozen=True)
class Url:
    """A validated http(s) URL, split into what the connection and the request line need."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent on the request line

    @classmethod
    def parse(cls, text: str, what: str, *, allow_http: bool = False, default_path: str = "/") -> Url:
        """`what` names the setting in errors ("the secret's field 'endpoint'"); the URL itself is never
        quoted, since its path or query may carry a key."""
        if not visible(text) or any(c.isspace() for c in text):
            raise ConfigError(f"{what} contains spaces or control characters")
        try:
            parts = urlsplit(text)
            host = parts.hostname
        except ValueError:  # brackets that do not hold an IPv6 address; the message quotes the host
            raise ConfigError(f"{what} has a host in brackets that is not an IPv6 address") from None
        if parts.scheme not in ("https", "http") or not host:
            raise ConfigError(f"{what} must be an https:// URL with a host")
        if parts.scheme == "http" and not allow_http:
            raise ConfigError(
                f"{what} is plain http, which would send credentials and metrics unencrypted; use https, "
                "or set allow_http to true in the secret to accept that on a trusted network"
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"{what} must not carry a user or password; put credentials in their fields")
        try:
            port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"{what} has a port that is not a number from 1 to 65535") from None
        if not 0 < port < 65536:
            raise ConfigError(f"{what} has a port that is not a number from 1 to 65535")
        path = parts.path if parts.path not in ("", "/") else default_path
        target = path + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, target)

    @property
    def origin(self) -> str:
        """scheme://host[:port], the only part of a URL that messages show."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def visible(text: str) -> bool:
    """Whether a setting holds no control, format, surrogate or private-use character and no separator
    but the space: Unicode categories C and Z, as `plan` checks them with `\\p{C}` and `\\p{Z}`.
    Unassigned code points pass, as they do at plan: which are unassigned depends on the Unicode version
    of each Python (a character new in Unicode 15 is unassigned to Python 3.11, not to 3.13)."""
    return text.isprintable() or all(
        char == " " or (category := unicodedata.category(char)) == "Cn" or category[0] not in "CZ"
        for char in text
    )


def check_header(name: str, value: str, what: str) -> None:
    """A header must be sendable as is; the error names the header, never its value."""
    if not _HEADER_NAME.fullmatch(name):  # shown up to its first invalid character, where a value may start
        shown = _HEADER_NAME_START.match(name).group()[:40]  # type: ignore[union-attr]
        raise ConfigError(f"{what}: the header name {shown!r}... is not a valid HTTP header name")
    if not _HEADER_VALUE.fullmatch(value) or value != value.strip():
        raise ConfigError(
            f"{what}: the value of header {name!r} has a line break, a control or non-ASCII character, "
            "or leading or trailing spaces"
        )
