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


class StoreError(ExactSQLError):
    """The state store cannot be opened, reached or used."""


class StoreURLError(StoreError, ValueError):
    """The state store URL is malformed or of an unsupported kind (also a ValueError, as before)."""


class ReplicaError(ExactSQLError):
    """A replica database cannot be opened, reached or used."""


class NetworkError(ExactSQLError):
    """Exact Online (or a sandbox server) cannot be reached."""


class FileError(ExactSQLError):
    """A file cannot be read or written: missing, a directory, the disk full, a size limit."""

    @classmethod
    def from_os_error(cls, exc: OSError, what: str, path: object = None) -> FileError:
        """An error for ``exc`` while doing ``what`` (e.g. "write the result to"), with a hint by its cause."""
        where = path if path is not None else exc.filename
        reason = (exc.strerror or str(exc)).rstrip(".")
        return cls(f"Cannot {what} {where}: {reason}.", os_error_hint(exc))


def os_errno(exc: OSError) -> int:
    """The errno of ``exc``, also when a library gave it only in the text (``[errno 28] …``)."""
    import re

    if exc.errno:
        return exc.errno
    found = re.search(r"errno (\d+)", str(exc), re.IGNORECASE)
    return int(found.group(1)) if found else 0


def os_error_hint(exc: OSError) -> str:
    """What to do about a failed file operation, by its cause."""
    import errno

    hints = {
        errno.ENOSPC: "The disk is full: free some space or write elsewhere.",
        errno.EDQUOT: "The disk quota is used up: free some space or write elsewhere.",
        errno.EFBIG: "The file would exceed the size limit of this process (ulimit -f) or file system: "
        "raise the limit or write elsewhere.",
        errno.EISDIR: "That is a directory: give a file name.",
        errno.ENOTDIR: "A part of the path is a file, not a directory: check the path.",
        errno.ENOENT: "A directory of the path does not exist: create it or check the path.",
        errno.EACCES: "Permission denied: check the file's owner and mode, or write elsewhere.",
        errno.EPERM: "Not permitted: check the file's owner and mode, or write elsewhere.",
        errno.EROFS: "The file system is read-only: write elsewhere.",
        errno.ELOOP: "The path is a symbolic link, which exactsql does not follow for its own files.",
        errno.EEXIST: "Something else already exists there: check the path.",
    }
    return hints.get(os_errno(exc), "Check the path, the disk and the permissions.")


def advice(exc: Exception) -> str:
    """What to do next after an error of Exact Online that came without advice (the command line and the
    PostgreSQL front door give the same)."""
    if not isinstance(exc, ApiError):
        return ""
    return {
        400: "Check the path and the query options (-q); `exactsql explain` shows what a query sends.",
        401: "Log in again: exactsql login CONNECTION.",
        403: 'The user has no access there: `exactsql query "select code from systemdivisions"` lists the divisions.',
        404: "Check the path: service/Entity as in Exact's REST API, e.g. crm/Accounts.",
    }.get(exc.status, "Try again later; if it persists, check Exact Online's status.")
