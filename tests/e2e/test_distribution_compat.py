"""Storage compatibility with distribution: what one registry wrote to a root directory, the other serves.

These always run wharf against Debian's distribution binary, whatever WHARF_E2E_SERVER says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DockerEngine, LocalImage, ServerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def listing(url: str) -> tuple[object, object]:
    catalog = httpx.get(f"{url}/v2/_catalog", timeout=30.0)
    tags = httpx.get(f"{url}/v2/compat/app/tags/list", timeout=30.0)
    assert catalog.status_code == tags.status_code == 200
    return catalog.json(), tags.json()


@pytest.mark.parametrize(("writer", "reader"), [("distribution", "wharf"), ("wharf", "distribution")])
def test_image_pushed_to_one_is_pulled_from_the_other(
    writer: str,
    reader: str,
    server_factory: ServerFactory,
    dockerd: DockerEngine,
    image_factory: Callable[..., LocalImage],
) -> None:
    image = image_factory(files=2)
    first = server_factory(writer)
    repository = f"{first.addr}/compat/app"
    dockerd.docker("tag", image.tag, f"{repository}:1")
    pushed = dockerd.push(f"{repository}:1")
    written = listing(first.url)
    image_id = dockerd.docker("inspect", "--format", "{{.Id}}", image.tag).stdout.strip()
    dockerd.docker("rmi", image.tag, f"{repository}:1")
    first.stop()

    second = server_factory(reader, root=first.root, port=first.port)
    try:
        pulled = dockerd.docker("pull", f"{repository}:1").stdout

        assert f"Digest: {pushed.digest}" in pulled
        assert dockerd.read_files(f"{repository}:1", image.files) == image.files
        assert listing(second.url) == written
    finally:
        dockerd.docker("rmi", "--force", image_id, check=False)
