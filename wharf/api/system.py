"""``GET /v2/`` (the API version check) and ``GET /debug/health``."""

from __future__ import annotations

from wharf.api.messages import Request, Response
from wharf.api.responses import json_response

__all__ = ["api_version", "health"]


async def api_version(request: Request) -> Response:
    return json_response({})


async def health(request: Request) -> Response:
    """``{}`` when healthy; 503 with each failing check's last error otherwise (distribution's shape)."""
    failures = request.app.state.health.failures()
    return json_response(failures, status=503 if failures else 200)
