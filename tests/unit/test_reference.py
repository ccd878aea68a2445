"""wharf.reference: repository names and tags by the spec's regular expressions, and manifest references."""

from __future__ import annotations

import hashlib
import re

import pytest

from wharf.digest import Digest
from wharf.errors import DigestInvalid, NameInvalid, TagInvalid
from wharf.reference import MAX_NAME_LENGTH, Reference, RepositoryName, Tag

# The spec's expressions, verbatim (OCI Distribution, "Pulling manifests").
SPEC_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

HEX = hashlib.sha256(b"x").hexdigest()

VALID_NAMES = [
    "a",
    "0",
    "library/alpine",
    "team/app",
    "a/b/c/d/e/f",
    "my.registry/app",
    "a_b",
    "a__b",
    "a-b",
    "a---b",
    "a.b-c_d__e",
    "x1/y2/z3",
    "a" * MAX_NAME_LENGTH,
]

INVALID_NAMES = [
    "",
    "A",
    "Library/alpine",
    "library/Alpine",
    "..",
    ".",
    "../etc",
    "a/../b",
    "a/./b",
    "a/..",
    "/a",
    "a/",
    "a//b",
    "-a",
    "a-",
    "_a",
    "a_",
    ".a",
    "a.",
    "a___b",  # three underscores: neither _ nor __
    "a..b",
    "a._b",
    "a\x00b",
    "a\nb",
    "a\tb",
    "a b",
    "a\x7fb",
    "é",
    "caf\u00e9/app",
    "ａpp",  # full-width a
    "a\u200bb",  # zero-width space
    "a:b",
    "a%2Fb",
    "a\\b",
    "_uploads",
    "app/_manifests",
    "a;b",
]


@pytest.mark.parametrize("text", VALID_NAMES)
def test_valid_names_parse(text: str) -> None:
    assert str(RepositoryName.parse(text)) == text


@pytest.mark.parametrize("text", INVALID_NAMES)
def test_invalid_names_are_refused(text: str) -> None:
    with pytest.raises(NameInvalid) as caught:
        RepositoryName.parse(text)
    assert caught.value.code == "NAME_INVALID"
    assert caught.value.status == 400


@pytest.mark.parametrize("text", VALID_NAMES + INVALID_NAMES)
def test_names_agree_with_the_spec_expression(text: str) -> None:
    spec_ok = bool(SPEC_NAME.fullmatch(text)) and len(text) <= MAX_NAME_LENGTH
    try:
        RepositoryName.parse(text)
    except NameInvalid:
        ours = False
    else:
        ours = True
    assert ours == spec_ok


def test_a_name_over_255_characters_is_refused_with_the_limit_in_the_detail() -> None:
    with pytest.raises(NameInvalid) as caught:
        RepositoryName.parse("a" * (MAX_NAME_LENGTH + 1))
    assert "255" in str(caught.value.detail)


def test_a_long_name_over_many_components_is_refused() -> None:
    name = "/".join(["abcdefg"] * 40)  # 319 characters, every component valid
    assert SPEC_NAME.fullmatch(name)
    with pytest.raises(NameInvalid):
        RepositoryName.parse(name)


def test_an_invalid_name_detail_is_bounded() -> None:
    with pytest.raises(NameInvalid) as caught:
        RepositoryName.parse("A" * 10_000)
    assert len(str(caught.value.detail)) < 400


VALID_TAGS = ["latest", "v1", "1.0.0", "_hidden", "UPPER", "a-b_c.d", "0", "sha256-" + HEX, "x" * 128]
INVALID_TAGS = [
    "",
    "-leading-dash",
    ".leading-dot",
    "x" * 129,
    "a/b",
    "a:b",
    "a b",
    "a\x00",
    "a\n",
    "tag\t",
    "é",
    "v1+build",
    "../x",
    "..",
]


@pytest.mark.parametrize("text", VALID_TAGS)
def test_valid_tags_parse(text: str) -> None:
    assert str(Tag.parse(text)) == text


@pytest.mark.parametrize("text", INVALID_TAGS)
def test_invalid_tags_are_refused(text: str) -> None:
    with pytest.raises(TagInvalid) as caught:
        Tag.parse(text)
    assert caught.value.code == "TAG_INVALID"
    assert caught.value.status == 400


@pytest.mark.parametrize("text", VALID_TAGS + INVALID_TAGS)
def test_tags_agree_with_the_spec_expression(text: str) -> None:
    try:
        Tag.parse(text)
    except TagInvalid:
        ours = False
    else:
        ours = True
    assert ours == bool(SPEC_TAG.fullmatch(text))


def test_a_reference_with_a_colon_is_a_digest() -> None:
    reference = Reference.parse(f"sha256:{HEX}")
    assert reference.digest == Digest("sha256", HEX)
    assert reference.tag is None
    assert str(reference) == f"sha256:{HEX}"


def test_a_reference_without_a_colon_is_a_tag() -> None:
    reference = Reference.parse("latest")
    assert reference.tag == Tag("latest")
    assert reference.digest is None
    assert str(reference) == "latest"


def test_a_malformed_digest_reference_is_digest_invalid_not_a_tag() -> None:
    with pytest.raises(DigestInvalid):
        Reference.parse("sha256:nothex")


@pytest.mark.parametrize("text", ["-x", ".x", "x" * 129, "", "a/b"])
def test_a_malformed_tag_reference_is_tag_invalid(text: str) -> None:
    with pytest.raises(TagInvalid):
        Reference.parse(text)
