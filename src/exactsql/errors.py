"""Errors a user can act on: each says what went wrong and what to do next."""

from __future__ import annotations


class ExactSQLError(Exception):
    """Base of exactsql's errors; ``hint`` says what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigError(ExactSQLError):
    """A connection or setting is missing or wrong."""


class LoginError(ExactSQLError):
    """The authorization-code flow failed."""


class ChainBrokenError(ExactSQLError):
    """The token chain can no longer be refreshed; only a new login helps."""


class TokenBudgetError(ExactSQLError):
    """Today's token-endpoint calls for this app and user are used up."""


class RateLimitError(ExactSQLError):
    """A rate window is used up (the daily one; minute windows are waited for)."""


class ErrorBudgetError(ExactSQLError):
    """Too many error responses for one endpoint this hour; calls are refused until it ends."""


class ApiError(ExactSQLError):
    """Exact Online answered with an error."""

    def __init__(self, status: int, message: str, endpoint: str, hint: str = "") -> None:
        super().__init__(f"Exact Online answered {status} on {endpoint}: {message}", hint)
        self.status = status
        self.endpoint = endpoint
