"""Domain errors. Each carries a stable id and an English message template (a catalog msgid);
the web layer translates it, so the domain core stays free of locale and HTTP."""

from __future__ import annotations

from collections.abc import Mapping


def N_(message: str) -> str:
    """Mark a string for extraction into the message catalog without translating it here."""
    return message


class DomainError(Exception):
    """Something a person asked for cannot be done; ``message % params`` says why."""

    error_id = "domain_error"

    def __init__(self, message: str, params: Mapping[str, object] | None = None) -> None:
        self.message = message
        self.params = dict(params or {})
        super().__init__(message % self.params if self.params else message)


class NotFound(DomainError):
    error_id = "not_found"


class BadRequest(DomainError):
    """An address or query parameter that cannot be used (an out-of-range date, say)."""

    error_id = "bad_request"


class PermissionDenied(DomainError):
    error_id = "permission_denied"


# A field's further messages, as [(message id, params), …] inside that field's parameters.
MORE_ERRORS = "more"


class InvalidInput(DomainError):
    """Form-level validation failed; ``field_errors`` maps field names to messages."""

    error_id = "invalid_input"

    def __init__(
        self,
        field_errors: Mapping[str, str],
        field_params: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.field_errors = dict(field_errors)
        self.field_params = {k: dict(v) for k, v in (field_params or {}).items()}
        super().__init__(N_("Please correct the highlighted fields."))


class TransitionRefused(DomainError):
    error_id = "transition_refused"


class Conflict(DomainError):
    error_id = "conflict"
