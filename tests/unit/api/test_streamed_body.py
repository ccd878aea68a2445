"""wharf.api.responses.StreamedBody: chunks sent from the request's task, stopped when the client goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from wharf.api.messages import Message
from wharf.api.responses import StreamedBody

CHUNK = b"x" * 1024


class Chunks:
    """An async generator's stand-in that counts what was pulled and whether it was closed."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.pulled = 0
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.left == 0:
            raise StopAsyncIteration
        self.left -= 1
        self.pulled += 1
        return CHUNK

    async def aclose(self) -> None:
        self.closed = True


def _response(chunks: Chunks) -> StreamedBody:
    return StreamedBody(
        chunks,
        headers={"content-length": str(len(CHUNK) * chunks.left)},
        media_type="application/octet-stream",
    )


async def test_every_chunk_is_sent_then_the_end_and_the_source_is_closed() -> None:
    chunks = Chunks(3)
    sent: list[Message] = []
    gone = asyncio.Event()

    async def receive() -> Message:
        await gone.wait()  # as a server does: nothing until the client goes
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    assert await _response(chunks).send(receive, send) == 3 * len(CHUNK)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-length", str(3 * len(CHUNK)).encode()) in sent[0]["headers"]
    assert [m["body"] for m in sent[1:]] == [CHUNK, CHUNK, CHUNK, b""]
    assert [m["more_body"] for m in sent[1:]] == [True, True, True, False]
    assert chunks.closed


async def test_a_client_that_goes_away_stops_the_stream_and_closes_the_source() -> None:
    chunks = Chunks(1000)
    gone = asyncio.Event()
    bodies = 0

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        # ASGI 2.3 servers (granian) do not fail a send on a closed connection; they drop it.
        nonlocal bodies
        if message["type"] == "http.response.body":
            bodies += 1
            if bodies == 2:
                gone.set()
        await asyncio.sleep(0)

    sent = await _response(chunks).send(receive, send)
    assert sent < 1000 * len(CHUNK)
    assert chunks.pulled < 10
    assert chunks.closed


async def test_a_receive_that_fails_counts_as_the_client_gone() -> None:
    chunks = Chunks(1000)

    async def receive() -> Message:
        raise OSError("connection reset")

    async def send(message: Message) -> None:
        await asyncio.sleep(0)

    assert await _response(chunks).send(receive, send) < 1000 * len(CHUNK)
    assert chunks.closed


async def test_a_request_body_is_read_past_before_the_disconnect_counts() -> None:
    chunks = Chunks(5)
    messages: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)
        await asyncio.sleep(0)

    assert await _response(chunks).send(receive, send) == 5 * len(CHUNK)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
