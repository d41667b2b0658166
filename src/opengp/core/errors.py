"""Every error opengp raises on purpose, in one tree.

    OpenGPError
    ├── NotFound                 unknown service, task, job, parameter
    ├── InvalidInput             a request value is missing, malformed or of the wrong type
    │   └── RequestTooLarge      the request body passes the configured limit
    ├── NotAllowed               the operation does not apply (execute on an async service, ...)
    │   └── MethodNotAllowed     the resource does not take this HTTP method
    ├── Conflict                 the job is not in a state that allows the operation
    ├── Unavailable              the service is stopped (or being changed) and takes no new jobs
    │   └── FileStoreError       the object store holding job files failed (runtime/storage.py)
    ├── TokenRequired            the resource needs a token and none was sent
    ├── InvalidToken             the token is malformed, forged, expired, revoked or misused
    ├── Forbidden                the caller is known but may not do this
    ├── TooManyAttempts          failed logins are being throttled
    └── StoreError               the job store failed (driver errors are translated into this)

Each face maps each class to one error code of its dialect (see
``opengp.api.kit.errors``, one table with a column per dialect); handlers never
build error bodies by hand.
"""
from __future__ import annotations


class OpenGPError(Exception):
    """Base class; ``message`` is for people, ``details`` lists specifics."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(OpenGPError):
    pass


class InvalidInput(OpenGPError):
    pass


class RequestTooLarge(InvalidInput):
    pass


class NotAllowed(OpenGPError):
    pass


class MethodNotAllowed(NotAllowed):
    pass


class Conflict(OpenGPError):
    pass


class Unavailable(OpenGPError):
    pass


class FileStoreError(Unavailable):
    """Object storage (``files_url = "s3://..."``) refused or could not be reached; botocore's
    errors are translated into this where they enter (``runtime/storage.py``)."""


class StoreError(OpenGPError):
    pass


class StoreUnavailable(StoreError):
    """The job store could not be reached or was busy (a restart, a failover, a lock): the same
    write may well succeed later.  Other StoreErrors are refusals, the same every time."""


class TokenRequired(OpenGPError):
    pass


class InvalidToken(OpenGPError):
    pass


class Forbidden(OpenGPError):
    pass


class TooManyAttempts(OpenGPError):
    pass
