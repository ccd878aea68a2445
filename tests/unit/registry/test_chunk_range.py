"""wharf.registry.uploads.ChunkRange: a PATCH's ``Content-Range``, in ASCII digits only."""

from __future__ import annotations

import pytest

from wharf.errors import RangeInvalid
from wharf.registry.uploads import ChunkRange


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("0-9", 0, 9), ("bytes 10-19/20", 10, 19), ("bytes=0-0", 0, 0), (" 5-6/* ", 5, 6)],
)
def test_a_range_is_read(text: str, start: int, end: int) -> None:
    assert ChunkRange.parse(text) == ChunkRange(start, end)


# \d also matches these, and int() reads them: "٠-٩" was read as 0-9.
@pytest.mark.parametrize("text", ["٠-٩", "０-９", "0-٩", "bytes ٠-٩/١٠", "0-9/١٠", "۰-۹"])
def test_other_digits_are_a_malformed_range(text: str) -> None:
    with pytest.raises(RangeInvalid, match="malformed Content-Range"):
        ChunkRange.parse(text)
