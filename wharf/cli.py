"""The command line: ``wharf serve [CONFIG]`` (also installed as ``registry``).

Parses arguments, loads the config, calls in. No registry logic lives here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from wharf import __version__
from wharf.config import Config, ConfigError, load_config
from wharf.log import configure_logging

__all__ = ["main"]

_log = logging.getLogger("wharf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wharf",
        description="wharf: a container image registry (Docker Registry HTTP API V2 and OCI Distribution 1.1). "
        "It reads distribution's config.yml and serves distribution's storage layout.",
    )
    parser.add_argument("--version", action="version", version=f"wharf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the registry",
        description="Run the registry. CONFIG is a distribution config.yml; without it, "
        "$REGISTRY_CONFIGURATION_PATH, else the embedded default (listen on :5000, filesystem "
        "storage in ./data, deletes enabled). REGISTRY_* environment variables override config keys "
        "(REGISTRY_HTTP_ADDR=:6000, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv/registry).",
    )
    serve.add_argument("config", nargs="?", metavar="CONFIG", help="path to config.yml")
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WHARF_WORKERS", "1")),
        help="worker processes (default: $WHARF_WORKERS or 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        sys.exit(2)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"wharf: configuration error: {exc}", file=sys.stderr)
        sys.exit(1)
    configure_logging(config.log)
    for warning in config.warnings:
        _log.warning("config: %s", warning)
    if args.command == "serve":
        _serve(config, args)


def _serve(config: Config, args: argparse.Namespace) -> None:
    from wharf.api.server import ServeError, serve

    try:
        serve(config, config_path=args.config, workers=max(args.workers, 1))
    except ServeError as exc:
        _log.error("%s", exc)
        sys.exit(1)
