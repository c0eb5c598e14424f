"""The one error vocabulary of the wire: typed exceptions and the two ack helpers."""

from __future__ import annotations

from typing import Any

# The fixed list of error codes a client can receive (docs/protocol.md).
CODES = (
    "invalid",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limited",
    "unavailable",
    "internal",
)

HTTP_STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}


class PodiumError(Exception):
    """An expected failure with a code from CODES and a message fit for a person."""

    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The wire form: {"code", "message"} plus any details (e.g. a field name)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        out.update(self.details)
        return out


class Invalid(PodiumError):
    code = "invalid"


class Unauthorized(PodiumError):
    code = "unauthorized"


class Forbidden(PodiumError):
    code = "forbidden"


class NotFound(PodiumError):
    code = "not_found"


class Conflict(PodiumError):
    code = "conflict"


class RateLimited(PodiumError):
    code = "rate_limited"


class Unavailable(PodiumError):
    code = "unavailable"


def ok(**payload: Any) -> dict[str, Any]:
    """A successful ack."""
    return {"ok": True, **payload}


def error(code: str, message: str, **details: Any) -> dict[str, Any]:
    """A failed ack with a code from CODES."""
    assert code in CODES, code
    return {"ok": False, "error": {"code": code, "message": message, **details}}
