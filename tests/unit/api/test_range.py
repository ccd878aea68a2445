"""wharf.api.blobs.parse_range: a GET's ``Range: bytes=``, in ASCII digits only."""

from __future__ import annotations

import pytest

from wharf.api.blobs import ByteRange, parse_range
from wharf.errors import RangeInvalid


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


HUGE = "9" * 5000  # past int()'s 4,300-digit limit: was a 500


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"bytes=0-{HUGE}", ByteRange(0, 99)),  # the end is clipped to the blob
        (f"bytes=10-{HUGE}", ByteRange(10, 99)),
        (f"bytes=-{HUGE}", ByteRange(0, 99)),  # a suffix longer than the blob is all of it
        ("bytes=0000000000000000000000000000005-9", ByteRange(5, 9)),  # leading zeros are no size
    ],
)
def test_positions_of_any_length_are_read(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", "bytes=100-"])
def test_a_start_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeInvalid) as caught:
        parse_range(header, 100)
    assert caught.value.headers == {"content-range": "bytes */100"}
