"""The registry's error hierarchy: one class per OCI Distribution error code.

Each class carries its own code, HTTP status and message, so no handler ever
picks a status: the API layer turns any ``RegistryError`` into the OCI error
envelope ``{"errors": [{"code", "message", "detail"}]}`` in one place
(``wharf.api.responses``). Anything that is not a ``RegistryError`` is a bug
and becomes a logged ``UNKNOWN`` 500.

    RegistryError (UNKNOWN, 500)
    ├── BlobUnknown            BLOB_UNKNOWN           404
    ├── BlobUploadInvalid      BLOB_UPLOAD_INVALID    400
    ├── BlobUploadUnknown      BLOB_UPLOAD_UNKNOWN    404
    ├── DigestInvalid          DIGEST_INVALID         400
    ├── ManifestBlobUnknown    MANIFEST_BLOB_UNKNOWN  400
    ├── ManifestInvalid        MANIFEST_INVALID       400
    │   └── ManifestTooLarge   MANIFEST_INVALID       413
    ├── ManifestUnknown        MANIFEST_UNKNOWN       404
    ├── NameInvalid            NAME_INVALID           400
    ├── NameUnknown            NAME_UNKNOWN           404
    ├── SizeInvalid            SIZE_INVALID           400
    ├── TagInvalid             TAG_INVALID            400
    ├── Unauthorized           UNAUTHORIZED           401
    ├── Denied                 DENIED                 403
    ├── Unsupported            UNSUPPORTED            405
    ├── TooManyRequests        TOOMANYREQUESTS        429
    ├── RangeInvalid           RANGE_INVALID          416
    ├── PaginationInvalid      PAGINATION_NUMBER_INVALID 400
    ├── InsufficientStorage    UNKNOWN                507
    └── Unavailable            UNAVAILABLE            503
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "Denied",
    "DigestInvalid",
    "InsufficientStorage",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestTooLarge",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "PaginationInvalid",
    "RangeInvalid",
    "RegistryError",
    "SizeInvalid",
    "TagInvalid",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
]


class RegistryError(Exception):
    """Base of every error a client can be told about."""

    code: ClassVar[str] = "UNKNOWN"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "unknown error"

    def __init__(
        self, detail: Any = None, *, message: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.detail = detail
        self.text = message or self.message
        #: response headers the error needs (``Content-Range`` on a 416, ``Retry-After`` on a 429)
        self.headers = headers or {}
        super().__init__(self.text if detail is None else f"{self.text}: {detail}")

    def to_dict(self) -> dict[str, Any]:
        """One entry of the OCI error envelope."""
        entry: dict[str, Any] = {"code": self.code, "message": self.text}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = "DIGEST_INVALID", 400, "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    code, status, message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    status, message = 413, "manifest too large"


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class TagInvalid(RegistryError):
    code, status, message = "TAG_INVALID", 400, "manifest tag did not match URI"


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


class RangeInvalid(RegistryError):
    """A ``Content-Range`` or ``Range`` that does not fit (out of order, overlapping, out of bounds)."""

    code, status, message = "RANGE_INVALID", 416, "requested range not satisfiable"


class PaginationInvalid(RegistryError):
    code, status, message = "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"


class InsufficientStorage(RegistryError):
    """The storage is full: the write failed and left nothing half-written behind."""

    code, status, message = "UNKNOWN", 507, "insufficient storage: the registry's storage is full"


class Unavailable(RegistryError):
    code, status, message = "UNAVAILABLE", 503, "service unavailable"
