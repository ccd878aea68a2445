"""Media types the registry understands, and the parsing of manifest bodies.

``parse_manifest`` checks that a body is what its media type says and returns
the descriptors it references, so the manifest store can check that they exist
and the garbage collector can mark them. The body itself is never re-encoded:
the registry stores and serves the exact bytes it was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf.digest import Digest
from wharf.errors import DigestInvalid, ManifestInvalid

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCTET_STREAM = "application/octet-stream"

IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_MANIFESTS | INDEXES
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

#: Content-Types that say nothing about the manifest: infer from the body instead.
_GENERIC_TYPES = frozenset({"", "application/json", OCTET_STREAM, "text/plain"})

#: Layers a registry is not expected to hold (their bytes live elsewhere, at ``urls``).
_FOREIGN_LAYER_PREFIXES = (
    "application/vnd.docker.image.rootfs.foreign.",
    "application/vnd.oci.image.layer.nondistributable.",
)

#: JSON nesting deeper than any real manifest; refusing it early bounds parser work.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None
    platform: Mapping[str, Any] | None = None

    @property
    def is_foreign(self) -> bool:
        return self.media_type.startswith(_FOREIGN_LAYER_PREFIXES)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest: its exact bytes plus what it references."""

    media_type: str
    digest: Digest
    body: bytes
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Blobs this manifest needs in its repository (config and distributable layers)."""
        wanted = [self.config] if self.config is not None else []
        wanted += [layer for layer in self.layers if not layer.is_foreign]
        return tuple(wanted)

    def referrer_artifact_type(self) -> str | None:
        """The ``artifactType`` a referrers listing shows for this manifest (spec: Listing Referrers)."""
        if self.artifact_type:
            return self.artifact_type
        if self.config is not None and not self.is_index:
            return self.config.media_type
        return None


def strip_params(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_manifest(body: bytes, *, content_type: str | None, digest: Digest | None = None) -> Manifest:
    """Validate ``body`` against its media type and return what it references.

    ``digest`` is the digest to compute (its algorithm matters); by default sha256.
    """
    document = _load_json(body)
    media_type = _media_type(document, strip_params(content_type))
    algorithm = digest.algorithm if digest is not None else "sha256"
    actual = Digest.of(body, algorithm)
    if media_type in INDEXES:
        return _parse_index(document, media_type=media_type, digest=actual, body=body)
    return _parse_image(document, media_type=media_type, digest=actual, body=body)


def _load_json(body: bytes) -> dict[str, Any]:
    if _too_deep(body):
        raise ManifestInvalid(f"manifest JSON nests deeper than {MAX_DEPTH} levels")
    try:
        # UTF-8 only (RFC 8259, 8.1): ``json.loads`` would take UTF-16 and UTF-32
        # bytes too, which no other registry or client reads as a manifest.
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return document


def _too_deep(body: bytes) -> bool:
    """Cheap pre-check on brackets (ignoring strings) so ``json.loads`` never recurses far."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _media_type(document: Mapping[str, Any], content_type: str) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    # ``type() is int``: JSON true/false and 2.0 are not schema versions (True == 1 in Python).
    version = document.get("schemaVersion")
    version = version if type(version) is int else None
    if version == 1 or content_type in SCHEMA1_TYPES or declared in SCHEMA1_TYPES:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported: push with a current client (schema2 or OCI)"
        )
    if content_type not in _GENERIC_TYPES:
        if declared and declared != content_type:
            raise ManifestInvalid(f"mediaType {declared!r} does not match Content-Type {content_type!r}")
        media_type = content_type
    else:
        media_type = declared or (OCI_INDEX if "manifests" in document else OCI_MANIFEST)
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type!r}")
    if version != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    return media_type


def _parse_image(document: Mapping[str, Any], *, media_type: str, digest: Digest, body: bytes) -> Manifest:
    if "manifests" in document:
        raise ManifestInvalid(f"{media_type} must not have a manifests field")
    config = _descriptor(document.get("config"), "config")
    layers = _descriptors(document.get("layers", []), "layers")
    return Manifest(
        media_type=media_type,
        digest=digest,
        body=body,
        config=config,
        layers=layers,
        subject=_optional_descriptor(document, "subject"),
        artifact_type=_optional_str(document, "artifactType"),
        annotations=_annotations(document.get("annotations"), "annotations"),
    )


def _parse_index(document: Mapping[str, Any], *, media_type: str, digest: Digest, body: bytes) -> Manifest:
    if "config" in document or "layers" in document:
        raise ManifestInvalid(f"{media_type} must not have config or layers fields")
    manifests = _descriptors(document.get("manifests"), "manifests")
    return Manifest(
        media_type=media_type,
        digest=digest,
        body=body,
        manifests=manifests,
        subject=_optional_descriptor(document, "subject"),
        artifact_type=_optional_str(document, "artifactType"),
        annotations=_annotations(document.get("annotations"), "annotations"),
    )


def _descriptors(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be a list of descriptors")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _optional_descriptor(document: Mapping[str, Any], key: str) -> Descriptor | None:
    value = document.get(key)
    return None if value is None else _descriptor(value, key)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type, size, digest = value.get("mediaType"), value.get("size"), value.get("digest")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        parsed = Digest.parse(digest)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest: {exc.detail}") from None
    platform = value.get("platform")
    return Descriptor(
        media_type=media_type,
        digest=parsed,
        size=size,
        artifact_type=_optional_str(value, "artifactType"),
        annotations=_annotations(value.get("annotations"), f"{where}.annotations") or None,
        platform=platform if isinstance(platform, dict) else None,
    )


def _optional_str(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid(f"{key} must be a string")
    return value or None


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid(f"{where} must be a map of strings")
    return value
