"""wharf.registry.mediatypes: parsing a manifest body against its media type."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Blob,
    image_manifest,
    index_manifest,
)
from wharf.digest import Digest
from wharf.errors import ManifestInvalid
from wharf.registry.mediatypes import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MAX_DEPTH,
    parse_manifest,
    strip_params,
)

CONFIG = Blob(b'{"architecture":"amd64","os":"linux"}', OCI_CONFIG)
LAYER = Blob(b"layer one", OCI_LAYER)
LAYER2 = Blob(b"layer two", OCI_LAYER)
FOREIGN_DOCKER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
FOREIGN_OCI = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def oci_image(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(image_manifest(CONFIG, [LAYER, LAYER2]))
    document.update(changes)
    return document


def invalid(body: bytes, content_type: str | None = OCI_MANIFEST) -> ManifestInvalid:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(body, content_type=content_type)
    assert caught.value.code == "MANIFEST_INVALID"
    assert caught.value.status == 400
    return caught.value


# the four media types


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_image_manifests_parse_with_config_and_layers(media_type: str) -> None:
    config = Blob(CONFIG.data, DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG)
    layers = [Blob(b"a", DOCKER_LAYER), Blob(b"b", DOCKER_LAYER)]
    body = image_manifest(config, layers, media_type=media_type)
    manifest = parse_manifest(body, content_type=media_type)
    assert manifest.media_type == media_type
    assert manifest.body == body
    assert manifest.digest == Digest("sha256", hashlib.sha256(body).hexdigest())
    assert manifest.config is not None and str(manifest.config.digest) == config.digest
    assert [str(d.digest) for d in manifest.layers] == [layer.digest for layer in layers]
    assert [str(d.digest) for d in manifest.blobs] == [config.digest, *(layer.digest for layer in layers)]
    assert manifest.manifests == ()
    assert not manifest.is_index


@pytest.mark.parametrize(
    ("media_type", "child_type"), [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)]
)
def test_indexes_parse_with_their_children(media_type: str, child_type: str) -> None:
    children = [(b'{"a":1}', child_type), (b'{"b":2}', child_type)]
    body = index_manifest(children, media_type=media_type)
    manifest = parse_manifest(body, content_type=media_type)
    assert manifest.media_type == media_type
    assert manifest.is_index
    assert [d.media_type for d in manifest.manifests] == [child_type, child_type]
    assert [d.platform for d in manifest.manifests] == [
        {"architecture": "arch0", "os": "linux"},
        {"architecture": "arch1", "os": "linux"},
    ]
    assert manifest.blobs == ()
    assert manifest.config is None


def test_an_empty_index_is_valid() -> None:
    manifest = parse_manifest(index_manifest([]), content_type=OCI_INDEX)
    assert manifest.manifests == ()


def test_an_oci_manifest_may_have_no_layers() -> None:
    manifest = parse_manifest(body_of(oci_image(layers=[])), content_type=OCI_MANIFEST)
    assert manifest.layers == ()


def test_the_digest_algorithm_follows_the_requested_digest() -> None:
    body = image_manifest(CONFIG, [LAYER])
    manifest = parse_manifest(body, content_type=OCI_MANIFEST, digest=Digest("sha512", "0" * 128))
    assert manifest.digest == Digest("sha512", hashlib.sha512(body).hexdigest())


def test_subject_artifact_type_and_annotations_are_read() -> None:
    subject = Blob(b"subject manifest", OCI_MANIFEST)
    document = oci_image(
        subject=subject.descriptor(), artifactType="application/vnd.example.sbom", annotations={"k": "v"}
    )
    manifest = parse_manifest(body_of(document), content_type=OCI_MANIFEST)
    assert manifest.subject is not None and str(manifest.subject.digest) == subject.digest
    assert manifest.artifact_type == "application/vnd.example.sbom"
    assert manifest.annotations == {"k": "v"}
    assert manifest.referrer_artifact_type() == "application/vnd.example.sbom"


def test_referrer_artifact_type_falls_back_to_the_config_media_type() -> None:
    manifest = parse_manifest(image_manifest(CONFIG, [LAYER]), content_type=OCI_MANIFEST)
    assert manifest.referrer_artifact_type() == OCI_CONFIG


# schema1


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED])
def test_schema1_content_types_are_refused_saying_so(content_type: str) -> None:
    body = body_of({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": [], "history": []})
    error = invalid(body, content_type)
    assert "schema1" in str(error.detail)


@pytest.mark.parametrize("content_type", [None, "application/json", OCI_MANIFEST])
def test_a_schema1_body_is_refused_whatever_the_content_type(content_type: str | None) -> None:
    body = body_of({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": [], "history": []})
    assert "schema1" in str(invalid(body, content_type).detail)


def test_a_declared_schema1_media_type_is_refused() -> None:
    body = body_of({"schemaVersion": 2, "mediaType": DOCKER_SCHEMA1, "config": CONFIG.descriptor()})
    assert "schema1" in str(invalid(body, None).detail)


# media type and Content-Type


@pytest.mark.parametrize(
    ("declared", "content_type"),
    [
        (DOCKER_MANIFEST, OCI_MANIFEST),
        (OCI_MANIFEST, DOCKER_MANIFEST),
        (OCI_INDEX, DOCKER_LIST),
        (OCI_MANIFEST, OCI_INDEX),
    ],
)
def test_a_media_type_that_disagrees_with_the_content_type_is_refused(
    declared: str, content_type: str
) -> None:
    document = oci_image(mediaType=declared)
    assert "does not match" in str(invalid(body_of(document), content_type).detail)


def test_content_type_parameters_are_ignored() -> None:
    body = image_manifest(CONFIG, [LAYER])
    manifest = parse_manifest(body, content_type=f"{OCI_MANIFEST}; charset=utf-8")
    assert manifest.media_type == OCI_MANIFEST


def test_strip_params_lowers_and_strips() -> None:
    assert strip_params(" Application/JSON ; charset=utf-8") == "application/json"
    assert strip_params(None) == ""


def test_an_unknown_content_type_is_refused() -> None:
    document = oci_image()
    del document["mediaType"]
    assert "unsupported manifest media type" in str(
        invalid(body_of(document), "application/vnd.example+json").detail
    )


def test_an_unknown_declared_media_type_is_refused() -> None:
    assert "unsupported" in str(
        invalid(body_of(oci_image(mediaType="application/vnd.example+json")), None).detail
    )


def test_an_image_body_under_an_index_content_type_is_refused() -> None:
    document = oci_image()
    del document["mediaType"]
    invalid(body_of(document), OCI_INDEX)


def test_an_index_body_under_an_image_content_type_is_refused() -> None:
    document = json.loads(index_manifest([(b"{}", OCI_MANIFEST)]))
    del document["mediaType"]
    invalid(body_of(document), OCI_MANIFEST)


def test_an_index_with_config_or_layers_is_refused() -> None:
    document = json.loads(index_manifest([]))
    document["layers"] = []
    invalid(body_of(document), OCI_INDEX)


# inference when the Content-Type says nothing


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "application/octet-stream", "text/plain"]
)
def test_the_declared_media_type_is_used_without_a_content_type(content_type: str | None) -> None:
    config = Blob(CONFIG.data, DOCKER_CONFIG)
    body = image_manifest(config, [Blob(b"x", DOCKER_LAYER)], media_type=DOCKER_MANIFEST)
    assert parse_manifest(body, content_type=content_type).media_type == DOCKER_MANIFEST


def test_without_any_media_type_an_image_is_inferred_as_oci() -> None:
    document = oci_image()
    del document["mediaType"]
    assert parse_manifest(body_of(document), content_type=None).media_type == OCI_MANIFEST


def test_without_any_media_type_an_index_is_inferred_as_oci() -> None:
    document = json.loads(index_manifest([(b"{}", OCI_MANIFEST)]))
    del document["mediaType"]
    assert parse_manifest(body_of(document), content_type=None).media_type == OCI_INDEX


def test_a_content_type_alone_names_the_type_of_a_body_without_media_type() -> None:
    document = oci_image()
    del document["mediaType"]
    assert parse_manifest(body_of(document), content_type=OCI_MANIFEST).media_type == OCI_MANIFEST


# bodies that are not manifests


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b"[]", b'"string"', b"42", b"null", b"\xff\xfe{}", b'{"a": NaN'],
)
def test_bodies_that_are_not_a_json_object_are_refused(body: bytes) -> None:
    invalid(body)


@pytest.mark.parametrize("version", [None, 3, "2", 2.5, 2.0, True, False])
def test_schema_version_must_be_2(version: object) -> None:
    document = oci_image()
    if version is None:
        del document["schemaVersion"]
    else:
        document["schemaVersion"] = version
    assert "schemaVersion" in str(invalid(body_of(document)).detail)


def test_media_type_must_be_a_string() -> None:
    invalid(body_of(oci_image(mediaType=["x"])), None)


def test_json_nested_deeper_than_the_limit_is_refused_before_parsing() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert "deeper" in str(invalid(body).detail)


def test_deep_nesting_inside_an_annotation_object_is_refused() -> None:
    nested: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        nested = {"k": nested}
    invalid(body_of(oci_image(annotations={"a": "b"}, extra=nested)))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    brackets = "[{" * (MAX_DEPTH * 4) + '\\"'
    document = oci_image(annotations={"brackets": brackets})
    assert parse_manifest(body_of(document), content_type=OCI_MANIFEST).annotations == {"brackets": brackets}


# descriptors


def descriptor(**changes: Any) -> dict[str, Any]:
    value = LAYER.descriptor()
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (descriptor(digest=None), "layers[0].digest"),
        (descriptor(digest="sha256:abc"), "layers[0].digest"),
        (descriptor(digest="sha256:../../x"), "layers[0].digest"),
        (descriptor(digest="md5:d41d8cd98f00b204e9800998ecf8427e"), "layers[0].digest"),
        (descriptor(digest=42), "layers[0].digest"),
        (descriptor(size=None), "layers[0].size"),
        (descriptor(size=-1), "layers[0].size"),
        (descriptor(size="12"), "layers[0].size"),
        (descriptor(size=1.5), "layers[0].size"),
        (descriptor(size=True), "layers[0].size"),
        (descriptor(mediaType=None), "layers[0].mediaType"),
        (descriptor(mediaType=""), "layers[0].mediaType"),
        (descriptor(mediaType=7), "layers[0].mediaType"),
        (descriptor(annotations={"k": 1}), "layers[0].annotations"),
        ("sha256:abc", "layers[0]"),
    ],
)
def test_invalid_layer_descriptors_are_refused_naming_the_field(bad: Any, says: str) -> None:
    assert says in str(invalid(body_of(oci_image(layers=[bad]))).detail)


def test_a_missing_config_is_refused() -> None:
    document = oci_image()
    del document["config"]
    assert "config" in str(invalid(body_of(document)).detail)


def test_layers_must_be_a_list() -> None:
    assert "layers" in str(invalid(body_of(oci_image(layers={"a": 1}))).detail)


def test_an_index_without_manifests_is_refused() -> None:
    assert "manifests" in str(
        invalid(body_of({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX).detail
    )


def test_an_invalid_child_descriptor_is_refused() -> None:
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST}]}
    assert "manifests[0]" in str(invalid(body_of(document), OCI_INDEX).detail)


def test_an_invalid_subject_is_refused() -> None:
    assert "subject" in str(invalid(body_of(oci_image(subject={"digest": "nope"}))).detail)


def test_annotations_must_be_a_map_of_strings() -> None:
    invalid(body_of(oci_image(annotations=["a"])))
    invalid(body_of(oci_image(annotations={"a": 1})))


def test_artifact_type_must_be_a_string() -> None:
    invalid(body_of(oci_image(artifactType=1)))


# foreign layers


@pytest.mark.parametrize("media_type", [FOREIGN_DOCKER, FOREIGN_OCI])
def test_foreign_and_non_distributable_layers_are_not_required(media_type: str) -> None:
    foreign = Blob(b"windows base layer", media_type)
    layers = [foreign.descriptor(urls=["https://example.com/layer"]), LAYER.descriptor()]
    manifest = parse_manifest(body_of(oci_image(layers=layers)), content_type=OCI_MANIFEST)
    assert [d.is_foreign for d in manifest.layers] == [True, False]
    assert [str(d.digest) for d in manifest.blobs] == [CONFIG.digest, LAYER.digest]
