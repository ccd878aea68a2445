"""wharf.api.blobs.parse_range: a GET's ``Range: bytes=``, in ASCII digits only."""

from __future__ import annotations

import pytest

from wharf.api.blobs import ByteRange, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [("bytes=0-9", ByteRange(0, 9)), ("bytes=5-", ByteRange(5, 99)), ("bytes=-10", ByteRange(90, 99))],
)
def test_a_byte_range_is_read(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 100) == expected


# \d also matches these, and int() reads them: "bytes=١-٢" was served as bytes 1-2.
@pytest.mark.parametrize("header", ["bytes=١-٢", "bytes=１-２", "bytes=0-٩", "bytes=-٩", "bytes=۵-"])
def test_other_digits_are_not_a_byte_range_and_are_ignored(header: str) -> None:
    assert parse_range(header, 100) is None
