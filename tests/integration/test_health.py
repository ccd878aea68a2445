"""``/debug/health`` and ``health.storagedriver``: after ``threshold`` failed checks, 503s."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.helpers import error_codes, push_image
from tests.integration.conftest import ClientFactory
from tests.integration.fakes import FlakyDriver
from wharf.storage.driver import StorageDriver

INTERVAL = 0.05


async def health_check_client(
    client_factory: ClientFactory, storage: StorageDriver, *, threshold: int, **overrides: object
) -> tuple[httpx.AsyncClient, FlakyDriver]:
    driver = FlakyDriver(storage)
    client = await client_factory(
        driver=driver,
        **{
            "health.storagedriver.enabled": True,
            "health.storagedriver.interval": f"{int(INTERVAL * 1000)}ms",
            "health.storagedriver.threshold": threshold,
        },
        **overrides,
    )
    return client, driver


async def wait_for_status(client: httpx.AsyncClient, status: int, *, timeout: float = 5.0) -> httpx.Response:
    """Poll /debug/health until it answers ``status`` (a few check intervals at most)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/debug/health")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(INTERVAL / 2)


async def wait_for_calls(driver: FlakyDriver, count: int, *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while driver.calls.get("stat", 0) < count and time.monotonic() < deadline:
        await asyncio.sleep(INTERVAL / 5)


async def test_health_is_200_and_empty_without_checks(client: httpx.AsyncClient) -> None:
    response = await client.get("/debug/health")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"].startswith("application/json")


async def test_health_is_200_while_the_storage_answers(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    client, driver = await health_check_client(client_factory, storage, threshold=1)
    await wait_for_calls(driver, 3)
    response = await client.get("/debug/health")
    assert response.status_code == 200
    assert response.json() == {}
    assert (await client.get("/v2/")).status_code == 200


async def test_failing_checks_make_the_registry_unavailable_until_one_passes(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    client, driver = await health_check_client(client_factory, storage, threshold=3)
    body, _ = await push_image(client, "a", "v1")
    driver.failing = True
    started = driver.calls.get("stat", 0)

    down = await wait_for_status(client, 503)
    assert down.status_code == 503
    # it took at least ``threshold`` failed checks in a row
    assert driver.calls["stat"] - started >= 3
    [(check, error)] = down.json().items()
    assert check == f"storagedriver_{storage.name}"
    assert "storage unreachable" in error

    api = await client.get("/v2/")
    assert api.status_code == 503
    assert error_codes(api) == ["UNAVAILABLE"]
    assert api.headers["docker-distribution-api-version"] == "registry/2.0"
    driver.failing = False

    up = await wait_for_status(client, 200)
    assert up.status_code == 200
    assert up.json() == {}
    assert (await client.get("/v2/")).status_code == 200
    assert (await client.get("/v2/a/manifests/v1")).content == body


async def test_fewer_failures_than_the_threshold_leave_it_healthy(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    # A long interval: only the check at start-up runs, so exactly one failure is counted.
    driver = FlakyDriver(storage)
    driver.failing = True
    client = await client_factory(
        driver=driver,
        **{
            "health.storagedriver.enabled": True,
            "health.storagedriver.interval": "1h",
            "health.storagedriver.threshold": 2,
        },
    )
    assert driver.calls["stat"] == 1
    assert (await client.get("/debug/health")).status_code == 200
    assert (await client.get("/v2/")).status_code == 200


async def test_a_single_failure_is_enough_with_threshold_one(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    driver = FlakyDriver(storage)
    driver.failing = True
    client = await client_factory(
        driver=driver,
        **{
            "health.storagedriver.enabled": True,
            "health.storagedriver.interval": "1h",
            "health.storagedriver.threshold": 1,
        },
    )
    assert (await client.get("/debug/health")).status_code == 503
    assert (await client.get("/v2/_catalog")).status_code == 503


async def test_the_check_is_not_run_when_disabled(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    driver = FlakyDriver(storage)
    driver.failing = True
    client = await client_factory(driver=driver, **{"health.storagedriver.enabled": False})
    assert (await client.get("/debug/health")).status_code == 200
    assert (await client.get("/v2/")).status_code == 200


async def test_unavailable_responses_carry_the_configured_headers(
    client_factory: ClientFactory, storage: StorageDriver
) -> None:
    driver = FlakyDriver(storage)
    driver.failing = True
    client = await client_factory(
        driver=driver,
        **{
            "health.storagedriver.enabled": True,
            "health.storagedriver.interval": "1h",
            "health.storagedriver.threshold": 1,
            "http.headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    )
    for path in ("/v2/", "/debug/health"):
        response = await client.get(path)
        assert response.status_code == 503
        assert response.headers["x-content-type-options"] == "nosniff"
