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
5. validate the mapping into the ``Config`` model. Every default lives on a field,
   and every failure becomes a ``ConfigError`` naming the dotted path of the key.

Precedence is environment, then file, then the field's default.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

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
# before "m" and "s" so that "500ms" is not read as 500 minutes and a stray "s".
_DURATION_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION: Final = re.compile(rf"(?:{_DURATION_PART.pattern})+")


def parse_duration(value: object) -> float:
    """Seconds in a Go duration string (``"10s"``, ``"1h30m"``, ``"500ms"``) or a plain number of seconds.

    distribution reads a bare number as nanoseconds, which no one means in an
    interval; wharf reads it as seconds.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(text := value.strip()):
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
    try:
        float(text)
    except ValueError:
        return False
    return True


def _expected(what: str, value: object) -> ValueError:
    """The one shape of validation message: what was expected and what was given."""
    return ValueError(f"expected {what}, got {value!r}")


#: Seconds, written in YAML as a Go duration ("10s", "168h") or a number of seconds; always > 0.
Duration = Annotated[float, BeforeValidator(_positive_duration)]


# --------------------------------------------------------------------------- the model


def _drop_nulls(data: Any) -> Any:
    # `key:` with no value is YAML null. Like Go's zero value, it leaves the default in place.
    if isinstance(data, Mapping):
        return {key: value for key, value in data.items() if value is not None}
    return data


class _Section(BaseModel):
    # Keys the model does not know are reported as warnings before validation
    # (_key_warnings), so validation ignores them instead of failing.
    # Go's YAML decoder reads `rootdirectory: 2024` into a string, so numbers are coerced too.
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        return _drop_nulls(data)


LogLevel = Literal["error", "warn", "info", "debug"]

# logrus, which distribution logs with, also accepts these names.
_LEVEL_ALIASES: Final[Mapping[str, LogLevel]] = MappingProxyType(
    {"warning": "warn", "trace": "debug", "fatal": "error", "panic": "error"}
)


class AccessLogConfig(_Section):
    """``log.accesslog``: one line per request on the ``wharf.access`` logger."""

    disabled: bool = False


class LogConfig(_Section):
    """``log``: level, output format, and fields added to every line."""

    level: LogLevel = "info"
    #: ``logstash`` is rendered like ``json``.
    formatter: Literal["text", "json", "logstash"] = "text"
    fields: dict[str, Any] = Field(default_factory=dict)
    accesslog: AccessLogConfig = Field(default_factory=AccessLogConfig)

    @field_validator("level", mode="before")
    @classmethod
    def _level_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return _LEVEL_ALIASES.get(lowered, lowered)
        return value

    @field_validator("formatter", mode="before")
    @classmethod
    def _lower_formatter(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class HttpConfig(_Section):
    """``http``: where to listen and how to build URLs and responses."""

    # Declared before addr: whether addr is host:port or a socket path depends on it.
    net: Literal["tcp", "unix"] = "tcp"
    addr: str = ":5000"
    #: The externally reachable URL (``https://registry.example.com``) used in generated URLs.
    host: str | None = None
    #: ``""`` or ``/a/b``: where the API is mounted, without the trailing slash.
    prefix: str = ""
    relativeurls: bool = False
    #: Extra response headers; each name maps to its list of values.
    headers: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("addr")
    @classmethod
    def _check_addr(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("net", "tcp") == "tcp":
            _split_host_port(value)
        elif not value:
            raise _expected("the path of a unix socket", value)
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _expected("an absolute URL like https://registry.example.com", value)
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        # distribution asks for "/path/"; routing wants "/path", and "" for the root.
        stripped = value.strip().strip("/")
        return f"/{stripped}" if stripped else ""

    @field_validator("headers", mode="before")
    @classmethod
    def _header_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {name: v if isinstance(v, list) else [v] for name, v in value.items()}
        return value

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


class FilesystemConfig(_Section):
    """``storage.filesystem``: blobs and metadata in a local directory tree."""

    rootdirectory: str = Field(default="/var/lib/registry", min_length=1)
    maxthreads: int = Field(default=100, gt=0)


class InMemoryConfig(_Section):
    """``storage.inmemory``: everything in process memory, lost on exit. Takes no parameters."""


class DeleteConfig(_Section):
    """``storage.delete``: whether clients may delete manifests and blobs by digest."""

    enabled: bool = False


class CacheConfig(_Section):
    """``storage.cache``: the blob descriptor cache (``redis`` is not supported yet)."""

    # `layerinfo` is distribution's deprecated name for the same key.
    blobdescriptor: Literal["inmemory"] | None = Field(
        default=None, validation_alias=AliasChoices("blobdescriptor", "layerinfo")
    )
    blobdescriptorsize: int = Field(default=10000, gt=0)


class UploadPurgingConfig(_Section):
    """``storage.maintenance.uploadpurging``: removing abandoned uploads."""

    enabled: bool = True
    age: Duration = 168 * 3600.0
    interval: Duration = 24 * 3600.0
    dryrun: bool = False


class ReadOnlyConfig(_Section):
    """``storage.maintenance.readonly``: refuse every write, for instance while collecting garbage."""

    enabled: bool = False


class MaintenanceConfig(_Section):
    """``storage.maintenance``."""

    uploadpurging: UploadPurgingConfig = Field(default_factory=UploadPurgingConfig)
    readonly: ReadOnlyConfig = Field(default_factory=ReadOnlyConfig)


#: The storage drivers wharf has, in the order error messages list them.
DRIVERS: Final = ("filesystem", "inmemory")


class StorageConfig(_Section):
    """``storage``: exactly one driver section, plus settings shared by every driver."""

    filesystem: FilesystemConfig | None = None
    inmemory: InMemoryConfig | None = None
    delete: DeleteConfig = Field(default_factory=DeleteConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        # `inmemory:` takes no parameters, so it is written with no value: for a
        # driver, null means "this driver with its defaults", not "absent".
        if isinstance(data, Mapping):
            data = {key: {} if value is None and key in DRIVERS else value for key, value in data.items()}
        return _drop_nulls(data)

    @model_validator(mode="after")
    def _exactly_one_driver(self) -> Self:
        configured = [name for name in DRIVERS if getattr(self, name) is not None]
        if len(configured) != 1:
            raise ValueError(
                f"exactly one storage driver must be configured ({' or '.join(DRIVERS)}),"
                f" got {', '.join(configured) or 'none'}"
            )
        return self

    @property
    def driver_name(self) -> str:
        """``filesystem`` or ``inmemory``."""
        return next(name for name in DRIVERS if getattr(self, name) is not None)

    @property
    def driver(self) -> FilesystemConfig | InMemoryConfig:
        """The configured driver's own section."""
        section: FilesystemConfig | InMemoryConfig = getattr(self, self.driver_name)
        return section


class StorageDriverHealth(_Section):
    """``health.storagedriver``: a periodic check that the storage driver answers."""

    enabled: bool = False
    interval: Duration = 10.0
    # Failures in a row before the registry reports itself unhealthy. distribution's
    # default (threshold unset, or 0) is that a single failure is enough.
    threshold: int = Field(default=1, ge=0)

    @field_validator("threshold")
    @classmethod
    def _zero_means_one(cls, value: int) -> int:
        return max(value, 1)


class HealthConfig(_Section):
    """``health``."""

    storagedriver: StorageDriverHealth = Field(default_factory=StorageDriverHealth)


class CatalogConfig(_Section):
    """``catalog``: the ``/v2/_catalog`` listing."""

    #: The most repositories one catalog page returns.
    maxentries: int = Field(default=1000, gt=0)


class GCConfig(_Section):
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


class Config(_Section):
    """The whole configuration. ``warnings`` lists the keys that were ignored, for the CLI to log."""

    version: str = "0.1"
    log: LogConfig = Field(default_factory=LogConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    storage: StorageConfig
    health: HealthConfig = Field(default_factory=HealthConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    gc: GCConfig = Field(default_factory=GCConfig)
    warnings: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        data = _drop_nulls(data)
        if isinstance(data, dict):
            # A missing storage section gets the "exactly one driver" message, not "required".
            data.setdefault("storage", {})
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        # YAML reads `version: 0.1` as a float.
        text = str(value).strip() if isinstance(value, str | float) else value
        if text != "0.1":
            raise _expected("0.1, the only configuration version", value)
        return text


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
    model: type[BaseModel], raw: Mapping[Any, Any], sources: Mapping[str, str], prefix: str = ""
) -> Iterator[str]:
    """A warning for each key in ``raw`` that ``model`` does not read, recursing into sections."""
    known = _keys_of(model)
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in known:
            reason = _IGNORED.get(dotted)
            note = "unknown key" if reason is None else f"ignored ({reason})"
            yield _with_source(f"{dotted}: {note}", dotted, sources)
        elif (section := _section_model(known[key])) is not None and isinstance(value, Mapping):
            yield from _key_warnings(section, value, sources, f"{dotted}.")


def _keys_of(model: type[BaseModel]) -> dict[str, Any]:
    """The keys ``model`` reads from YAML, with the annotation of the field each one fills."""
    keys: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in _INTERNAL_FIELDS:
            continue
        aliases = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else []
        for alias in [name, *aliases]:
            keys[str(alias)] = info.annotation
    return keys


def _section_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


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


# --------------------------------------------------------------------------- validation errors

_EXPECTED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "bool_parsing": "a boolean",
        "bool_type": "a boolean",
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "string_type": "a string",
        "string_too_short": "a non-empty string",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "dict_type": "a mapping",
        "list_type": "a list",
    }
)


def _config_error(error: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    """The ``ConfigError`` for pydantic's errors: one line each, ``dotted.path: what was expected``."""
    lines = []
    for detail in error.errors(include_url=False):
        dotted = _dotted(detail["loc"])
        lines.append(_with_source(f"{dotted}: {_explain(detail)}", dotted, sources))
    return ConfigError("\n".join(lines))


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "config"


def _explain(detail: ErrorDetails) -> str:
    kind, ctx, given = detail["type"], detail.get("ctx", {}), detail["input"]
    if kind == "value_error":
        return str(ctx["error"])  # our validators word their messages themselves (_expected)
    if kind == "missing":
        return "a value is required"
    if kind == "literal_error":
        expected = f"one of {ctx['expected']}"
    elif kind == "greater_than":
        expected = f"a number greater than {ctx['gt']}"
    elif kind == "greater_than_equal":
        expected = f"a number of at least {ctx['ge']}"
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    else:
        return f"{detail['msg']}, got {given!r}"
    return f"expected {expected}, got {given!r}"


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
    # warnings are wharf's findings, never the file's.
    tree = {key: value for key, value in overridden.tree.items() if key not in _INTERNAL_FIELDS}
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        raise _config_error(exc, overridden.sources) from None
    return config.model_copy(update={"warnings": tuple(warnings)})


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
