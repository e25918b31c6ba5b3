"""Run olah with HTTP range requests on its ``resolve`` file routes (test harness only).

olah 0.5.x serves files of a local mirror with a plain streaming response and ignores ``Range``: a
``GET .../resolve/main/x.parquet`` with ``Range: bytes=a-b`` answers 200 and the whole file. The real Hub
honours ranges, and ``HfFileSystem`` (hence ``load_dataset(..., streaming=True)``) relies on them: pyarrow
reads a Parquet footer by asking for the last 64 KiB, gets the file's first bytes instead, and fails with
"Parquet magic bytes not found in footer". So the test server, not the client, is fixed here:

    python -m tests.olah_with_ranges --config olah.toml --log-path logs

imports olah's FastAPI ``app``, wraps it in :class:`RangeMiddleware`, then parses the arguments and starts
uvicorn through olah's own ``init()`` / ``run_server()`` -- exactly what ``python -m olah.server`` does.

:class:`RangeMiddleware` is a generic ASGI middleware: for a GET whose path contains ``/resolve/`` and that
carries one ``Range: bytes=...`` (``a-b``, ``a-`` or ``-n``), a 200 response of the app becomes ``206
Partial Content`` with ``Content-Range: bytes a-b/size``, ``Content-Length: b-a+1`` and only those bytes
of the body; an unsatisfiable range becomes 416. Anything else -- HEAD, other statuses, multi-range
requests, other routes -- passes through unchanged. The size comes from the app's ``Content-Length``
(olah sends it for mirror files); without one the body is buffered to learn it.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a single byte range over `size` bytes; None when unsatisfiable.
    Raises ValueError for what is not a single byte range (then the header is ignored)."""
    m = _RANGE.match(value)
    if not m or (not m.group(1) and not m.group(2)):
        raise ValueError(value)
    if not m.group(1):  # suffix: the last n bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            return None
        return max(0, size - n), size - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    if first > last or first >= size:
        return None
    return first, min(last, size - 1)


class RangeMiddleware:
    """ASGI middleware answering single-range GETs on ``/resolve/`` routes with 206 (see module doc)."""

    def __init__(self, app, path_marker: str = "/resolve/"):
        self.app = app
        self.path_marker = path_marker

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or self.path_marker not in scope["path"]:
            return await self.app(scope, receive, send)
        ranges = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"range"]
        if len(ranges) != 1 or "," in ranges[0] or not _RANGE.match(ranges[0]):
            return await self.app(scope, receive, send)
        await _RangedResponse(ranges[0], send).run(self.app, scope, receive)


class _RangedResponse:
    def __init__(self, range_header: str, send):
        self.range_header = range_header
        self.send = send
        self.start = None  # the app's http.response.start message, held back
        self.passthrough = False
        self.span = None  # (first, last) inclusive, once known
        self.position = 0  # bytes of the app's body seen so far
        self.buffer = None  # body chunks when the size is unknown
        self.done = False

    async def run(self, app, scope, receive):
        await app(scope, receive, self.on_send)

    async def on_send(self, message):
        if self.passthrough:
            return await self.send(message)
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.passthrough = True
                return await self.send(message)
            self.start = message
            size = _content_length(message["headers"])
            if size is None:
                self.buffer = []
            else:
                await self._begin(size)
            return
        if message["type"] != "http.response.body":
            return await self.send(message)
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.buffer is not None:
            self.buffer.append(body)
            if not more:
                data = b"".join(self.buffer)
                self.buffer = None
                await self._begin(len(data))
                await self._emit(data, False)
            return
        await self._emit(body, more)

    async def _begin(self, size: int):
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() not in (b"content-length", b"content-range", b"accept-ranges")]
        headers.append((b"accept-ranges", b"bytes"))
        span = parse_range(self.range_header, size)
        if span is None:
            self.done = True
            headers.append((b"content-range", f"bytes */{size}".encode()))
            headers.append((b"content-length", b"0"))
            await self.send({"type": "http.response.start", "status": 416, "headers": headers})
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        self.span = span
        headers.append((b"content-range", f"bytes {span[0]}-{span[1]}/{size}".encode()))
        headers.append((b"content-length", str(span[1] - span[0] + 1).encode()))
        await self.send({"type": "http.response.start", "status": 206, "headers": headers})

    async def _emit(self, body: bytes, more: bool):
        """Forward the part of this body chunk that lies inside the span; end the response after it."""
        if self.done:
            return
        first, last = self.span
        begin, end = self.position, self.position + len(body)  # chunk covers [begin, end)
        self.position = end
        part = body[max(first - begin, 0):max(min(last + 1 - begin, len(body)), 0)] if end > first and begin <= last else b""
        finished = not more or self.position > last
        if part or finished:
            await self.send({"type": "http.response.body", "body": part, "more_body": not finished})
        if finished:
            self.done = True  # later chunks of the app's body are dropped


def _content_length(headers) -> int | None:
    for k, v in headers:
        if k.lower() == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


def main() -> None:
    from olah import server

    server.app.add_middleware(RangeMiddleware)  # before uvicorn builds the middleware stack
    server.run_server(server.init())


if __name__ == "__main__":
    main()
