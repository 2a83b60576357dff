"""Errors the use-cases raise; the HTTP layer renders them in one place.

Each carries a status code and a client-safe message. Anything else that escapes a
request is a bug: it is logged with its traceback and answered with a bare 500.

    ShoalError                    status, message (shown to the client)
    ├── BadRequest          400
    ├── Unauthorized        401
    ├── Forbidden           403
    ├── NotFound            404
    ├── Gone                410
    ├── Conflict            409
    ├── PayloadTooLarge     413
    ├── Unprocessable       422
    └── RateLimited         429   retry_after seconds
"""

from __future__ import annotations


class ShoalError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ShoalError):
    status = 400


class Unauthorized(ShoalError):
    status = 401


class Forbidden(ShoalError):
    status = 403


class NotFound(ShoalError):
    status = 404


class Conflict(ShoalError):
    status = 409


class Gone(ShoalError):
    status = 410


class PayloadTooLarge(ShoalError):
    status = 413


class Unprocessable(ShoalError):
    status = 422


class RateLimited(ShoalError):
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
