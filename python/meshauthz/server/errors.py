"""The Kuma error body (S3.1) and the exceptions the handlers raise to produce it."""

from __future__ import annotations

from typing import Any, Optional, Sequence

Param = tuple[str, str]  # (field, reason)


class ApiError(Exception):
    """An answer with a non-2xx status and the S3.1 body."""

    def __init__(self, status: int, title: str, detail: str, params: Sequence[Param] = ()) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.params = list(params)

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.title, self.detail, self.params)


def error_body(status: int, title: str, detail: str, params: Sequence[Param] = ()) -> dict[str, Any]:
    """S3.1: `type`, `status`, `title`, `detail`, `invalid_parameters` (omitted if empty), `details`
    (= detail), `causes` (same items, omitted if empty); no `instance`."""
    body: dict[str, Any] = {"type": "/std-errors", "status": status, "title": title, "detail": detail}
    if params:
        body["invalid_parameters"] = [{"field": f, "reason": r} for f, r in params]
    body["details"] = detail
    if params:
        body["causes"] = [{"field": f, "message": r} for f, r in params]
    return body


def not_found(title: str) -> ApiError:
    return ApiError(404, title, "Not found")


def invalid(title: str, params: Sequence[Param], detail: str = "Resource is not valid") -> ApiError:
    return ApiError(400, title, detail, params)


def unauthenticated() -> ApiError:
    """S3.3 / R8.7: the cause is logged, never returned."""
    return ApiError(401, "Invalid authentication data", "Unauthenticated")


def access_denied(reason: Optional[str]) -> ApiError:
    """S3.2: title always `Access Denied`, detail = the R8.2 / R8.6 reason."""
    return ApiError(403, "Access Denied", reason or "access denied")
