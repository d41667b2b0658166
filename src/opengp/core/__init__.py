"""Job, status, messages, progress, transitions, users and errors: no I/O here."""
from __future__ import annotations

from .errors import (
    Conflict, FileStoreError, Forbidden, InvalidInput, InvalidToken, MethodNotAllowed, NotAllowed, NotFound, OpenGPError, RequestTooLarge, StoreError,
    StoreUnavailable, TokenRequired, TooManyAttempts, Unavailable,
)
from .job import Job, Kind, Level, Message, Progress, Stored, new_job_id
from .messages import ShowMessages
from .status import TERMINAL, Status, can_move
from .user import ROLES, User, check_roles, check_username, folded_username, is_username

__all__ = [
    "Conflict", "FileStoreError", "InvalidInput", "Job", "Kind", "Level", "Message", "MethodNotAllowed", "NotAllowed", "NotFound",
    "OpenGPError", "Progress", "RequestTooLarge", "ShowMessages", "Status", "Stored", "StoreError", "StoreUnavailable", "TERMINAL", "can_move",
    "new_job_id", "Forbidden", "InvalidToken", "TokenRequired", "TooManyAttempts", "Unavailable", "ROLES", "User", "check_roles", "check_username", "folded_username", "is_username",
]
