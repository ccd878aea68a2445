"""Registry.repository: one view per name, reused, and bounded."""

from __future__ import annotations

from wharf.reference import RepositoryName
from wharf.registry import namespace
from wharf.registry.namespace import Registry
from wharf.storage.driver.memory import MemoryDriver


def test_a_repository_view_is_reused_for_its_name() -> None:
    registry = Registry(MemoryDriver())
    a = registry.repository(RepositoryName("team/a"))
    assert registry.repository(RepositoryName("team/a")) is a
    assert registry.repository(RepositoryName("team/b")) is not a
    assert a.name == RepositoryName("team/a") and a.manifests.name == a.name


def test_views_kept_are_bounded() -> None:
    registry = Registry(MemoryDriver())
    for i in range(namespace._MAX_VIEWS + 10):
        registry.repository(RepositoryName(f"r{i}"))
    assert len(registry._views) <= namespace._MAX_VIEWS
