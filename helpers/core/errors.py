"""Errors the helpers raise: one small tree, each message naming the thing, the value and what was expected.

KitError
├── ConfigError             a setting is missing or malformed (names the variable and the value)
├── KeyFileError            the agent's key file is missing, readable by others, or not a usable key
├── InsecureTransportError  a token would travel over plain http to a host that is not loopback
├── UnreachableError        the server did not answer (connection refused, timeout): names the URL
├── TLSError                the server's TLS certificate is not trusted (names the setting), or TLS failed
├── DiscoveryError          metadata could not be read, or its "issuer" is not the one asked for
├── ResponseError           the server answered, but not as the spec requires (HTML, missing fields)
│   └── OAuthError          the server answered with an OAuth error body (RFC 6749 §5.2)
├── TokenValidationError    a token failed one of its checks (claim, expected, received)
├── SignInError             the user's sign-in did not complete (timeout, state mismatch, error redirect)
├── SessionError            an earlier phase's result is missing or expired (names the notebook to run)
└── LocalSandboxError       the person's own sandbox could not start, or the one answering is not theirs
"""

from __future__ import annotations

from typing import Any


class KitError(Exception):
    """Base class of every error the helpers raise on purpose."""


class ConfigError(KitError):
    """A setting is missing or malformed. `problems` lists one line per bad variable."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class KeyFileError(KitError):
    """The agent's key file is missing, unsafe, or not a usable key."""


class InsecureTransportError(KitError):
    """A token or credential would be sent over plain http to a non-loopback host."""


class UnreachableError(KitError):
    """The server did not answer at all (connection refused, DNS failure, timeout)."""


class TLSError(KitError):
    """TLS with the server failed: its certificate is not trusted, names another host, or has expired.

    `reason` is one of "not trusted", "hostname mismatch", "expired", "not yet valid", "handshake
    failed", or OpenSSL's own words for another verification failure.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DiscoveryError(KitError):
    """Authorization server metadata is unreadable or names another issuer."""


class ResponseError(KitError):
    """A response that does not have the shape the spec requires.

    Attributes:
        status: the HTTP status code, when there was a response.
        exchange: the recorded request/response (see `helpers.core.transport.Exchange`), when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None, exchange: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.exchange = exchange


class OAuthError(ResponseError):
    """An OAuth error response: keeps `error`, `error_description`, the status and the exchange."""

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        status: int | None = None,
        exchange: Any = None,
        where: str | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.where = where
        text = f"{where + ': ' if where else ''}HTTP {status} {error}"
        if error_description:
            text += f": {error_description}"
        super().__init__(text, status=status, exchange=exchange)


class TokenValidationError(KitError):
    """A token failed a check. Keeps the check's name and the expected and received values."""

    def __init__(
        self, message: str, *, check: str | None = None, expected: Any = None, received: Any = None
    ) -> None:
        super().__init__(message)
        self.check = check
        self.expected = expected
        self.received = received


class SignInError(KitError):
    """The user's sign-in did not complete. An error redirect keeps Okta's `error` and `error_description`."""

    def __init__(
        self, message: str, *, error: str | None = None, error_description: str | None = None
    ) -> None:
        super().__init__(message)
        self.error = error
        self.error_description = error_description


class SessionError(KitError):
    """A result from an earlier phase is missing or expired."""


class LocalSandboxError(KitError):
    """The person's own sandbox could not start, or the sandbox answering at the org URL is not theirs."""


def field_problem(name: str, value: Any, expected: str) -> str:
    """`OKTA_ORG_URL is "x", expected a URL`: the field, the value found and the value expected."""
    return f'{name} is "{value}", expected {expected}'
