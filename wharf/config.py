"""wharf's configuration: distribution's ``config.yml``, typed, frozen and validated in one place.

wharf reads the same file as the CNCF distribution registry (``registry:2``), so an
existing deployment can swap the binary and keep its configuration. Loading goes:

1. read the YAML file (or the embedded ``DEFAULT_CONFIG``) into a plain mapping;
2. apply ``REGISTRY_*`` environment overrides to that mapping, as distribution does
   (``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv`` sets ``storage.filesystem.rootdirectory``);
3. stop on any key that asks for a feature wharf does not support yet
   (``UnsupportedConfig``): starting without it would quietly change what the
   registry does, for example serve without authentication;
4. note keys that wharf ignores, or does not know at all, as ``Config.warnings``;
5. read the mapping into ``Config``, frozen dataclasses whose annotations say how each
   key is read. Every default lives on a field, and every failure becomes a
   ``ConfigError`` naming the dotted path of the key.

Precedence is environment, then file, then the field's default.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import yaml

__all__ = [
    "DEFAULT_CONFIG",
    "DRIVERS",
    "AccessLogConfig",
    "CacheConfig",
    "CatalogConfig",
    "Config",
    "ConfigError",
    "DeleteConfig",
    "FilesystemConfig",
    "GCConfig",
    "HealthConfig",
    "HttpConfig",
    "InMemoryConfig",
    "LogConfig",
    "MaintenanceConfig",
    "ReadOnlyConfig",
    "StorageConfig",
    "StorageDriverHealth",
    "UnsupportedConfig",
    "UploadPurgingConfig",
    "default_config",
    "load_config",
    "parse_config",
    "parse_duration",
]


class ConfigError(ValueError):
    """The configuration cannot be used. The message names the dotted path of the key at fault."""


class UnsupportedConfig(ConfigError):
    """The configuration asks for a distribution feature that wharf does not implement yet."""


# --------------------------------------------------------------------------- durations

_DURATION_UNITS: Final[Mapping[str, float]] = MappingProxyType(
    {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
)
# Go's time.ParseDuration grammar without the sign: "1h30m", "1.5s", "500ms". "ms" is listed
# before "m" and "s" so that "500ms" is not read as 500 minutes and a stray "s". [0-9], not \d,
# which also matches "١" and "１" (and float() reads them): Go's digits are ASCII.
_DURATION_PART: Final = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION: Final = re.compile(rf"(?:{_DURATION_PART.pattern})+")
_ASCII_SPACE: Final = " \t\n\r\f\v"  # str.strip() alone also strips "\u2009" and "\u00a0"


def parse_duration(value: object) -> float:
    """Seconds in a Go duration string (``"10s"``, ``"1h30m"``, ``"500ms"``) or a plain number of seconds.

    distribution reads a bare number as nanoseconds, which no one means in an
    interval; wharf reads it as seconds.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(text := value.strip(_ASCII_SPACE)):
        seconds = sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))
    elif isinstance(value, str) and _is_number(value):
        seconds = float(value)
    else:
        raise _expected("a duration like 10s or 1h30m", value)
    if not math.isfinite(seconds) or seconds < 0:
        raise _expected("a duration like 10s or 1h30m", value)
    return seconds


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        # An interval of zero would spin; an age of zero would purge uploads in progress.
        raise _expected("a duration greater than zero, like 10s or 1h30m", value)
    return seconds


def _is_number(text: str) -> bool:
    """Whether ``float`` reads ``text``, which must be ASCII: ``float`` also reads "١٢" and "１２"."""
    if not text.isascii():
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _expected(what: str, value: object) -> ValueError:
    """The one shape of validation message: what was expected and what was given."""
    return ValueError(f"expected {what}, got {value!r}")


# --------------------------------------------------------------------------- how fields are read

# Each section below is a frozen dataclass, and its annotations say how a YAML value
# becomes a field: the type (bool, int, float, str, a Literal, dict, list, a section,
# ``X | None``), plus, in ``Annotated``, the hooks and aliases listed here. ``_read``
# interprets them. Keys that no field reads are left alone there: _key_warnings reports them.


@dataclass(frozen=True, slots=True)
class _Before:
    """``Annotated`` metadata: ``prepare`` turns the raw YAML value into one the field's type reads."""

    prepare: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _After:
    """``Annotated`` metadata: ``check`` normalises the value once read, or raises ``ValueError``."""

    check: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Alias:
    """``Annotated`` metadata: another key the field is read from when its own has no value."""

    key: str


#: Seconds, written in YAML as a Go duration ("10s", "168h") or a number of seconds; always > 0.
Duration = Annotated[float, _Before(_positive_duration)]


def _positive(value: int) -> int:
    if value <= 0:
        raise _expected("a number greater than 0", value)
    return value


def _non_empty_str(value: str) -> str:
    if not value:
        raise _expected("a non-empty string", value)
    return value


# --------------------------------------------------------------------------- the model

LogLevel = Literal["error", "warn", "info", "debug"]

# logrus, which distribution logs with, also accepts these names.
_LEVEL_ALIASES: Final[Mapping[str, LogLevel]] = MappingProxyType(
    {"warning": "warn", "trace": "debug", "fatal": "error", "panic": "error"}
)


def _level_name(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        return _LEVEL_ALIASES.get(lowered, lowered)
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


@dataclass(frozen=True, kw_only=True)
class AccessLogConfig:
    """``log.accesslog``: one line per request on the ``wharf.access`` logger."""

    disabled: bool = False


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    """``log``: level, output format, and fields added to every line."""

    level: Annotated[LogLevel, _Before(_level_name)] = "info"
    #: ``logstash`` is rendered like ``json``.
    formatter: Annotated[Literal["text", "json", "logstash"], _Before(_lower)] = "text"
    fields: dict[str, Any] = field(default_factory=dict)
    accesslog: AccessLogConfig = field(default_factory=AccessLogConfig)


def _absolute_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _expected("an absolute URL like https://registry.example.com", value)
    return value.rstrip("/")


def _normalise_prefix(value: str) -> str:
    # distribution asks for "/path/"; routing wants "/path", and "" for the root.
    stripped = value.strip().strip("/")
    return f"/{stripped}" if stripped else ""


def _header_lists(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: v if isinstance(v, list) else [v] for name, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class HttpConfig:
    """``http``: where to listen and how to build URLs and responses."""

    net: Literal["tcp", "unix"] = "tcp"
    #: ``host:port`` or ``:port``; with ``net: unix``, the path of a socket.
    addr: str = ":5000"
    #: The externally reachable URL (``https://registry.example.com``) used in generated URLs.
    host: Annotated[str | None, _After(_absolute_url)] = None
    #: ``""`` or ``/a/b``: where the API is mounted, without the trailing slash.
    prefix: Annotated[str, _After(_normalise_prefix)] = ""
    relativeurls: bool = False
    #: Extra response headers; each name maps to its list of values.
    headers: Annotated[dict[str, list[str]], _Before(_header_lists)] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Whether addr is host:port or a socket path depends on net.
        try:
            if self.net == "tcp":
                _split_host_port(self.addr)
            elif not self.addr:
                raise _expected("the path of a unix socket", self.addr)
        except ValueError as exc:
            raise _InvalidKey("addr", exc) from None

    @property
    def bind_host(self) -> str:
        """The host to bind: ``0.0.0.0`` for ``:port``, an IPv6 address without its brackets."""
        host, _ = _split_host_port(self._tcp_addr())
        return host or "0.0.0.0"

    @property
    def bind_port(self) -> int:
        _, port = _split_host_port(self._tcp_addr())
        return port

    def _tcp_addr(self) -> str:
        if self.net != "tcp":
            raise ValueError(f"http.addr {self.addr!r} is a unix socket path, not host:port")
        return self.addr


def _split_host_port(addr: str) -> tuple[str, int]:
    host, colon, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # an IPv6 address needs brackets, or its last group reads as the port
        raise _expected("host:port or :port", addr)
    if not colon or not (port.isascii() and port.isdigit()) or any(c.isspace() for c in host):
        raise _expected("host:port or :port", addr)
    if not 1 <= int(port) <= 65535:
        raise _expected("a port from 1 to 65535", addr)
    return host, int(port)


@dataclass(frozen=True, kw_only=True)
class FilesystemConfig:
    """``storage.filesystem``: blobs and metadata in a local directory tree."""

    rootdirectory: Annotated[str, _After(_non_empty_str)] = "/var/lib/registry"
    maxthreads: Annotated[int, _After(_positive)] = 100


@dataclass(frozen=True, kw_only=True)
class InMemoryConfig:
    """``storage.inmemory``: everything in process memory, lost on exit. Takes no parameters."""


@dataclass(frozen=True, kw_only=True)
class DeleteConfig:
    """``storage.delete``: whether clients may delete manifests and blobs by digest."""

    enabled: bool = False


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """``storage.cache``: the blob descriptor cache (``redis`` is not supported yet)."""

    # `layerinfo` is distribution's deprecated name for the same key.
    blobdescriptor: Annotated[Literal["inmemory"] | None, _Alias("layerinfo")] = None
    blobdescriptorsize: Annotated[int, _After(_positive)] = 10000


@dataclass(frozen=True, kw_only=True)
class UploadPurgingConfig:
    """``storage.maintenance.uploadpurging``: removing abandoned uploads."""

    enabled: bool = True
    age: Duration = 168 * 3600.0
    interval: Duration = 24 * 3600.0
    dryrun: bool = False


@dataclass(frozen=True, kw_only=True)
class ReadOnlyConfig:
    """``storage.maintenance.readonly``: refuse every write, for instance while collecting garbage."""

    enabled: bool = False


@dataclass(frozen=True, kw_only=True)
class MaintenanceConfig:
    """``storage.maintenance``."""

    uploadpurging: UploadPurgingConfig = field(default_factory=UploadPurgingConfig)
    readonly: ReadOnlyConfig = field(default_factory=ReadOnlyConfig)


#: The storage drivers wharf has, in the order error messages list them.
DRIVERS: Final = ("filesystem", "inmemory")


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """``storage``: exactly one driver section, plus settings shared by every driver."""

    filesystem: FilesystemConfig | None = None
    inmemory: InMemoryConfig | None = None
    delete: DeleteConfig = field(default_factory=DeleteConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)

    def __post_init__(self) -> None:
        configured = [name for name in DRIVERS if getattr(self, name) is not None]
        if len(configured) != 1:
            raise ValueError(
                f"exactly one storage driver must be configured ({' or '.join(DRIVERS)}),"
                f" got {', '.join(configured) or 'none'}"
            )

    @property
    def driver_name(self) -> str:
        """``filesystem`` or ``inmemory``."""
        return next(name for name in DRIVERS if getattr(self, name) is not None)

    @property
    def driver(self) -> FilesystemConfig | InMemoryConfig:
        """The configured driver's own section."""
        section: FilesystemConfig | InMemoryConfig = getattr(self, self.driver_name)
        return section


def _failures_in_a_row(value: int) -> int:
    if value < 0:
        raise _expected("a number of at least 0", value)
    # distribution's default (threshold unset, or 0) is that a single failure is enough.
    return max(value, 1)


@dataclass(frozen=True, kw_only=True)
class StorageDriverHealth:
    """``health.storagedriver``: a periodic check that the storage driver answers."""

    enabled: bool = False
    interval: Duration = 10.0
    #: Failures in a row before the registry reports itself unhealthy.
    threshold: Annotated[int, _After(_failures_in_a_row)] = 1


@dataclass(frozen=True, kw_only=True)
class HealthConfig:
    """``health``."""

    storagedriver: StorageDriverHealth = field(default_factory=StorageDriverHealth)


@dataclass(frozen=True, kw_only=True)
class CatalogConfig:
    """``catalog``: the ``/v2/_catalog`` listing."""

    #: The most repositories one catalog page returns.
    maxentries: Annotated[int, _After(_positive)] = 1000


@dataclass(frozen=True, kw_only=True)
class GCConfig:
    """``gc``: wharf's own section (distribution has none): garbage collection while serving.

    Off by default, as in distribution, where garbage collection is an offline
    command. Keys have no underscores, like distribution's, because ``_`` separates
    levels in environment overrides (``REGISTRY_GC_DELETEUNTAGGED=true``)::

        gc:
          enabled: false         # collect in the background while serving
          interval: 24h          # time between two collections
          deleteuntagged: false  # also delete manifests that no tag points to
          dryrun: false          # only log what would be deleted
    """

    enabled: bool = False
    interval: Duration = 24 * 3600.0
    deleteuntagged: bool = False
    dryrun: bool = False


def _version(value: Any) -> Any:
    # YAML reads `version: 0.1` as a float.
    text = str(value).strip() if isinstance(value, str | float) else value
    if text != "0.1":
        raise _expected("0.1, the only configuration version", value)
    return text


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration. ``warnings`` lists the keys that were ignored, for the CLI to log."""

    version: Annotated[str, _Before(_version)] = "0.1"
    log: LogConfig = field(default_factory=LogConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    storage: StorageConfig
    health: HealthConfig = field(default_factory=HealthConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    gc: GCConfig = field(default_factory=GCConfig)
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- keys wharf does not act on

# Config fields that wharf fills in itself, never from YAML.
_INTERNAL_FIELDS: Final = frozenset({"warnings"})


@dataclass(frozen=True, slots=True)
class _Unsupported:
    """A distribution feature wharf does not implement yet: its presence stops start-up."""

    #: Dotted path; a last component ``*`` stands for every key of the parent mapping.
    path: str
    #: What the key asks for; ``{key}`` is replaced by the key that ``*`` matched.
    feature: str
    hint: str = ""
    #: Whether the value found at ``path`` turns the feature on; by default, being there at all does.
    applies: Callable[[Any], bool] = field(default=lambda _: True)

    def message(self, dotted: str, key: str) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{dotted}: {self.feature.format(key=key)} is not supported yet by wharf{hint}"


def _non_empty(value: Any) -> bool:
    return bool(value)


def _is_redis(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "redis"


_DRIVER_HINT: Final = f"supported: {', '.join(DRIVERS)}"
_TLS_HINT: Final = "terminate TLS in a reverse proxy in front of wharf"
_CACHE_HINT: Final = "supported: inmemory"

_UNSUPPORTED: Final[tuple[_Unsupported, ...]] = (
    _Unsupported("storage.s3", "the s3 storage driver", _DRIVER_HINT),
    _Unsupported("storage.azure", "the azure storage driver", _DRIVER_HINT),
    _Unsupported("storage.gcs", "the gcs storage driver", _DRIVER_HINT),
    _Unsupported("storage.swift", "the swift storage driver", _DRIVER_HINT),
    _Unsupported("storage.oss", "the oss storage driver", _DRIVER_HINT),
    _Unsupported("storage.cache.blobdescriptor", "the redis blob descriptor cache", _CACHE_HINT, _is_redis),
    _Unsupported("storage.cache.layerinfo", "the redis blob descriptor cache", _CACHE_HINT, _is_redis),
    _Unsupported("auth.*", "{key} authentication", "put an authenticating reverse proxy in front of wharf"),
    _Unsupported("http.tls.certificate", "TLS", _TLS_HINT),
    _Unsupported("http.tls.letsencrypt", "TLS with Let's Encrypt", _TLS_HINT),
    _Unsupported("notifications.endpoints", "sending notifications", applies=_non_empty),
    _Unsupported("proxy.remoteurl", "the pull-through cache (proxy)", applies=_non_empty),
    _Unsupported("middleware.*", "{key} middleware", applies=_non_empty),
)

# Keys distribution has that wharf can ignore without changing what the registry
# does, and why. A section of _UNSUPPORTED in which nothing applies (`auth: {}`)
# lands here too.
_IGNORED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "loglevel": "deprecated by distribution, which ignores it too; use log.level",
        "log.hooks": "wharf has no log hooks",
        "http.secret": "wharf keeps no signed state with clients",
        "http.debug": "wharf has no debug server",
        "http.draintimeout": "not configurable in wharf",
        "http.http2": "not configurable in wharf",
        "http.tls": "TLS is off without a certificate or letsencrypt",
        "storage.redirect": "the filesystem and inmemory drivers never redirect",
        "storage.tag": "not configurable in wharf",
        "health.file": "wharf has no debug server to report it on",
        "health.http": "wharf has no debug server to report it on",
        "health.tcp": "wharf has no debug server to report it on",
        "auth": "no authentication provider is configured",
        "notifications": "no notification endpoints are configured",
        "proxy": "no proxy.remoteurl is configured",
        "middleware": "no middleware is configured",
        "redis": "only used by storage.cache.blobdescriptor: redis",
        "reporting": "wharf reports to neither bugsnag nor newrelic",
        "validation": "manifest URL validation is not configurable in wharf",
        "compatibility": "schema1 handling is not configurable in wharf",
    }
)


def _find(raw: Mapping[Any, Any], path: str) -> Iterator[tuple[str, str, Any]]:
    """Each ``(dotted path, key, value)`` in ``raw`` that ``path`` names (see ``_Unsupported.path``)."""
    *parents, last = path.split(".")
    node: Any = raw
    for key in parents:
        if not isinstance(node, Mapping) or key not in node:
            return
        node = node[key]
    if not isinstance(node, Mapping):
        return
    for key in node if last == "*" else [last] if last in node else []:
        yield ".".join([*parents, str(key)]), str(key), node[key]


def _check_supported(raw: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    for row in _UNSUPPORTED:
        for dotted, key, value in _find(raw, row.path):
            if row.applies(value):
                raise UnsupportedConfig(_with_source(row.message(dotted, key), dotted, sources))


def _key_warnings(
    section: type, raw: Mapping[Any, Any], sources: Mapping[str, str], prefix: str = ""
) -> Iterator[str]:
    """A warning for each key in ``raw`` that ``section`` does not read, recursing into sections."""
    known = {key: spec for spec in _fields_of(section) for key in spec.keys}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in known:
            reason = _IGNORED.get(dotted)
            note = "unknown key" if reason is None else f"ignored ({reason})"
            yield _with_source(f"{dotted}: {note}", dotted, sources)
        elif (inner := known[key].section) is not None and isinstance(value, Mapping):
            yield from _key_warnings(inner, value, sources, f"{dotted}.")


# --------------------------------------------------------------------------- environment overrides

_ENV_PREFIX: Final = "REGISTRY_"
_CONFIG_PATH_VARIABLE: Final = "REGISTRY_CONFIGURATION_PATH"
# Under `storage`, distribution takes every key but these to be a driver's section.
_STORAGE_SETTINGS: Final = frozenset({"maintenance", "cache", "delete", "redirect", "tag"})


@dataclass(slots=True)
class _Overridden:
    """The raw configuration after environment overrides, and where each override came from."""

    tree: dict[str, Any]
    #: Lower-case dotted path set by a variable → the variable's name, to say so in messages.
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _apply_environment(raw: Mapping[str, Any], environ: Mapping[str, str]) -> _Overridden:
    result = _Overridden(tree=_thaw(raw))
    # Sorted, as distribution does, so REGISTRY_STORAGE switches the driver before
    # REGISTRY_STORAGE_S3_BUCKET fills the new driver's section.
    for name in sorted(environ):
        if name.startswith(_ENV_PREFIX) and name != _CONFIG_PATH_VARIABLE:
            _apply_variable(result, name, _env_value(name, environ[name]))
    return result


def _apply_variable(result: _Overridden, name: str, value: Any) -> None:
    segments = name[len(_ENV_PREFIX) :].split("_")
    if not all(segments):
        result.warnings.append(f"{name}: ignored, an empty key between underscores")
        return
    if [s.lower() for s in segments] == ["storage"] and isinstance(value, str):
        key = _match_key(result.tree, "storage")
        driver = value.strip().lower()
        result.tree[key] = _switch_driver(result.tree.get(key), driver)
        result.sources[f"storage.{driver}"] = name
        return
    dotted = _override(result.tree, segments, value)
    if dotted is None:
        result.warnings.append(f"{name}: ignored, a value on its path is not a mapping")
    else:
        result.sources[dotted.lower()] = name


def _override(tree: dict[str, Any], segments: list[str], value: Any) -> str | None:
    """Set ``value`` at ``segments``, matching existing keys case-insensitively.

    Returns the dotted path the variable accounts for: the first key it had to
    create, or else the key it set. None if a scalar or a list is in the way
    (distribution, too, leaves those alone).
    """
    node = tree
    path: list[str] = []
    owned: str | None = None
    for segment in segments[:-1]:
        key = _match_key(node, segment)
        path.append(key)
        if node.get(key) is None:
            node[key] = {}
            owned = owned or ".".join(path)
        elif not isinstance(node[key], dict):
            return None
        node = node[key]
    key = _match_key(node, segments[-1])
    node[key] = value
    return owned or ".".join([*path, key])


def _match_key(node: Mapping[Any, Any], segment: str) -> str:
    for key in node:
        if isinstance(key, str) and key.lower() == segment.lower():
            return key
    return segment.lower()


def _switch_driver(storage: Any, driver: str) -> dict[str, Any]:
    """``storage`` with ``driver`` as its only driver section (``REGISTRY_STORAGE=inmemory``).

    distribution replaces the whole section; wharf keeps the settings shared by
    every driver (delete, cache, maintenance...), and the section of ``driver``
    itself if the file already configures it.
    """
    if not isinstance(storage, dict):
        return {driver: {}}
    kept = {key: value for key, value in storage.items() if key in _STORAGE_SETTINGS}
    section = storage.get(driver)
    return {**kept, driver: section if isinstance(section, dict) else {}}


def _env_value(name: str, text: str) -> Any:
    # Values are YAML, as in distribution: "true" is a boolean, "[a, b]" a list.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: expected a YAML value, got {text!r}") from exc


def _thaw(value: Any) -> Any:
    """A deep, mutable copy of a YAML-shaped value."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value


def _with_source(message: str, dotted: str, sources: Mapping[str, str]) -> str:
    """``message``, saying which variable set ``dotted`` (or the section holding it), if one did."""
    lowered = dotted.lower()
    covering = [path for path in sources if lowered == path or lowered.startswith((f"{path}.", f"{path}["))]
    if not covering:
        return message
    return f"{message} (set by {sources[max(covering, key=len)]})"


# --------------------------------------------------------------------------- reading the sections


class _Invalid(Exception):
    """Every problem found while reading a value: ``(dotted path, message)`` pairs, in field order."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


class _InvalidKey(ValueError):
    """Raised by a section's own check (its ``__post_init__``) to name the key at fault."""

    def __init__(self, key: str, error: ValueError) -> None:
        super().__init__(str(error))
        self.key = key


@dataclass(frozen=True, slots=True)
class _Field:
    """A field of a section, as YAML fills it."""

    name: str
    #: The annotation, ``Annotated`` included.
    kind: Any
    #: The keys it is read from: its name, then its aliases.
    keys: tuple[str, ...]
    #: The section it holds (``LogConfig``, ``FilesystemConfig | None``), if it holds one.
    section: type | None


@functools.cache
def _fields_of(section: type) -> tuple[_Field, ...]:
    """The fields of ``section`` read from YAML: all but ``_INTERNAL_FIELDS``."""
    hints = get_type_hints(section, include_extras=True)
    result = []
    for name in (f.name for f in fields(section) if f.name not in _INTERNAL_FIELDS):
        bare, metadata = _unwrap(hints[name])
        aliases = tuple(meta.key for meta in metadata if isinstance(meta, _Alias))
        optional = get_args(bare) if get_origin(bare) in (Union, UnionType) else (bare,)
        inner = next((kind for kind in optional if isinstance(kind, type) and is_dataclass(kind)), None)
        result.append(_Field(name, hints[name], (name, *aliases), inner))
    return tuple(result)


def _unwrap(kind: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[kind, *metadata]`` as ``(kind, metadata)``; any other kind with no metadata."""
    if get_origin(kind) is Annotated:
        bare, *metadata = get_args(kind)
        return bare, tuple(metadata)
    return kind, ()


def _read(kind: Any, value: Any, path: str) -> Any:
    """``value``, from YAML, as ``kind``. Raises ``_Invalid`` naming every key at fault."""
    kind, metadata = _unwrap(kind)
    try:
        for hook in metadata:
            if isinstance(hook, _Before):
                value = hook.prepare(value)
        value = _read_type(kind, value, path)
        for hook in metadata:
            if isinstance(hook, _After):
                value = hook.check(value)
    except _InvalidKey as exc:
        raise _Invalid([(_join(path, exc.key), str(exc))]) from None
    except ValueError as exc:
        raise _Invalid([(path, str(exc))]) from None
    return value


def _read_type(kind: Any, value: Any, path: str) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, UnionType):
        # `X | None`: null does not get here, it leaves the default in place (_read_section).
        [kind] = [arg for arg in args if arg is not type(None)]
        return _read(kind, value, path)
    if origin is Literal:
        if value in args:
            return value
        raise _expected(f"one of {_choices(args)}", value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _expected("a mapping", value)
        key_kind, item_kind = args
        # Each key, then its value, so that every problem in the mapping is reported.
        read = _read_all(
            (part_kind, part, _join(path, key))
            for key, item in value.items()
            for part_kind, part in ((key_kind, key), (item_kind, item))
        )
        return dict(zip(read[::2], read[1::2], strict=True))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise _expected("a list", value)
        [item_kind] = args
        return _read_all((item_kind, item, f"{path}[{index}]") for index, item in enumerate(value))
    if isinstance(kind, type) and is_dataclass(kind):
        return _read_section(kind, value, path)
    return _SCALARS[kind](value)


def _read_section(section: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, Mapping):
        raise _expected("a mapping", raw)
    names, reads = [], []
    for spec in _fields_of(section):
        # `key:` with no value is YAML null. Like Go's zero value, null leaves the default in
        # place; for a section it means the section with its defaults, so that `inmemory:`
        # (a driver that takes no parameters) turns that driver on.
        key = next((key for key in spec.keys if raw.get(key) is not None), None)
        if key is not None:
            value = raw[key]
        elif spec.section is not None and spec.name in raw:
            key, value = spec.name, {}
        else:
            continue
        names.append(spec.name)
        reads.append((spec.kind, value, _join(path, key)))
    return section(**dict(zip(names, _read_all(reads), strict=True)))


def _read_all(reads: Iterable[tuple[Any, Any, str]]) -> list[Any]:
    """Each ``(kind, value, path)`` read; if any fails, ``_Invalid`` with the problems of all."""
    values, problems = [], []
    for kind, value, path in reads:
        try:
            values.append(_read(kind, value, path))
        except _Invalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise _Invalid(problems)
    return values


# Quoted values too: `enabled: "true"`, and YAML 1.1's spellings of booleans.
_BOOLEANS: Final[Mapping[str, bool]] = MappingProxyType(
    {
        **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
        **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
    }
)


def _read_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    raise _expected("a boolean", value)


def _read_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # Quoted, "10" or "10.0"; ASCII only, as int() also reads "١٢" and "１２" and strips "\u2009".
    if isinstance(value, str) and value.isascii():
        try:
            return int(value)
        except ValueError:
            if _is_number(value) and float(value).is_integer():
                return int(float(value))
    raise _expected("an integer", value)


def _read_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _expected("a number", value)


def _read_str(value: Any) -> str:
    # Go's YAML decoder reads `rootdirectory: 2024` into a string, so numbers are read as text too.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _expected("a string", value)


_SCALARS: Final[Mapping[Any, Callable[[Any], Any]]] = MappingProxyType(
    {bool: _read_bool, int: _read_int, float: _read_float, str: _read_str, Any: lambda value: value}
)


def _choices(options: tuple[Any, ...]) -> str:
    """``'a', 'b' or 'c'``."""
    *others, last = map(repr, options)
    return f"{', '.join(others)} or {last}" if others else last


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _config_error(problems: list[tuple[str, str]], sources: Mapping[str, str]) -> ConfigError:
    """The ``ConfigError`` for ``problems``: one line each, ``dotted.path: what was expected``."""
    lines = [_with_source(f"{path or 'config'}: {message}", path, sources) for path, message in problems]
    return ConfigError("\n".join(lines))


# --------------------------------------------------------------------------- loading

_NO_ENVIRONMENT: Final[Mapping[str, str]] = MappingProxyType({})

#: The configuration used when none is given: ``storage.filesystem.rootdirectory`` is
#: resolved against the working directory at load time, or taken from ``$WHARF_DATA``.
DEFAULT_CONFIG: Final = """\
version: 0.1
http:
  addr: :5000
storage:
  filesystem:
    rootdirectory: ./data
  delete:
    enabled: true
"""


def parse_config(raw: Mapping[str, Any], environ: Mapping[str, str] = _NO_ENVIRONMENT) -> Config:
    """Validate a configuration mapping, after applying the ``REGISTRY_*`` overrides in ``environ``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: expected a mapping of configuration keys, got {_kind(raw)}")
    overridden = _apply_environment(raw, environ)
    _check_supported(overridden.tree, overridden.sources)
    warnings = [*overridden.warnings, *_key_warnings(Config, overridden.tree, overridden.sources)]
    # A missing storage section gets the "exactly one driver" message, not "required".
    overridden.tree.setdefault("storage", {})
    try:
        config: Config = _read(Config, overridden.tree, "")
    except _Invalid as exc:
        raise _config_error(exc.problems, overridden.sources) from None
    # warnings are wharf's findings, never the file's: _fields_of leaves them out of reading.
    return replace(config, warnings=tuple(warnings))


def load_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Load ``path``, else ``$REGISTRY_CONFIGURATION_PATH``, else ``DEFAULT_CONFIG``; then apply overrides."""
    if path is None:
        path = environ.get(_CONFIG_PATH_VARIABLE) or None
    if path is None:
        return default_config(environ)
    return parse_config(_read_yaml(Path(path)), environ)


def default_config(environ: Mapping[str, str] = os.environ) -> Config:
    """``DEFAULT_CONFIG``, with its data directory made absolute, and ``environ``'s overrides applied."""
    raw = yaml.safe_load(DEFAULT_CONFIG)
    filesystem = raw["storage"]["filesystem"]
    # Absolute now, so the registry keeps its data in one place whatever later changes the directory.
    filesystem["rootdirectory"] = os.path.abspath(environ.get("WHARF_DATA") or filesystem["rootdirectory"])
    return parse_config(raw, environ)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from exc
    if document is None:  # an empty file
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping of configuration keys, got {_kind(document)}")
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc)


def _kind(value: object) -> str:
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)
