"""A property-based test (issue 4): hypothesis drives the in-process API with generated names, digests,
references, query strings, headers and bodies, on the filesystem driver.

Invariants, for every request: no 5xx; every 4xx (but HEAD's) is the OCI error envelope with codes of
capitals and underscores; nothing appears beside the storage root. After the run, ``conftest.py``
checks that no temporary file is left and that every stored blob and manifest is whole.
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.integration.hostile.conftest import RawSender
from tests.integration.oci.support import (
    OCI_INDEX,
    OCI_MANIFEST,
    config,
    layer,
    manifest_of,
    push,
    put_manifest,
)

SEED = "seed/app"
SEED_CONFIG, SEED_LAYER = config(), layer()
SEED_MANIFEST = manifest_of(
    SEED_CONFIG, [SEED_LAYER], subject={"mediaType": OCI_MANIFEST, "size": 1, "digest": SEED_CONFIG.digest}
)
KNOWN_DIGESTS = [SEED_CONFIG.digest, SEED_LAYER.digest, SEED_MANIFEST.digest]

COMPONENT = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}", fullmatch=True)
HOSTILE_TEXT = st.sampled_from(
    [
        "..",
        ".",
        "",
        "/",
        "//",
        "%2e%2e",
        "%2f",
        "%00",
        "\x00",
        "\x01",
        "\n",
        "\u00e9",
        "\u202e",
        "~",
        "\\",
        " ",
        "A",
        "-",
        "_",
        "a" * 300,
        "sha256:",
        ":",
        "?",
        "#",
        "%",
        "%%",
        "%ZZ",
        "%FF",
        "\ud800",
    ]
)
NAMES = st.one_of(
    st.just(SEED),
    st.lists(COMPONENT, min_size=1, max_size=4).map("/".join),
    st.lists(st.one_of(COMPONENT, HOSTILE_TEXT), min_size=1, max_size=4).map("/".join),
    st.text(max_size=40),
)
HEXES = {"sha256": 64, "sha512": 128}
DIGESTS = st.one_of(
    st.sampled_from(KNOWN_DIGESTS),
    st.binary(max_size=16).map(lambda b: "sha256:" + hashlib.sha256(b).hexdigest()),
    st.binary(max_size=16).map(lambda b: "sha512:" + hashlib.sha512(b).hexdigest()),
    st.builds(
        lambda alg, hexes: f"{alg}:{hexes}",
        st.sampled_from(["sha256", "sha512", "md5", "SHA256", "sha256+b64u", "", "a.b"]),
        st.text(alphabet=string.hexdigits + "gz=_-./", max_size=140),
    ),
    HOSTILE_TEXT,
    st.text(max_size=80),
)
TAGS = st.one_of(
    st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}", fullmatch=True), HOSTILE_TEXT, st.text(max_size=140)
)
REFERENCES = st.one_of(TAGS, DIGESTS)
UPLOAD_IDS = st.one_of(st.uuids().map(str), HOSTILE_TEXT, st.text(max_size=50))

ROUTES = st.sampled_from(
    [
        ("GET", "/v2/"),
        ("GET", "/v2/_catalog"),
        ("GET", "/v2/{name}/tags/list"),
        ("GET", "/v2/{name}/manifests/{reference}"),
        ("HEAD", "/v2/{name}/manifests/{reference}"),
        ("PUT", "/v2/{name}/manifests/{reference}"),
        ("DELETE", "/v2/{name}/manifests/{reference}"),
        ("GET", "/v2/{name}/blobs/{digest}"),
        ("HEAD", "/v2/{name}/blobs/{digest}"),
        ("DELETE", "/v2/{name}/blobs/{digest}"),
        ("POST", "/v2/{name}/blobs/uploads/"),
        ("GET", "/v2/{name}/blobs/uploads/{upload}"),
        ("PATCH", "/v2/{name}/blobs/uploads/{upload}"),
        ("PUT", "/v2/{name}/blobs/uploads/{upload}"),
        ("DELETE", "/v2/{name}/blobs/uploads/{upload}"),
        ("GET", "/v2/{name}/referrers/{digest}"),
        ("OPTIONS", "/v2/{name}/manifests/{reference}"),
        ("GET", "/{name}"),
    ]
)
QUERY_KEYS = st.sampled_from(
    ["digest", "mount", "from", "n", "last", "tag", "artifactType", "digest-algorithm", "x"]
)
QUERY_VALUES = st.one_of(DIGESTS, TAGS, NAMES, st.integers(-5, 10**30).map(str), st.text(max_size=30))
QUERIES = st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=4)

LATIN1 = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)
HEADER_VALUES = {
    "content-type": st.one_of(
        st.sampled_from(
            [
                OCI_MANIFEST,
                OCI_INDEX,
                "application/json",
                "application/octet-stream",
                "application/vnd.docker.distribution.manifest.v2+json",
                f"{OCI_MANIFEST}; charset=utf-8",
            ]
        ),
        LATIN1,
    ),
    "content-range": st.one_of(
        st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 10**20), st.integers(-1, 10**20)), LATIN1
    ),
    "range": st.one_of(
        st.builds(
            lambda a, b: f"bytes={a}-{b}",
            st.sampled_from(["", "0", "5", "-1", "99999999999999999999"]),
            st.sampled_from(["", "0", "3", "100000", "x"]),
        ),
        LATIN1,
    ),
    "content-length": st.one_of(st.integers(0, 10**20).map(str), LATIN1),
    "accept": LATIN1,
}
HEADERS = st.sets(st.sampled_from(sorted(HEADER_VALUES))).flatmap(
    lambda keys: st.fixed_dictionaries({k: HEADER_VALUES[k] for k in sorted(keys)})
)


def _manifest_bodies() -> st.SearchStrategy[bytes]:
    document = json.loads(SEED_MANIFEST.data)
    mutations = st.fixed_dictionaries(
        {},
        optional={
            "mediaType": st.one_of(
                st.sampled_from([OCI_MANIFEST, OCI_INDEX]), st.text(max_size=20), st.integers()
            ),
            "schemaVersion": st.one_of(st.just(2), st.integers(), st.booleans(), st.floats(allow_nan=False)),
            "layers": st.one_of(
                st.just(document["layers"]),
                st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=5)), max_size=3),
            ),
            "manifests": st.lists(st.just(document["config"]), max_size=2),
            "subject": st.one_of(st.none(), st.just(document["config"]), st.text(max_size=5)),
            "annotations": st.dictionaries(
                st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3
            ),
            "artifactType": st.one_of(st.text(max_size=20), st.integers()),
        },
    )
    return mutations.map(lambda changes: json.dumps({**document, **changes}).encode())


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.just(SEED_LAYER.data),
    _manifest_bodies(),
    st.integers(1, 200).map(lambda depth: b"[" * depth + b"]" * depth),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    method, template = draw(ROUTES)
    path = template.format(
        name=draw(NAMES), reference=draw(REFERENCES), digest=draw(DIGESTS), upload=draw(UPLOAD_IDS)
    )
    raw_path = quote(path, safe="/:%@", errors="surrogatepass").encode()
    query = urlencode(draw(QUERIES), errors="surrogatepass").encode()
    headers = [(k.encode(), v.encode("latin-1")) for k, v in draw(HEADERS).items()]
    return method, raw_path, query, headers, draw(BODIES)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(request=requests())
async def test_no_input_breaks_the_registry(
    raw: RawSender,
    client: httpx.AsyncClient,
    tmp_path: Path,
    request: tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes],
) -> None:
    if not (tmp_path / "root" / "docker").exists():
        await push(client, SEED, SEED_CONFIG, SEED_LAYER)
        assert (await put_manifest(client, SEED, "latest", SEED_MANIFEST)).status_code == 201
    method, raw_path, query, headers, body = request
    response = await raw(method, raw_path, query=query, headers=headers, body=body)
    event(f"{method} {response.status}")
    assert response.status < 500, (response.status, response.body[:300])
    if 400 <= response.status < 500 and method != "HEAD":
        errors = json.loads(response.body)["errors"]
        assert isinstance(errors, list) and errors
        for error in errors:
            assert error["code"] and set(error["code"]) <= set(string.ascii_uppercase + "_"), error
            assert isinstance(error["message"], str)
    assert {p.name for p in tmp_path.iterdir()} <= {"root"}
