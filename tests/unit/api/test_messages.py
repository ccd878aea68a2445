"""wharf.api.messages: a request's parts as handlers read them, and a response's two messages."""

from __future__ import annotations

import pytest

from wharf.api.messages import ClientDisconnect, Headers, Message, QueryParams, Request, Response, Scope


def _scope(**overrides: object) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/v2/",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
    }
    scope.update(overrides)
    return scope


def _receiving(*messages: Message) -> Request:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return Request(_scope(method="PUT"), receive)


def test_headers_are_found_in_any_case_and_the_first_of_a_repeated_one_wins() -> None:
    headers = Headers([(b"content-type", b"a/b"), (b"accept", b"x/1"), (b"accept", b"x/2")])
    assert headers["Content-Type"] == "a/b"
    assert headers.get("ACCEPT") == "x/1"
    assert "content-length" not in headers
    assert headers.get("content-length", "none") == "none"
    assert sorted(headers) == ["accept", "content-type"]


def test_header_values_are_latin1_as_http_sends_them() -> None:
    assert Headers([(b"x-name", "caf\u00e9".encode("latin-1"))])["x-name"] == "caf\u00e9"


def test_query_parameters_are_decoded_and_the_last_of_a_repeated_one_wins() -> None:
    query = QueryParams(b"tag=a&tag=b&last=x%2Fy&n=&from=caf%C3%A9")
    assert query["tag"] == "b"
    assert query.getlist("tag") == ["a", "b"]
    assert query["last"] == "x/y"
    assert query["n"] == ""
    assert query["from"] == "caf\u00e9"
    assert "digest" not in query and query.getlist("digest") == []


def test_a_request_reads_its_scope() -> None:
    request = Request(
        _scope(path_params={"name": "lib/a"}, query_string=b"n=2", headers=[(b"host", b"h:1")]),
        receive=_never,
    )
    assert (request.method, request.path, request.scheme) == ("GET", "/v2/", "http")
    assert request.path_params == {"name": "lib/a"}
    assert request.query_params["n"] == "2"
    assert request.headers["host"] == "h:1"


@pytest.mark.parametrize(
    ("scheme", "server", "authority"),
    [
        ("http", ("127.0.0.1", 5000), "127.0.0.1:5000"),
        ("http", ("10.0.0.1", 80), "10.0.0.1"),
        ("https", ("10.0.0.1", 443), "10.0.0.1"),
        ("https", ("10.0.0.1", 80), "10.0.0.1:80"),
        ("http", ("::1", 5000), "[::1]:5000"),
        ("http", None, "localhost"),
    ],
)
def test_the_server_authority_leaves_out_the_schemes_own_port(
    scheme: str, server: tuple[str, int] | None, authority: str
) -> None:
    assert Request(_scope(scheme=scheme, server=server), _never).server_authority == authority


async def test_the_body_streams_in_pieces_skipping_empty_ones() -> None:
    request = _receiving(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"c", "more_body": False},
    )
    assert [piece async for piece in request.stream()] == [b"ab", b"c"]


async def test_a_client_gone_mid_body_is_a_client_disconnect() -> None:
    request = _receiving(
        {"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}
    )
    pieces = []
    with pytest.raises(ClientDisconnect):
        async for piece in request.stream():
            pieces.append(piece)
    assert pieces == [b"ab"]


async def test_the_body_is_read_once() -> None:
    request = _receiving({"type": "http.request", "body": b"", "more_body": False})
    assert [piece async for piece in request.stream()] == []
    with pytest.raises(RuntimeError):
        await anext(request.stream())


def test_a_response_states_its_length_and_type() -> None:
    response = Response(b"{}", status_code=201, media_type="application/json", headers={"X-A": "1"})
    assert response.raw_headers == [
        (b"x-a", b"1"),
        (b"content-length", b"2"),
        (b"content-type", b"application/json"),
    ]


def test_given_length_and_type_headers_are_kept() -> None:
    response = Response(headers={"content-length": "7", "Content-Type": "a/b"}, media_type="c/d")
    assert response.raw_headers == [(b"content-length", b"7"), (b"content-type", b"a/b")]


@pytest.mark.parametrize("status", [101, 204, 304])
def test_statuses_without_a_body_get_no_length(status: int) -> None:
    assert Response(status_code=status).raw_headers == []


async def test_a_response_is_sent_as_start_and_body() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    assert await Response(b"hi", status_code=202).send(_never, send) == 2
    assert sent == [
        {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"2")]},
        {"type": "http.response.body", "body": b"hi", "more_body": False},
    ]


async def _never() -> Message:
    raise AssertionError("nothing should be received")
