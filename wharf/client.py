"""A client for a running registry's HTTP API: what ``wharf rm`` and ``wharf ls`` do.

It speaks the Docker Registry HTTP API V2 / OCI Distribution API, so it works
against wharf and against distribution alike. Deleting an image by tag is the
documented cleanup: list the tags, ``HEAD`` the manifest (accepting every
manifest media type, so the registry does not convert it and the digest is the
stored one) to learn its digest, then ``DELETE /v2/<name>/manifests/<digest>``.
A delete by digest takes every tag that points at the manifest with it, so
``remove`` reports those tags too.

Every failure is a ``ClientError`` whose message is meant for a person: HTTP
errors and transport errors are translated once, in ``_check`` and
``_transport_errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

import httpx

from wharf.digest import Digest
from wharf.errors import RegistryError
from wharf.reference import RepositoryName, Tag
from wharf.registry.mediatypes import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, INDEXES, OCI_INDEX, OCI_MANIFEST

__all__ = [
    "MANIFEST_ACCEPT",
    "ClientError",
    "DeleteDisabled",
    "ImageRef",
    "ManifestInfo",
    "NotFound",
    "RegistryClient",
    "RegistryUnreachable",
    "Removed",
    "TagInfo",
    "describe_tags",
    "remove",
]

#: every manifest media type, so the registry serves what it stores and the digest is that of the stored bytes
MANIFEST_ACCEPT: Final = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX])
#: requests in flight at once when describing many tags
CONCURRENCY: Final = 8
DEFAULT_TIMEOUT: Final = 30.0

_T = TypeVar("_T")


class ClientError(Exception):
    """The operation failed; the message says why, for a person to read."""


class RegistryUnreachable(ClientError):
    pass


class NotFound(ClientError):
    """The repository, tag or manifest does not exist (``NAME_UNKNOWN``, ``MANIFEST_UNKNOWN``)."""


class DeleteDisabled(ClientError):
    pass


# --------------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``<registry>[/<repository>[:<tag>|@<digest>]]``, with the scheme to reach the registry by.

    The registry part is mandatory (``localhost:5000``, ``registry.example.com``);
    a leading ``http://`` or ``https://`` chooses the scheme, else loopback hosts
    are reached over plain HTTP and every other host over HTTPS.
    """

    registry: str
    scheme: str
    repository: RepositoryName | None = None
    tag: Tag | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, *, plain_http: bool = False) -> ImageRef:
        scheme, rest = _split_scheme(text)
        registry, _, path = rest.partition("/")
        if not registry:
            raise ClientError(f"{text!r}: expected <registry>[/<repository>[:<tag>|@<digest>]]")
        if scheme is None:
            scheme = "http" if plain_http or _is_loopback(registry) else "https"
        if not path:
            return cls(registry, scheme)
        try:
            return cls(registry, scheme, *_parse_repository_path(path))
        except RegistryError as exc:
            raise ClientError(f"{text!r}: {exc.detail or exc}") from None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.registry}"

    @property
    def name(self) -> str:
        """``registry/repository``, as people write it."""
        return f"{self.registry}/{self.repository}" if self.repository else self.registry

    def require_repository(self) -> RepositoryName:
        if self.repository is None:
            raise ClientError(f"{self.registry}: give a repository, as in {self.registry}/<repository>")
        return self.repository


def _split_scheme(text: str) -> tuple[str | None, str]:
    for scheme in ("http", "https"):
        if text.startswith(f"{scheme}://"):
            return scheme, text[len(scheme) + 3 :].rstrip("/")
    return None, text.rstrip("/")


def _parse_repository_path(path: str) -> tuple[RepositoryName, Tag | None, Digest | None]:
    path, at, digest = path.partition("@")
    if at:
        return RepositoryName.parse(path), None, Digest.parse(digest)
    repository, colon, tag = path.rpartition(":")
    if colon and "/" not in tag:
        return RepositoryName.parse(repository), Tag.parse(tag), None
    return RepositoryName.parse(path), None, None


def _is_loopback(registry: str) -> bool:
    """``localhost``, ``127.0.0.1:5000``, ``[::1]:5000``: hosts that never need TLS."""
    host = registry if registry.endswith("]") else registry.rsplit(":", 1)[0]
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    digest: Digest
    media_type: str
    #: the manifest's own bytes
    size: int


@dataclass(frozen=True, slots=True)
class _Manifest:
    info: ManifestInfo
    document: dict[str, Any]


class RegistryClient:
    """The registry API calls ``wharf rm`` and ``wharf ls`` make. Use as ``async with``."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url
        #: the registry as people write it in references (``localhost:5000``)
        self.host = httpx.URL(base_url).netloc.decode()
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def repositories(self) -> list[str]:
        """Every repository in the catalog, following ``Link`` pages."""
        return [name for page in await self._pages("/v2/_catalog", "repositories") for name in page]

    async def tags(self, repository: RepositoryName) -> list[str]:
        """Every tag of ``repository``; ``NotFound`` if there is no such repository."""
        pages = await self._pages(f"/v2/{repository}/tags/list", "tags", repository=repository)
        return [tag for page in pages for tag in page]

    async def head_manifest(self, repository: RepositoryName, reference: Tag | Digest) -> ManifestInfo:
        """Digest, media type and size of a manifest, from a ``HEAD``."""
        response = await self._request("HEAD", f"/v2/{repository}/manifests/{reference}")
        if response.status_code == 404:
            # A HEAD has no error body to tell an unknown repository from an unknown manifest.
            return (await self.get_manifest(repository, reference)).info
        self._check(response, repository=repository, reference=reference)
        header = response.headers.get("docker-content-digest")
        if header is None:  # a registry need not send it; then the bytes tell
            return (await self.get_manifest(repository, reference)).info
        return ManifestInfo(
            digest=_parse_digest(header),
            media_type=_media_type(response),
            size=int(response.headers.get("content-length") or 0),
        )

    async def get_manifest(self, repository: RepositoryName, reference: Tag | Digest) -> _Manifest:
        response = await self._request("GET", f"/v2/{repository}/manifests/{reference}")
        self._check(response, repository=repository, reference=reference)
        body = response.content
        header = response.headers.get("docker-content-digest")
        digest = _parse_digest(header) if header else Digest("sha256", hashlib.sha256(body).hexdigest())
        try:
            document = json.loads(body)
        except ValueError:
            raise ClientError(
                f"{repository}:{reference}: the registry sent a manifest that is not JSON"
            ) from None
        info = ManifestInfo(digest=digest, media_type=_media_type(response, document), size=len(body))
        return _Manifest(info, document if isinstance(document, dict) else {})

    async def delete_manifest(self, repository: RepositoryName, digest: Digest) -> None:
        response = await self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
        self._check(response, repository=repository, reference=digest)

    async def _pages(
        self, path: str, key: str, *, repository: RepositoryName | None = None
    ) -> list[list[str]]:
        pages: list[list[str]] = []
        url: str | httpx.URL = path
        while True:
            response = await self._request("GET", url)
            self._check(response, repository=repository)
            items = _json(response).get(key) or []
            if not isinstance(items, list):
                raise ClientError(f"{self.host}: GET {response.url.path} sent no {key} list")
            pages.append([str(item) for item in items])
            link = response.links.get("next", {}).get("url")
            if not link or not items:
                return pages
            # Resolved against this page's URL, never the base URL, so a path prefix is not doubled.
            url = response.url.join(link)

    async def _request(self, method: str, url: str | httpx.URL) -> httpx.Response:
        headers = {"accept": MANIFEST_ACCEPT} if "/manifests/" in str(url) else {}
        with _transport_errors(self.base_url):
            return await self._http.request(method, url, headers=headers)

    def _check(
        self,
        response: httpx.Response,
        *,
        repository: RepositoryName | None = None,
        reference: Tag | Digest | None = None,
    ) -> None:
        """Raise the ``ClientError`` that a failed response means, worded for a person."""
        if response.is_success:
            return
        status = response.status_code
        codes, message = _errors(response)
        where = f"{self.host}/{repository}" if repository else self.host
        if "NAME_UNKNOWN" in codes:
            raise NotFound(f"repository {repository} not found on {self.host}")
        if "MANIFEST_UNKNOWN" in codes or (status == 404 and reference is not None):
            what = f"tag {reference}" if isinstance(reference, Tag) else f"manifest {reference}"
            raise NotFound(f"{what} not found in {where}")
        if status == 404:
            raise NotFound(f"{where}: not found (is this a registry? GET {response.url.path} answered 404)")
        if status == 405 or "UNSUPPORTED" in codes:
            self._refused(response, codes, message, where)
        if status in (401, 403):
            raise ClientError(
                f"{where}: the registry requires authentication, which wharf rm/ls do not support yet"
            )
        raise ClientError(
            f"{where}: {response.request.method} {response.url.path} answered {status}"
            + (f" ({', '.join(codes)}: {message})" if codes else "")
        )

    @staticmethod
    def _refused(response: httpx.Response, codes: list[str], message: str, where: str) -> NoReturn:
        """405: deletes disabled (``UNSUPPORTED``), or read-only (wharf says so; distribution, no body)."""
        method = response.request.method
        if "read-only" in message.lower():
            raise ClientError(f"{where}: the registry is read-only (storage.maintenance.readonly)")
        if method == "DELETE" and "UNSUPPORTED" in codes:
            raise DeleteDisabled("deletes are disabled on this registry: set storage.delete.enabled: true")
        if method == "DELETE":
            raise DeleteDisabled(
                "the registry refused the delete (405): deletes are disabled (storage.delete.enabled) "
                "or the registry is read-only (storage.maintenance.readonly)"
            )
        raise ClientError(f"{where}: the registry refused {method} {response.url.path}: {message or 405}")


def _errors(response: httpx.Response) -> tuple[list[str], str]:
    """The error codes and the first message of an error envelope (none if the body is not one)."""
    try:
        errors = response.json().get("errors") or []
        codes = [str(error.get("code", "")) for error in errors]
        details = [str(error.get("message") or "") for error in errors] + [""]
        return codes, details[0]
    except (ValueError, AttributeError, TypeError):
        return [], ""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        url = response.url
        raise ClientError(f"{url.netloc.decode()}: GET {url.path} did not answer JSON; is this a registry?")
    return document


def _media_type(response: httpx.Response, document: Any = None) -> str:
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    if not content_type and isinstance(document, dict) and isinstance(document.get("mediaType"), str):
        return str(document["mediaType"])
    return str(content_type)


def _parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text.strip())
    except RegistryError:
        raise ClientError(f"the registry sent an invalid digest {text[:100]!r}") from None


@contextlib.contextmanager
def _transport_errors(base_url: str) -> Iterator[None]:
    """httpx's transport errors, as one sentence each."""
    try:
        yield
    except httpx.ConnectError as exc:
        causes = list(_causes(exc))
        if any(isinstance(cause, ssl.SSLError) for cause in causes):
            raise RegistryUnreachable(
                f"cannot reach registry at {base_url}: TLS failed ({exc}); "
                "if it serves plain HTTP, add --plain-http"
            ) from None
        refused = any(isinstance(cause, ConnectionRefusedError) for cause in causes)
        reason = "connection refused" if refused else str(exc) or "cannot connect"
        raise RegistryUnreachable(f"cannot reach registry at {base_url}: {reason}") from None
    except httpx.TimeoutException:
        raise RegistryUnreachable(f"cannot reach registry at {base_url}: timed out") from None
    except httpx.TransportError as exc:
        raise RegistryUnreachable(
            f"cannot reach registry at {base_url}: {exc or type(exc).__name__}"
        ) from None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, down the chain (httpx wraps httpcore wraps anyio wraps the OSError)."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class Removed:
    """One manifest deleted, and the tags that pointed at it (they went with it)."""

    digest: Digest
    tags: tuple[str, ...]


async def remove(client: RegistryClient, ref: ImageRef, *, all_tags: bool = False) -> list[Removed]:
    """Delete ``ref`` by digest (its tag's, or its own), or with ``all_tags`` every tagged manifest.

    Learns every tag's digest first, so the report lists the tags that went with
    each manifest. A repository without tags has nothing to delete with ``all_tags``.
    """
    repository = ref.require_repository()
    if all_tags:
        if ref.tag is not None or ref.digest is not None:
            raise ClientError(f"{ref.name}: --all-tags takes a repository, without a tag or digest")
        by_digest = await _tags_by_digest(client, repository, await client.tags(repository))
        targets = list(by_digest)
    elif ref.digest is not None:
        by_digest = await _tags_by_digest(client, repository, await client.tags(repository))
        targets = [ref.digest]
    elif ref.tag is not None:
        tags = await client.tags(repository)
        by_digest = await _tags_by_digest(client, repository, tags)
        targets = [d for d, names in by_digest.items() if str(ref.tag) in names]
        if not targets:
            known = f" (tags: {', '.join(tags)})" if tags else " (it has no tags)"
            raise NotFound(f"tag {ref.tag} not found in {ref.name}{known}")
    else:
        raise ClientError(f"{ref.name}: give a tag (:<tag>) or a digest (@sha256:…), or use --all-tags")
    removed = []
    for digest in targets:
        await client.delete_manifest(repository, digest)
        removed.append(Removed(digest, tuple(by_digest.get(digest, ()))))
    return removed


async def _tags_by_digest(
    client: RegistryClient, repository: RepositoryName, tags: list[str]
) -> dict[Digest, list[str]]:
    infos = await _gather(tags, lambda tag: client.head_manifest(repository, Tag(tag)))
    grouped: dict[Digest, list[str]] = {}
    for tag, info in zip(tags, infos, strict=True):
        if info is not None:
            grouped.setdefault(info.digest, []).append(tag)
    return grouped


@dataclass(frozen=True, slots=True)
class TagInfo:
    tag: str
    digest: Digest
    media_type: str
    #: the manifest, its config and its layers; for an index, that of every platform too
    size: int
    #: for an index, the number of manifests it lists; None for an image
    platforms: int | None = None


async def describe_tags(client: RegistryClient, repository: RepositoryName, tags: list[str]) -> list[TagInfo]:
    """Digest, media type and total size of each tag (a tag deleted meanwhile is left out)."""
    sizes = _SizeCache(client, repository)
    described = await _gather(tags, lambda tag: _describe(sizes, tag))
    return [info for info in described if info is not None]


async def _describe(sizes: _SizeCache, tag: str) -> TagInfo:
    manifest = await sizes.client.get_manifest(sizes.repository, Tag(tag))
    children = manifest.document.get("manifests")
    platforms = len(children) if manifest.info.media_type in INDEXES and isinstance(children, list) else None
    return TagInfo(
        tag=tag,
        digest=manifest.info.digest,
        media_type=manifest.info.media_type,
        size=await sizes.total(manifest),
        platforms=platforms,
    )


class _SizeCache:
    """Total sizes of manifests, fetched once each (platform manifests are shared by tags)."""

    def __init__(self, client: RegistryClient, repository: RepositoryName) -> None:
        self.client = client
        self.repository = repository
        self._children: dict[str, asyncio.Task[int]] = {}

    async def total(self, manifest: _Manifest) -> int:
        document = manifest.document
        size = manifest.info.size
        if isinstance(document.get("manifests"), list):
            for child in document["manifests"]:
                size += await self._child(child)
            return size
        for descriptor in [document.get("config"), *(document.get("layers") or [])]:
            size += _descriptor_size(descriptor)
        return size

    async def _child(self, descriptor: Any) -> int:
        digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
        if not isinstance(digest, str):
            return 0
        if digest not in self._children:
            self._children[digest] = asyncio.ensure_future(self._fetch_child(digest, descriptor))
        return await self._children[digest]

    async def _fetch_child(self, digest: str, descriptor: Any) -> int:
        try:
            return await self.total(await self.client.get_manifest(self.repository, _parse_digest(digest)))
        except NotFound:
            return _descriptor_size(descriptor)  # a platform the registry does not hold


def _descriptor_size(descriptor: Any) -> int:
    size = descriptor.get("size") if isinstance(descriptor, dict) else None
    return size if isinstance(size, int) and size >= 0 else 0


async def _gather(tags: list[str], call: Callable[[str], Awaitable[_T]]) -> list[_T | None]:
    """``call`` for each tag, at most ``CONCURRENCY`` at a time; a tag found deleted gives None."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(tag: str) -> _T | None:
        async with limit:
            try:
                return await call(tag)
            except NotFound:
                return None  # deleted while we listed

    return list(await asyncio.gather(*(one(tag) for tag in tags)))
