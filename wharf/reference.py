"""Repository names and tags: validated value types, parsed once at the edge.

The grammars are the OCI Distribution spec's ("Pulling manifests"):
name ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*``
and tag ``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``. A name that matches can contain
no ``..``, no empty component and no absolute path, so it is safe to join
under the storage root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharf.digest import Digest
from wharf.errors import NameInvalid, TagInvalid

__all__ = ["MAX_NAME_LENGTH", "Reference", "RepositoryName", "Tag"]

#: distribution's limit on the length of a repository name
MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True, order=True)
class RepositoryName:
    value: str

    @classmethod
    def parse(cls, text: str) -> RepositoryName:
        if len(text) > MAX_NAME_LENGTH:
            raise NameInvalid(f"repository name longer than {MAX_NAME_LENGTH} characters")
        if not _NAME.fullmatch(text):
            raise NameInvalid(f"invalid repository name {text[:300]!r}")
        return cls(text)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, order=True)
class Tag:
    value: str

    @classmethod
    def parse(cls, text: str) -> Tag:
        if not _TAG.fullmatch(text):
            raise TagInvalid(f"invalid tag {text[:300]!r}", message="invalid tag")
        return cls(text)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Reference:
    """The ``<reference>`` of a manifest URL: exactly one of a tag or a digest."""

    tag: Tag | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if Digest.is_digest(text):
            return cls(digest=Digest.parse(text))
        return cls(tag=Tag.parse(text))

    def __str__(self) -> str:
        return str(self.digest if self.digest is not None else self.tag)
