"""wharf.digest: the OCI digest grammar, the registered algorithms, and nothing that could become a path."""

from __future__ import annotations

import hashlib

import pytest

from wharf.digest import ALGORITHMS, Digest, new_hasher
from wharf.errors import DigestInvalid

SHA256_HEX = hashlib.sha256(b"hello").hexdigest()
SHA512_HEX = hashlib.sha512(b"hello").hexdigest()


def test_sha256_parses_into_algorithm_and_hex() -> None:
    digest = Digest.parse(f"sha256:{SHA256_HEX}")
    assert (digest.algorithm, digest.hex) == ("sha256", SHA256_HEX)
    assert str(digest) == f"sha256:{SHA256_HEX}"


def test_sha512_parses() -> None:
    digest = Digest.parse(f"sha512:{SHA512_HEX}")
    assert (digest.algorithm, digest.hex) == ("sha512", SHA512_HEX)


def test_of_hashes_with_the_requested_algorithm() -> None:
    assert Digest.of(b"hello") == Digest("sha256", SHA256_HEX)
    assert Digest.of(b"hello", "sha512") == Digest("sha512", SHA512_HEX)


def test_parsed_digests_compare_and_hash_by_value() -> None:
    text = f"sha256:{SHA256_HEX}"
    assert Digest.parse(text) == Digest.parse(text)
    assert len({Digest.parse(text), Digest.parse(text)}) == 1


def test_hasher_matches_the_digest_algorithm() -> None:
    for algorithm in ALGORITHMS:
        hasher = Digest.of(b"", algorithm).hasher()
        hasher.update(b"hello")
        assert hasher.hexdigest() == hashlib.new(algorithm, b"hello").hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        f"md5:{hashlib.md5(b'x').hexdigest()}",
        f"sha384:{hashlib.sha384(b'x').hexdigest()}",
        f"blake3:{SHA256_HEX}",
        f"sha256+b64u:{SHA256_HEX}",  # well formed, but not a registered algorithm
    ],
)
def test_a_well_formed_digest_of_an_unregistered_algorithm_is_refused(text: str) -> None:
    with pytest.raises(DigestInvalid, match="unsupported digest algorithm"):
        Digest.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        f"sha256:{SHA256_HEX[:-1]}",  # 63
        f"sha256:{SHA256_HEX}0",  # 65
        f"sha256:{SHA512_HEX}",  # a sha512 length under sha256
        f"sha512:{SHA256_HEX}",
        "sha256:abc",
    ],
)
def test_wrong_length_is_refused(text: str) -> None:
    with pytest.raises(DigestInvalid, match="64|128"):
        Digest.parse(text)


def test_upper_case_hex_is_refused() -> None:
    with pytest.raises(DigestInvalid, match="lower-case hex"):
        Digest.parse(f"sha256:{SHA256_HEX.upper()}")


def test_non_hex_of_the_right_length_is_refused() -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse("sha256:" + "g" * 64)


@pytest.mark.parametrize(
    "text",
    [
        "sha256:../../x",
        "sha256:..%2F..%2Fx",
        f"sha256:{SHA256_HEX[:30]}/{SHA256_HEX[31:]}",
        f"../sha256:{SHA256_HEX}",
        f"sha256/../..:{SHA256_HEX}",
        f"/sha256:{SHA256_HEX}",
    ],
)
def test_traversal_never_parses(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":",
        "sha256",
        "sha256:",
        f":{SHA256_HEX}",
        f"SHA256:{SHA256_HEX}",  # algorithm components are lower case
        f"sha256::{SHA256_HEX}",
        f"sha256 :{SHA256_HEX}",
        f"sha256: {SHA256_HEX}",
        f" sha256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX}\n",
        f"sha256:{SHA256_HEX}\x00",
        f"-sha256:{SHA256_HEX}",  # a separator cannot start the algorithm
        f"sha256-:{SHA256_HEX}",  # ... or end it
        f"sha256:{SHA256_HEX[:-1]}é",
    ],
)
def test_grammar_violations_are_refused(text: str) -> None:
    with pytest.raises(DigestInvalid) as caught:
        Digest.parse(text)
    assert caught.value.code == "DIGEST_INVALID"
    assert caught.value.status == 400


def test_an_overlong_digest_is_refused_and_its_detail_is_bounded() -> None:
    with pytest.raises(DigestInvalid) as caught:
        Digest.parse("sha256:" + "a" * 100_000)
    assert len(str(caught.value.detail)) < 400


def test_error_message_is_the_short_one_and_detail_says_why() -> None:
    with pytest.raises(DigestInvalid) as caught:
        Digest.parse("sha256:abc")
    entry = caught.value.to_dict()
    assert entry["code"] == "DIGEST_INVALID"
    assert entry["message"] == "invalid digest"
    assert "64" in entry["detail"]


def test_is_digest_means_shaped_like_one_not_valid() -> None:
    assert Digest.is_digest("sha256:nonsense")
    assert not Digest.is_digest("latest")


def test_new_hasher_refuses_unregistered_algorithms() -> None:
    with pytest.raises(DigestInvalid):
        new_hasher("md5")


def test_digests_sort_by_algorithm_then_hex() -> None:
    a, b = Digest("sha256", "0" * 64), Digest("sha256", "f" * 64)
    c = Digest("sha512", "0" * 128)
    assert sorted([c, b, a]) == [a, b, c]
