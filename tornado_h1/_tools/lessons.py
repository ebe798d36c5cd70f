"""The requests of the docs' "Watch a request" page, of the exercises, and
of the pages on features beyond upstream (`FEATURES`: trailers, precise
error replies).

Each is a :class:`~tornado_h1._tools.watch.Scenario`: the bytes a learner
sends (with ``printf | nc`` or curl, shown on the page), and what the
response and the trace must show. :func:`write_pages` runs them all and
writes the reStructuredText the pages include; ``docs/conf.py`` calls it at
every build, so what the pages show is what the code does today.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tornado_h1._options import ServerOptions
from tornado_h1._tools.watch import HOST, READ, Scenario, Seen, check, run


def _get(path: str, *extra: str) -> bytes:
    fields = "".join(f"{line}\r\n" for line in extra)
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{fields}\r\n".encode()


def _printf(data: bytes, wait: int = 1) -> str:
    shown = data.decode("latin1").replace("\r", "\\r").replace("\n", "\\n")
    return f"printf '{shown}' | nc -q {wait} 127.0.0.1 8888"


_CHUNKED_POST = (
    b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
)
_CONTINUE_HEAD = (
    b"PUT /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n"
    b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
)
_WS_HANDSHAKE = _get(
    "/ws",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
)
# A masked text frame "hi" (mask 0x01020304), then a masked close frame.
_WS_FRAMES = bytes([0x81, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2]) + bytes(
    [0x88, 0x80, 1, 2, 3, 4]
)

WATCH: tuple[Scenario, ...] = (
    Scenario(
        name="keep-alive-get",
        title="A keep-alive GET, then a second request on the same connection",
        text=(
            "Two ``GET`` requests, one after the other, on one connection. "
            "HTTP/1.1 keeps the connection open unless a side says "
            "``Connection: close`` (RFC 9112 §9.3), which the second request "
            "does. One ``[c1]``: one connection, two exchanges."
        ),
        steps=(_get("/"), READ, _get("/", "Connection: close"), READ),
        response=("HTTP/1.1 200 OK", "HTTP/1.1 200 OK"),
        trace=(
            "[c1] head received",
            "GET / HTTP/1.1",
            "body: none",
            "keep-alive: yes",
            "GET / HTTP/1.1",
            "keep-alive: no",
        ),
        command="curl -v http://127.0.0.1:8888/ http://127.0.0.1:8888/",
    ),
    Scenario(
        name="chunked-post",
        title="A chunked POST",
        text=(
            "A body of unknown length, sent as chunks (RFC 9112 §7.1). The "
            "framing step is 4 of RFC 9112 §6.3: ``Transfer-Encoding`` "
            "ends in ``chunked``. Each piece reaches the delegate through "
            "``data_received`` (one call, or one per chunk, depending on how "
            "the bytes arrived)."
        ),
        steps=(_CHUNKED_POST, READ),
        response=("HTTP/1.1 200 OK", "hello world"),
        trace=(
            "POST /echo HTTP/1.1",
            "body: chunked (RFC 9112 §6.3 step 4)",
            "delegate.data_received",
            "delegate.finish",
            "head sent: HTTP/1.1 200 OK",
        ),
        command=_printf(_CHUNKED_POST),
    ),
    Scenario(
        name="continue-upload",
        title="An upload that waits for 100 Continue",
        text=(
            "The client sends only the head, with ``Expect: 100-continue``, "
            "and waits: the server answers ``100 Continue`` before the body "
            "is read (RFC 9110 §10.1.1), so that a client does not send a "
            "large body the server would refuse. ``/upload`` streams the "
            "body (``@stream_request_body``) and answers with its size."
        ),
        steps=(_CONTINUE_HEAD, READ, b"hello world"),
        response=("HTTP/1.1 100 (Continue)", "HTTP/1.1 200 OK", '"bytes": 11'),
        trace=(
            "PUT /upload HTTP/1.1",
            "delegate.headers_received",
            "sent 100 Continue",
            "body: Content-Length 11",
            "delegate.data_received: 11 bytes",
            "delegate.finish",
        ),
        command=(
            "curl -v -T file.txt -H 'Expect: 100-continue' http://127.0.0.1:8888/upload"
        ),
    ),
    Scenario(
        name="malformed",
        title="A malformed request",
        text=(
            "A field line with a space before its colon (RFC 9112 §5.1 "
            "forbids it: two parsers could disagree on the field's name). "
            "The delegate never hears of the request; the answer is a 400 "
            "and the connection closes."
        ),
        steps=(b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",),
        response=("HTTP/1.1 400 Bad Request",),
        trace=("malformed:", "closed by us"),
        command=_printf(b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n"),
    ),
    Scenario(
        name="websocket",
        title="A WebSocket upgrade",
        text=(
            "The handshake is an HTTP/1.1 ``GET`` with ``Upgrade: "
            "websocket``. Tornado's WebSocket handler answers ``101 "
            "Switching Protocols`` and calls ``detach()``: from then on the "
            "stream is the WebSocket's and the HTTP/1 layer traces nothing "
            "more. The frames after it (a masked ``hi``, then a close) are "
            "echoed by the demo's ``/ws``."
        ),
        steps=(_WS_HANDSHAKE, READ, _WS_FRAMES),
        response=("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "hi"),
        trace=(
            "GET /ws HTTP/1.1",
            "delegate.headers_received",
            "head sent: HTTP/1.1 101 Switching Protocols",
            "detached",
        ),
    ),
)


def _exercise(
    name: str,
    title: str,
    text: str,
    data: bytes,
    response: tuple[str, ...],
    trace: tuple[str, ...],
    **options: object,
) -> Scenario:
    return Scenario(
        name=name,
        title=title,
        text=text,
        steps=(data,),
        response=response,
        trace=trace,
        options=dict(options),
        command=_printf(data),
    )


EXERCISES: tuple[Scenario, ...] = (
    _exercise(
        "obs-fold",
        "A header folded onto a second line",
        "A field value continued on the next line after a space (*obs-fold*, "
        "RFC 9112 §5.2). A server must refuse it or unfold it; Tornado "
        "refuses it. What is the answer, and does the application see the "
        "request?",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: one\r\n two\r\n\r\n",
        ("HTTP/1.1 400 Bad Request",),
        ("malformed:", "closed by us"),
    ),
    _exercise(
        "length-and-chunked",
        "Content-Length and Transfer-Encoding together",
        "A request with both fields: the classic request-smuggling set-up, "
        "where a proxy and a server may pick different ones. RFC 9112 §6.1 "
        "lets a server refuse it, and Tornado does.",
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ("HTTP/1.1 400 Bad Request",),
        ("delegate.headers_received", "malformed:", "closed by us"),
    ),
    _exercise(
        "two-lengths",
        "Two different Content-Length values",
        "Which length is right? Neither: RFC 9112 §6.3 step 5 makes "
        "differing lengths an unrecoverable error.",
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Content-Length: 6\r\n\r\nhello!",
        ("HTTP/1.1 400 Bad Request",),
        ("malformed:", "closed by us"),
    ),
    _exercise(
        "pipelined",
        "Two pipelined requests",
        "Both requests in one write, before any answer. The server reads the "
        "first head only up to its empty line; the second stays in the "
        "stream's buffer and is served next, in order (RFC 9112 §9.3.2).",
        _get("/chunked") + _get("/", "Connection: close"),
        ("HTTP/1.1 200 OK", "chunk 5 of 5", "HTTP/1.1 200 OK"),
        (
            "GET /chunked HTTP/1.1",
            "keep-alive: yes",
            "GET / HTTP/1.1",
            "keep-alive: no",
        ),
    ),
    Scenario(
        name="slow-head",
        title="A head trickled past the header timeout",
        text=(
            "Half a head, then silence. The server gives a whole head "
            "``idle_connection_timeout`` seconds to arrive (here 0.5; start "
            "the demo with ``--idle-connection-timeout 0.5``), then closes "
            "without an answer: a slow client cannot hold a connection "
            "forever."
        ),
        # 1.5 s of silence against a 0.5 s timeout: room for a busy machine.
        steps=(b"GET / HTTP/1.1\r\nHost: local", 1.5, b"host\r\n\r\n"),
        response=(),
        trace=("timeout: closing",),
        options={"idle_connection_timeout": 0.5},
        command=(
            "(printf 'GET / HTTP/1.1\\r\\nHost: local'; sleep 1.5; "
            "printf 'host\\r\\n\\r\\n') | nc -q 1 127.0.0.1 8888"
        ),
    ),
    _exercise(
        "http10",
        "An HTTP/1.0 request",
        "HTTP/1.0 closes after each response unless the request asks for "
        "``Connection: keep-alive`` (RFC 9112 §9.3). The trace gives the "
        "reason. The answer still says ``HTTP/1.1``: a server names the "
        "highest version it speaks (RFC 9110 §2.5).",
        b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
        ("HTTP/1.1 200 OK",),
        ("GET / HTTP/1.0", "keep-alive: no"),
    ),
    _exercise(
        "bad-chunk-size",
        "A chunk size that is not hexadecimal",
        "The body is chunked, but the first size line is ``zz``. The head "
        "was fine, so the application has seen it; the body is refused "
        "(RFC 9112 §7.1).",
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
        b"\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ("HTTP/1.1 400 Bad Request",),
        ("body: chunked", "malformed:", "closed by us"),
    ),
    _exercise(
        "head",
        "A HEAD request",
        "``HEAD`` asks for the head a ``GET`` would get, with no body. The "
        "``Content-Length`` says how long the body *would* be; nothing "
        "follows the head (RFC 9110 §9.3.2).",
        _get("/", "Connection: close").replace(b"GET", b"HEAD", 1),
        ("HTTP/1.1 200 OK", "Content-Length: "),
        ("HEAD / HTTP/1.1", "head sent: HTTP/1.1 200 OK"),
    ),
    _exercise(
        "too-large",
        "A body larger than the server accepts",
        "With ``--max-body-size 1K`` the declared length alone is enough to "
        "refuse the request: the server does not read the body at all.",
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n",
        ("HTTP/1.1 400 Bad Request",),
        ("malformed:", "closed by us"),
        max_body_size=1024,
    ),
    _exercise(
        "bare-cr",
        "A lone CR at the end of the request line",
        "``GET / HTTP/1.1\\r\\r\\n``: is that a line break? RFC 9112 §2.2 says "
        "a bare CR is not one. Tornado strips it; tornado_h1 refuses it "
        "(one of the deliberate differences, see :doc:`differences`).",
        b"GET / HTTP/1.1\r\r\nHost: localhost\r\n\r\n",
        ("HTTP/1.1 400 Bad Request",),
        ("malformed:",),
    ),
)

_TRAILERS_POST = (
    b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 5d41402a\r\n\r\n"
)
_TOO_LARGE_HEAD = (
    b"PUT /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n"
    b"Expect: 100-continue\r\n\r\n"
)

#: The traces of the pages on features beyond upstream: each is written to
#: ``<name>.inc``, which its page includes.
FEATURES: tuple[Scenario, ...] = (
    Scenario(
        name="trailers",
        title="An upload with a trailer field",
        text=(
            "A chunked body whose last chunk carries ``X-Checksum``, sent "
            "to a server started with ``ServerOptions(trailers=True)`` "
            "(``tornado-h1 serve --trailers``). The trailer section is read "
            "after the last chunk, before ``finish``; without the option "
            "the same bytes get upstream's 400."
        ),
        steps=(_TRAILERS_POST, READ),
        response=("HTTP/1.1 200 OK", "hello"),
        trace=(
            "body: chunked (RFC 9112 §6.3 step 4)",
            "trailers received: X-Checksum",
            "delegate.finish",
        ),
        options={"h1_options": ServerOptions(trailers=True)},
    ),
    Scenario(
        name="precise-413",
        title="A body too large, refused before it is sent",
        text=(
            "A head announcing 2,000 bytes, with ``Expect: 100-continue``, "
            "to a server started with ``max_body_size=1000`` and "
            "``ServerOptions(precise_errors=True)`` (``tornado-h1 serve "
            "--max-body-size 1000 --precise-errors``): the answer is a "
            "``413`` instead of ``100 Continue``, and the client never "
            "sends the body."
        ),
        steps=(_TOO_LARGE_HEAD, READ),
        response=("HTTP/1.1 413 Content Too Large", "Connection: close"),
        trace=("PUT /echo HTTP/1.1", "malformed:"),
        options={
            "h1_options": ServerOptions(precise_errors=True),
            "max_body_size": 1000,
        },
    ),
)

ALL: tuple[Scenario, ...] = WATCH + EXERCISES + FEATURES


def _literal(text: str, language: str = "text") -> list[str]:
    lines = [f".. code-block:: {language}", ""]
    lines.extend("   " + line if line else "" for line in text.splitlines())
    return lines + [""]


def _shown_response(data: bytes) -> str:
    text = data.decode("latin1").replace("\r\n", "\n")
    text = "\n".join(
        "Date: (the date)" if line.startswith("Date: ") else line
        for line in text.split("\n")
    )
    if any(ord(char) < 32 and char not in "\n\t" for char in text):
        text = "".join(
            char if char in "\n\t" or 32 <= ord(char) < 127 else "·" for char in text
        )
    return text.rstrip("\n") or "(nothing: the server closed the connection)"


_FOLD = (".. raw:: html", "", "   <details><summary>{}</summary>", "")
_UNFOLD = (".. raw:: html", "", "   </details>", "")


def render(scenario: Scenario, seen: Seen, folded: bool = False) -> list[str]:
    """The reStructuredText of one scenario and what it produced; with
    ``folded``, the outcome is hidden until the reader opens it (in HTML)."""
    lines = [scenario.title, "-" * len(scenario.title), "", scenario.text, ""]
    if scenario.command:
        lines += ["Try it (with ``make demo`` running):", ""]
        lines += _literal(scenario.command, "sh")
    if folded:
        lines += [line.format("The answer") for line in _FOLD]
    lines += ["What the server answered:", ""]
    lines += _literal(_shown_response(seen.response))
    lines += ["The trace (``tornado-h1 serve --trace``):", ""]
    lines += _literal("\n".join(seen.trace))
    if folded:
        lines += list(_UNFOLD)
    return lines


def write_pages(folder: str, scenarios: Sequence[Scenario] = ALL) -> None:
    """Run every scenario and write ``watch.inc``, ``exercises.inc`` and
    one ``<name>.inc`` for each of `FEATURES`.

    Raises RuntimeError if a scenario no longer shows what it promises."""
    os.makedirs(folder, exist_ok=True)
    pages: dict[str, list[str]] = {"watch.inc": [], "exercises.inc": []}
    problems: list[str] = []
    for scenario in scenarios:
        seen = run(scenario)
        problems += check(scenario, seen)
        exercise = scenario in EXERCISES
        if scenario in FEATURES:
            page = f"{scenario.name}.inc"
        else:
            page = "exercises.inc" if exercise else "watch.inc"
        pages.setdefault(page, [])
        pages[page] += render(scenario, seen, folded=exercise)
    if problems:
        raise RuntimeError("; ".join(problems))
    header = ".. Written at build time by tornado_h1._tools.lessons.\n\n"
    for name, lines in pages.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
            out.write(header + "\n".join(lines) + "\n")
