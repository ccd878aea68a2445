"""Content digests (``algorithm:encoded``), parsed once at the edge and never re-parsed.

The grammar is the OCI image spec's (descriptor.md, "Digests"). wharf computes
and stores the registered algorithms, sha256 and sha512; a digest that is
well formed but names another algorithm is refused with ``DIGEST_INVALID``
(``UNSUPPORTED`` would suggest the request could work elsewhere on this
registry; it can't). Because the encoded part of a registered algorithm is
fixed-length lower-case hex, a parsed ``Digest`` is always safe to use as a
path component.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from wharf.errors import DigestInvalid

__all__ = ["ALGORITHMS", "Digest", "Hasher", "new_hasher"]

#: algorithm name -> length of its hex encoding
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_LOWER_HEX = re.compile(r"[0-9a-f]*")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated content digest of a registered algorithm."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``text`` or raise ``DigestInvalid`` saying what is wrong with it."""
        if len(text) > 256 or not _GRAMMAR.fullmatch(text):
            raise DigestInvalid(f"invalid digest {text[:300]!r}", message="invalid digest")
        algorithm, encoded = text.split(":", 1)
        length = ALGORITHMS.get(algorithm)
        if length is None:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}", message="invalid digest")
        if len(encoded) != length or not _is_lower_hex(encoded):
            raise DigestInvalid(
                f"{algorithm} digest must be {length} lower-case hex characters", message="invalid digest"
            )
        return cls(algorithm, encoded)

    @classmethod
    def is_digest(cls, text: str) -> bool:
        """True when ``text`` has the shape of a digest (it contains ``:``), valid or not."""
        return ":" in text

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    def hasher(self) -> Hasher:
        """A fresh hasher of this digest's algorithm."""
        return new_hasher(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def new_hasher(algorithm: str = "sha256") -> Hasher:
    if algorithm not in ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}", message="invalid digest")
    return hashlib.new(algorithm)


def _is_lower_hex(text: str) -> bool:
    # a compiled pattern: the garbage collector parses tens of thousands of digests
    return _LOWER_HEX.fullmatch(text) is not None
