"""wharf.config: distribution's config.yml, environment overrides, and every message a user can see."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from wharf.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    FilesystemConfig,
    InMemoryConfig,
    UnsupportedConfig,
    default_config,
    load_config,
    parse_config,
    parse_duration,
)

# distribution's cmd/registry/config-example.yml, as registry:2 ships it.
DISTRIBUTION_EXAMPLE = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""

MINIMAL: dict[str, Any] = {"version": 0.1, "storage": {"inmemory": None}}


def parse(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(yaml.safe_load(text), environ or {})


def with_keys(**sections: Any) -> dict[str, Any]:
    """MINIMAL plus the given top-level sections."""
    return {**MINIMAL, **sections}


@pytest.fixture
def example_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(DISTRIBUTION_EXAMPLE)
    return path


# --------------------------------------------------------------------------- distribution's example


def test_distribution_example_is_honoured(example_file: Path) -> None:
    config = load_config(example_file, environ={})

    assert config.version == "0.1"
    assert config.log.fields == {"service": "registry"}
    assert config.storage.cache.blobdescriptor == "inmemory"
    assert config.storage.driver_name == "filesystem"
    assert config.storage.driver == FilesystemConfig(rootdirectory="/var/lib/registry")
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == "/var/lib/registry"
    assert config.storage.inmemory is None
    assert config.storage.delete.enabled is True
    assert config.http.addr == ":5000"
    assert (config.http.bind_host, config.http.bind_port) == ("0.0.0.0", 5000)
    assert config.http.headers == {"X-Content-Type-Options": ["nosniff"]}
    assert config.health.storagedriver.enabled is True
    assert config.health.storagedriver.interval == 10.0
    assert config.health.storagedriver.threshold == 3
    assert config.warnings == ()


def test_config_is_frozen(example_file: Path) -> None:
    config = load_config(example_file, environ={})
    with pytest.raises(AttributeError, match="cannot assign"):
        config.storage.delete.enabled = False


# --------------------------------------------------------------------------- defaults


def test_defaults_are_distributions() -> None:
    config = parse_config(MINIMAL)

    assert config.log.level == "info"
    assert config.log.formatter == "text"
    assert config.log.fields == {}
    assert config.log.accesslog.disabled is False
    assert config.http.addr == ":5000"
    assert config.http.net == "tcp"
    assert config.http.host is None
    assert config.http.prefix == ""
    assert config.http.relativeurls is False
    assert config.http.headers == {}
    assert config.storage.delete.enabled is False
    assert config.storage.cache.blobdescriptor is None
    assert config.storage.cache.blobdescriptorsize == 10000
    purging = config.storage.maintenance.uploadpurging
    assert (purging.enabled, purging.age, purging.interval, purging.dryrun) == (
        True,
        168 * 3600,
        24 * 3600,
        False,
    )
    assert config.storage.maintenance.readonly.enabled is False
    assert config.health.storagedriver.enabled is False
    assert config.health.storagedriver.interval == 10.0
    assert config.health.storagedriver.threshold == 1  # distribution: one failure is enough
    assert config.catalog.maxentries == 1000
    gc = config.gc
    assert (gc.enabled, gc.interval, gc.deleteuntagged, gc.dryrun) == (False, 24 * 3600, False, False)


def test_inmemory_without_value_is_the_inmemory_driver() -> None:
    config = parse("storage:\n  inmemory:\n")
    assert config.storage.driver_name == "inmemory"
    assert config.storage.driver == InMemoryConfig()


def test_filesystem_without_value_takes_the_default_root() -> None:
    config = parse("storage:\n  filesystem:\n")
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/var/lib/registry", maxthreads=100)


def test_null_section_keeps_defaults() -> None:
    config = parse("version: 0.1\nlog:\nhttp:\n  addr:\nstorage:\n  inmemory:\n")
    assert config.log.level == "info"
    assert config.http.addr == ":5000"


def test_missing_version_defaults_to_0_1() -> None:
    assert parse_config({"storage": {"inmemory": {}}}).version == "0.1"


@pytest.mark.parametrize("version", ["0.1", 0.1, " 0.1 "])
def test_version_normalised(version: object) -> None:
    assert parse_config(with_keys(version=version)).version == "0.1"


def test_every_distribution_section_and_wharf_gc_parse() -> None:
    config = parse(
        """
        version: 0.1
        log: {level: debug, formatter: json, accesslog: {disabled: true}}
        http:
          addr: 127.0.0.1:5001
          host: https://registry.example.com/
          prefix: /my/nested/registry/
          relativeurls: true
        storage:
          filesystem: {rootdirectory: /srv/registry, maxthreads: 50}
          cache: {blobdescriptor: inmemory, blobdescriptorsize: 500}
          maintenance:
            uploadpurging: {enabled: false, age: 2h10m, interval: 45m, dryrun: true}
            readonly: {enabled: true}
        catalog: {maxentries: 50}
        gc: {enabled: true, interval: 1h30m, deleteuntagged: true, dryrun: true}
        """
    )
    assert (config.log.level, config.log.formatter, config.log.accesslog.disabled) == ("debug", "json", True)
    assert (config.http.bind_host, config.http.bind_port) == ("127.0.0.1", 5001)
    assert config.http.host == "https://registry.example.com"
    assert config.http.prefix == "/my/nested/registry"
    assert config.http.relativeurls is True
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/srv/registry", maxthreads=50)
    assert config.storage.cache.blobdescriptorsize == 500
    purging = config.storage.maintenance.uploadpurging
    assert (purging.enabled, purging.age, purging.interval, purging.dryrun) == (False, 7800, 2700, True)
    assert config.storage.maintenance.readonly.enabled is True
    assert config.catalog.maxentries == 50
    gc = config.gc
    assert (gc.enabled, gc.interval, gc.deleteuntagged, gc.dryrun) == (True, 5400, True, True)
    assert config.warnings == ()


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("level", "expected"),
    [("debug", "debug"), ("WARN", "warn"), ("warning", "warn"), ("Warning", "warn"), ("ERROR", "error")],
)
def test_log_level_is_case_insensitive(level: str, expected: str) -> None:
    assert parse_config(with_keys(log={"level": level})).log.level == expected


def test_logstash_formatter_is_accepted() -> None:
    assert parse_config(with_keys(log={"formatter": "logstash"})).log.formatter == "logstash"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", ""), ("/", ""), ("/v/", "/v"), ("my/nested/registry/", "/my/nested/registry"), ("/a/b", "/a/b")],
)
def test_prefix_normalised(prefix: str, expected: str) -> None:
    assert parse_config(with_keys(http={"prefix": prefix})).http.prefix == expected


@pytest.mark.parametrize(
    ("addr", "host", "port"),
    [
        (":5000", "0.0.0.0", 5000),
        ("localhost:5000", "localhost", 5000),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("[::]:5000", "::", 5000),
        ("[::1]:65535", "::1", 65535),
    ],
)
def test_bind_host_and_port(addr: str, host: str, port: int) -> None:
    http = parse_config(with_keys(http={"addr": addr})).http
    assert (http.bind_host, http.bind_port) == (host, port)


def test_unix_socket_addr_is_a_path() -> None:
    http = parse_config(with_keys(http={"net": "unix", "addr": "/run/wharf.sock"})).http
    assert http.addr == "/run/wharf.sock"
    with pytest.raises(ValueError, match="unix socket"):
        _ = http.bind_port


def test_scalar_header_value_becomes_a_list() -> None:
    headers = {"X-Frame-Options": "DENY", "Strict-Transport-Security": ["max-age=31536000"]}
    config = parse_config(with_keys(http={"headers": headers}))
    assert config.http.headers == {
        "X-Frame-Options": ["DENY"],
        "Strict-Transport-Security": ["max-age=31536000"],
    }


def test_deprecated_layerinfo_is_blobdescriptor() -> None:
    config = parse_config({"storage": {"inmemory": None, "cache": {"layerinfo": "inmemory"}}})
    assert config.storage.cache.blobdescriptor == "inmemory"
    assert config.warnings == ()


def test_numbers_read_as_strings_like_go_yaml() -> None:
    config = parse_config({"storage": {"filesystem": {"rootdirectory": 2024}}})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="2024")


def test_quoted_booleans_and_numbers_are_read() -> None:
    config = parse_config(with_keys(gc={"enabled": "yes", "dryrun": "false"}, catalog={"maxentries": "50"}))
    assert (config.gc.enabled, config.gc.dryrun, config.catalog.maxentries) == (True, False, 50)


def test_threshold_zero_means_one_failure() -> None:
    config = parse_config(with_keys(health={"storagedriver": {"threshold": 0}}))
    assert config.health.storagedriver.threshold == 1


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("168h", 168 * 3600.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1.5s", 1.5),
        ("1m0.5s", 60.5),
        ("100us", 1e-4),
        ("100µs", 1e-4),
        ("250ns", 2.5e-7),
        ("0", 0.0),
        (" 10s ", 10.0),
        (30, 30.0),
        (2.5, 2.5),
        ("45", 45.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "", "s", "10 s", "1d", "-5s", "-5", "h1", "nan", True, None, [10]])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like 10s or 1h30m, got "):
        parse_duration(text)


def test_duration_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"^gc\.interval: expected a duration greater than zero.*got '0s'$"):
        parse_config(with_keys(gc={"interval": "0s"}))


# --------------------------------------------------------------------------- digits are ASCII

# int() and float() also read other scripts' digits ("١٢" Arabic-Indic, "۱۲" Persian, "１２"
# fullwidth) and strip Unicode spaces; Go's strconv and time.ParseDuration take ASCII only.
NON_ASCII_INTEGERS = ["١٢", "۱۲", "１２", "1２", "12.０", "١e٣", "\u200912", "12\u00a0"]


@pytest.mark.parametrize("text", NON_ASCII_INTEGERS)
def test_an_integer_in_other_digits_is_refused(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_keys(catalog={"maxentries": text}))
    assert str(caught.value) == f"catalog.maxentries: expected an integer, got {text!r}"


@pytest.mark.parametrize("text", NON_ASCII_INTEGERS)
def test_an_integer_in_other_digits_is_refused_from_the_environment(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD": text})
    assert str(caught.value) == (
        f"health.storagedriver.threshold: expected an integer, got {text!r}"
        " (set by REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD)"
    )


@pytest.mark.parametrize(
    ("text", "number"),
    [(" 12 ", 12), ("+12", 12), ("1e3", 1000), ("10.0", 10), ("1_000", 1000), ("12\n", 12)],
)
def test_quoted_integers_keep_their_ascii_forms(text: str, number: int) -> None:
    assert parse_config(with_keys(catalog={"maxentries": text})).catalog.maxentries == number


@pytest.mark.parametrize(
    "text", ["１０s", "١٠s", "1.５s", "1h３０m", "１０", "٣٠", "1e٣", "\u200910s", "10\u00a0"]
)
def test_a_duration_in_other_digits_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like 10s or 1h30m, got "):
        parse_duration(text)


def test_a_duration_in_other_digits_names_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL": "１０s"})
    assert str(caught.value) == (
        "health.storagedriver.interval: expected a duration like 10s or 1h30m, got '１０s'"
        " (set by REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL)"
    )


# --------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"storage": {"inmemory": None, "delete": {"enabled": "maybe"}}},
            "storage.delete.enabled: expected a boolean, got 'maybe'",
        ),
        (with_keys(http={"addr": "nope"}), "http.addr: expected host:port or :port, got 'nope'"),
        (with_keys(http={"addr": "localhost"}), "http.addr: expected host:port or :port, got 'localhost'"),
        (with_keys(http={"addr": "::1:5000"}), "http.addr: expected host:port or :port, got '::1:5000'"),
        (with_keys(http={"addr": ":http"}), "http.addr: expected host:port or :port, got ':http'"),
        (with_keys(http={"addr": ":70000"}), "http.addr: expected a port from 1 to 65535, got ':70000'"),
        (with_keys(http={"addr": ":0"}), "http.addr: expected a port from 1 to 65535, got ':0'"),
        (
            with_keys(health={"storagedriver": {"interval": "soon"}}),
            "health.storagedriver.interval: expected a duration like 10s or 1h30m, got 'soon'",
        ),
        (
            with_keys(health={"storagedriver": {"threshold": 1.5}}),
            "health.storagedriver.threshold: expected an integer, got 1.5",
        ),
        (
            with_keys(log={"level": "loud"}),
            "log.level: expected one of 'error', 'warn', 'info' or 'debug', got 'loud'",
        ),
        (
            with_keys(log={"formatter": "xml"}),
            "log.formatter: expected one of 'text', 'json' or 'logstash', got 'xml'",
        ),
        (with_keys(log=["level"]), "log: expected a mapping, got ['level']"),
        (with_keys(http={"host": "registry.example.com"}), "http.host: expected an absolute URL"),
        (with_keys(http={"net": "udp"}), "http.net: expected one of 'tcp' or 'unix', got 'udp'"),
        (
            with_keys(http={"headers": {"X-A": [None]}}),
            "http.headers.X-A[0]: expected a string, got None",
        ),
        (with_keys(catalog={"maxentries": 0}), "catalog.maxentries: expected a number greater than 0, got 0"),
        (with_keys(catalog={"maxentries": True}), "catalog.maxentries: expected an integer, got True"),
        (with_keys(version="0.2"), "version: expected 0.1, the only configuration version, got '0.2'"),
        (
            {"storage": {"filesystem": {"rootdirectory": ""}}},
            "storage.filesystem.rootdirectory: expected a non-empty string, got ''",
        ),
        (
            {"storage": {"inmemory": None, "cache": {"blobdescriptor": "memcached"}}},
            "storage.cache.blobdescriptor: expected one of 'inmemory', got 'memcached'",
        ),
        (
            {"storage": {"filesystem": "/var/lib/registry"}},
            "storage.filesystem: expected a mapping, got '/var/lib/registry'",
        ),
    ],
)
def test_error_names_the_path_and_what_was_expected(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert str(caught.value).startswith(message)
    assert not isinstance(caught.value, UnsupportedConfig)


def test_every_error_is_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_keys(log={"level": "loud"}, catalog={"maxentries": -1}))
    assert str(caught.value).splitlines() == [
        "log.level: expected one of 'error', 'warn', 'info' or 'debug', got 'loud'",
        "catalog.maxentries: expected a number greater than 0, got -1",
    ]


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(UnsupportedConfig, ConfigError)


@pytest.mark.parametrize(
    ("storage", "got"),
    [
        ({}, "none"),
        ({"delete": {"enabled": True}}, "none"),
        ({"filesystem": {}, "inmemory": None}, "filesystem, inmemory"),
    ],
)
def test_exactly_one_storage_driver(storage: dict[str, Any], got: str) -> None:
    message = f"storage: exactly one storage driver must be configured (filesystem or inmemory), got {got}"
    with pytest.raises(ConfigError) as caught:
        parse_config({"version": "0.1", "storage": storage})
    assert str(caught.value) == message


def test_no_storage_section_at_all() -> None:
    with pytest.raises(ConfigError, match=r"^storage: exactly one storage driver .*, got none$"):
        parse_config({"version": "0.1"})


# --------------------------------------------------------------------------- unsupported features


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"storage": {"s3": {"bucket": "b", "region": "us-east-1"}}},
            "storage.s3: the s3 storage driver is not supported yet by wharf"
            " (supported: filesystem, inmemory)",
        ),
        ({"storage": {"azure": {}}}, "storage.azure: the azure storage driver is not supported yet"),
        ({"storage": {"gcs": None}}, "storage.gcs: the gcs storage driver is not supported yet"),
        ({"storage": {"swift": {}}}, "storage.swift: the swift storage driver is not supported yet"),
        ({"storage": {"oss": {}}}, "storage.oss: the oss storage driver is not supported yet"),
        (
            with_keys(auth={"htpasswd": {"realm": "basic-realm", "path": "/auth/htpasswd"}}),
            "auth.htpasswd: htpasswd authentication is not supported yet by wharf",
        ),
        (with_keys(auth={"token": {"realm": "r"}}), "auth.token: token authentication is not supported yet"),
        (with_keys(auth={"silly": {"realm": "r"}}), "auth.silly: silly authentication is not supported yet"),
        (
            with_keys(notifications={"endpoints": [{"name": "l", "url": "https://x/event"}]}),
            "notifications.endpoints: sending notifications is not supported yet by wharf",
        ),
        (
            with_keys(proxy={"remoteurl": "https://registry-1.docker.io"}),
            "proxy.remoteurl: the pull-through cache (proxy) is not supported yet by wharf",
        ),
        (
            with_keys(http={"tls": {"certificate": "/c.pem", "key": "/k.pem"}}),
            "http.tls.certificate: TLS is not supported yet by wharf",
        ),
        (
            with_keys(http={"tls": {"letsencrypt": {"cachefile": "/c", "email": "a@b"}}}),
            "http.tls.letsencrypt: TLS with Let's Encrypt is not supported yet by wharf",
        ),
        (
            with_keys(middleware={"storage": [{"name": "cloudfront"}]}),
            "middleware.storage: storage middleware is not supported yet by wharf",
        ),
        (
            {
                "storage": {"inmemory": None, "cache": {"blobdescriptor": "redis"}},
                "redis": {"addr": "r:6379"},
            },
            "storage.cache.blobdescriptor: the redis blob descriptor cache is not supported yet by wharf"
            " (supported: inmemory)",
        ),
    ],
)
def test_unsupported_feature_stops_start_up(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedConfig) as caught:
        parse_config(raw)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("section", "value", "warning"),
    [
        ("auth", {}, "auth: ignored (no authentication provider is configured)"),
        ("notifications", {"events": {"includereferences": True}}, "notifications: ignored"),
        ("notifications", {"endpoints": []}, "notifications: ignored"),
        ("proxy", {"username": "u"}, "proxy: ignored"),
        ("middleware", {"storage": []}, "middleware: ignored"),
        (
            "redis",
            {"addr": "localhost:6379"},
            "redis: ignored (only used by storage.cache.blobdescriptor: redis)",
        ),
    ],
)
def test_inactive_unsupported_section_is_only_a_warning(section: str, value: Any, warning: str) -> None:
    config = parse_config(with_keys(**{section: value}))
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith(warning)


def test_tls_without_a_certificate_is_only_a_warning() -> None:
    config = parse_config(with_keys(http={"tls": {"minimumtls": "tls1.2"}}))
    assert config.warnings == ("http.tls: ignored (TLS is off without a certificate or letsencrypt)",)


# --------------------------------------------------------------------------- unknown and ignored keys


def test_ignored_and_unknown_keys_are_warnings() -> None:
    config = parse(
        """
        version: 0.1
        loglevel: debug
        log:
          hooks: [{type: mail}]
          colour: true
        http:
          secret: asecretforlocaldevelopment
          debug: {addr: localhost:5001, prometheus: {enabled: true}}
          draintimeout: 60s
          http2: {disabled: false}
        storage:
          inmemory:
          redirect: {disable: false}
          tag: {concurrencylimit: 8}
          delete: {enabled: true, soft: true}
        health:
          file: [{file: /tmp/down}]
        reporting: {bugsnag: {apikey: k}}
        validation: {disabled: true}
        compatibility: {schema1: {enabled: true}}
        frobnicate: 1
        """
    )
    assert config.warnings == (
        "loglevel: ignored (deprecated by distribution, which ignores it too; use log.level)",
        "log.hooks: ignored (wharf has no log hooks)",
        "log.colour: unknown key",
        "http.secret: ignored (wharf keeps no signed state with clients)",
        "http.debug: ignored (wharf has no debug server)",
        "http.draintimeout: ignored (not configurable in wharf)",
        "http.http2: ignored (not configurable in wharf)",
        "storage.redirect: ignored (the filesystem and inmemory drivers never redirect)",
        "storage.tag: ignored (not configurable in wharf)",
        "storage.delete.soft: unknown key",
        "health.file: ignored (wharf has no debug server to report it on)",
        "reporting: ignored (wharf reports to neither bugsnag nor newrelic)",
        "validation: ignored (manifest URL validation is not configurable in wharf)",
        "compatibility: ignored (schema1 handling is not configurable in wharf)",
        "frobnicate: unknown key",
    )
    assert config.storage.delete.enabled is True


def test_unknown_storage_key_is_a_warning_not_a_driver() -> None:
    config = parse_config({"storage": {"inmemory": None, "ceph": {}}})
    assert config.warnings == ("storage.ceph: unknown key",)


def test_keys_are_case_sensitive_in_files_like_distribution() -> None:
    config = parse_config({"storage": {"inmemory": None}, "Log": {"level": "debug"}})
    assert config.log.level == "info"
    assert config.warnings == ("Log: unknown key",)


def test_a_warnings_key_in_the_file_is_unknown() -> None:
    config = parse_config(with_keys(warnings=["injected"]))
    assert config.warnings == ("warnings: unknown key",)


def test_non_string_keys_are_unknown() -> None:
    config = parse("storage: {inmemory: }\n1: one\n")
    assert config.warnings == ("1: unknown key",)


# --------------------------------------------------------------------------- environment overrides


def test_env_overrides_nested_value() -> None:
    config = parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/somewhere"})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/somewhere")


def test_env_values_parse_as_yaml() -> None:
    config = parse(
        DISTRIBUTION_EXAMPLE,
        {
            "REGISTRY_STORAGE_DELETE_ENABLED": "false",
            "REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD": "10",
            "REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS": "[nosniff, other]",
            "REGISTRY_HTTP_ADDR": "127.0.0.1:6000",
            "REGISTRY_LOG_LEVEL": "debug",
        },
    )
    assert config.storage.delete.enabled is False
    assert config.health.storagedriver.threshold == 10
    assert config.http.headers == {"X-Content-Type-Options": ["nosniff", "other"]}
    assert (config.http.bind_host, config.http.bind_port) == ("127.0.0.1", 6000)
    assert config.log.level == "debug"


def test_env_matches_existing_keys_case_insensitively() -> None:
    raw = {"storage": {"inmemory": None}, "http": {"Headers": {"X-Custom": ["a"]}}}
    config = parse_config(raw, {"REGISTRY_HTTP_HEADERS_X-CUSTOM": "b"})
    # The file's spelling is kept; no second, lower-case key appears next to it.
    assert config.warnings == ("http.Headers: unknown key",)
    config = parse_config(
        {"storage": {"inmemory": None}, "http": {"headers": {"X-Custom": ["a"]}}},
        {"REGISTRY_HTTP_HEADERS_X-CUSTOM": "b"},
    )
    assert config.http.headers == {"X-Custom": ["b"]}


def test_env_creates_missing_keys_in_lower_case() -> None:
    config = parse_config(
        MINIMAL,
        {
            "REGISTRY_LOG_FIELDS_ENVIRONMENT": "staging",
            "REGISTRY_GC_ENABLED": "true",
            "REGISTRY_GC_INTERVAL": "1h",
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true",
        },
    )
    assert config.log.fields == {"environment": "staging"}
    assert (config.gc.enabled, config.gc.interval) == (True, 3600.0)
    assert config.storage.maintenance.readonly.enabled is True


def test_env_replaces_a_null_section() -> None:
    config = parse("storage:\n  inmemory:\nlog:\n", {"REGISTRY_LOG_LEVEL": "error"})
    assert config.log.level == "error"


def test_env_can_set_a_whole_section_as_yaml() -> None:
    config = parse_config(MINIMAL, {"REGISTRY_LOG": "{level: debug, formatter: json}"})
    assert (config.log.level, config.log.formatter) == ("debug", "json")


@pytest.mark.parametrize("driver", ["inmemory", "INMEMORY"])
def test_env_storage_switches_the_driver(driver: str) -> None:
    config = parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_STORAGE": driver})
    assert config.storage.driver_name == "inmemory"
    assert config.storage.filesystem is None
    # Settings shared by every driver stay.
    assert config.storage.delete.enabled is True
    assert config.storage.cache.blobdescriptor == "inmemory"


def test_env_storage_switch_then_fill_the_new_driver() -> None:
    config = parse(
        "storage:\n  inmemory:\n",
        {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv", "REGISTRY_STORAGE": "filesystem"},
    )
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/srv")
    assert config.storage.inmemory is None


def test_env_storage_switch_to_the_same_driver_keeps_its_settings() -> None:
    config = parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_STORAGE": "filesystem"})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/var/lib/registry")


def test_env_storage_switch_to_unsupported_driver() -> None:
    with pytest.raises(
        UnsupportedConfig, match=r"^storage\.s3: the s3 storage driver .* \(set by REGISTRY_STORAGE\)$"
    ):
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_BUCKET": "b"})


def test_env_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"})
    assert str(caught.value) == (
        "storage.delete.enabled: expected a boolean, got 'maybe' (set by REGISTRY_STORAGE_DELETE_ENABLED)"
    )


def test_env_auth_is_unsupported() -> None:
    with pytest.raises(
        UnsupportedConfig, match=r"^auth\.htpasswd: .*\(set by REGISTRY_AUTH_HTPASSWD_PATH\)$"
    ):
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd"})


def test_env_invalid_yaml() -> None:
    with pytest.raises(
        ConfigError, match=r"^REGISTRY_HTTP_HEADERS: expected a YAML value, got '\[unclosed'$"
    ):
        parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_HTTP_HEADERS": "[unclosed"})


def test_env_ignores_other_variables_and_the_config_path() -> None:
    config = parse(
        DISTRIBUTION_EXAMPLE,
        {
            "REGISTRY_CONFIGURATION_PATH": "/etc/docker/registry/config.yml",
            "HOME": "/root",
            "registry_x": "1",
        },
    )
    assert config.warnings == ()


def test_kubernetes_service_variables_are_only_warnings() -> None:
    # A Kubernetes Service named "registry" puts these in every pod of its namespace.
    config = parse(
        DISTRIBUTION_EXAMPLE,
        {
            "REGISTRY_PORT": "tcp://10.0.0.1:5000",
            "REGISTRY_PORT_5000_TCP": "tcp://10.0.0.1:5000",
            "REGISTRY_SERVICE_HOST": "10.0.0.1",
        },
    )
    assert config.warnings == (
        "REGISTRY_PORT_5000_TCP: ignored, a value on its path is not a mapping",
        "port: unknown key (set by REGISTRY_PORT)",
        "service: unknown key (set by REGISTRY_SERVICE_HOST)",
    )


def test_env_ignored_key_warning_names_the_variable() -> None:
    config = parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_HTTP_SECRET": "s3cret"})
    assert config.warnings == (
        "http.secret: ignored (wharf keeps no signed state with clients) (set by REGISTRY_HTTP_SECRET)",
    )


def test_env_empty_segment_is_ignored() -> None:
    config = parse(DISTRIBUTION_EXAMPLE, {"REGISTRY_HTTP__ADDR": ":1"})
    assert config.warnings == ("REGISTRY_HTTP__ADDR: ignored, an empty key between underscores",)
    assert config.http.addr == ":5000"


def test_env_does_not_change_the_callers_mapping() -> None:
    raw = yaml.safe_load(DISTRIBUTION_EXAMPLE)
    parse_config(raw, {"REGISTRY_STORAGE_DELETE_ENABLED": "false", "REGISTRY_STORAGE": "inmemory"})
    assert raw == yaml.safe_load(DISTRIBUTION_EXAMPLE)


# --------------------------------------------------------------------------- files


def test_load_config_reads_env_path(example_file: Path) -> None:
    config = load_config(None, environ={"REGISTRY_CONFIGURATION_PATH": str(example_file)})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory="/var/lib/registry")


def test_load_config_applies_env(example_file: Path) -> None:
    config = load_config(example_file, environ={"REGISTRY_HTTP_ADDR": ":6000"})
    assert config.http.bind_port == 6000


def test_load_config_accepts_str_path(example_file: Path) -> None:
    assert load_config(str(example_file), environ={}).storage.driver_name == "filesystem"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read the configuration file: No such file"):
        load_config(missing, environ={})


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nstorage:\n  filesystem: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{path}: invalid YAML: .* at line \d+, column \d+$"):
        load_config(path, environ={})


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "a string")])
def test_non_mapping_document(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{path}: expected a mapping of configuration keys, got {kind}$"):
        load_config(path, environ={})


def test_parse_config_rejects_non_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^config: expected a mapping of configuration keys, got a list$"):
        parse_config([1, 2])  # type: ignore[arg-type]


def test_empty_file_needs_a_driver(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"^storage: exactly one storage driver"):
        load_config(path, environ={})


def test_empty_file_with_env_driver(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("")
    assert load_config(path, environ={"REGISTRY_STORAGE": "inmemory"}).storage.driver_name == "inmemory"


# --------------------------------------------------------------------------- the embedded default


def test_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})

    assert config == default_config({})
    assert (config.http.bind_host, config.http.bind_port) == ("0.0.0.0", 5000)
    assert config.storage.filesystem == FilesystemConfig(rootdirectory=str(tmp_path / "data"))
    assert config.storage.delete.enabled is True
    assert config.warnings == ()


def test_embedded_default_is_a_distribution_config_file() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG)
    assert raw["version"] == 0.1
    assert raw["storage"]["filesystem"]["rootdirectory"] == "./data"


def test_embedded_default_data_dir_from_wharf_data(tmp_path: Path) -> None:
    config = default_config({"WHARF_DATA": str(tmp_path / "blobs")})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory=str(tmp_path / "blobs"))


def test_embedded_default_relative_wharf_data_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = default_config({"WHARF_DATA": "store"})
    assert config.storage.filesystem == FilesystemConfig(rootdirectory=os.path.join(tmp_path, "store"))


def test_embedded_default_takes_env_overrides() -> None:
    config = default_config({"REGISTRY_STORAGE": "inmemory", "REGISTRY_HTTP_ADDR": "localhost:5001"})
    assert config.storage.driver_name == "inmemory"
    assert config.storage.delete.enabled is True
    assert config.http.bind_port == 5001


def test_empty_config_path_variable_means_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={"REGISTRY_CONFIGURATION_PATH": ""})
    assert config.storage.driver_name == "filesystem"
