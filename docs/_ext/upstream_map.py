"""The map from upstream's ``tornado/http1connection.py`` to tornado_h1.

Each function and method of upstream's module gets a line here: what it
does (in our words) and where tornado_h1 does that job. At build time
:func:`write` compares the keys with the functions and methods that the
installed Tornado's module really defines, and fails the build if one is
missing here or if one listed here is gone (unless it exists only on other
releases, as :data:`RELEASES` says), so the map covers every release's
module as long as the matrix's releases are listed.
"""

from __future__ import annotations

import inspect
import os
import re
from typing import Any

import tornado
import tornado.http1connection

# The names that exist only on some releases (from each release's module,
# as the release matrix installs them): name -> the releases that have it.
RELEASES = {
    "_is_done": "6.6 and later",
    "HTTP1Connection._read_message_inner": "6.6 and later",
    "HTTP1Connection._deliver_body": "6.6 and later",
    "parse_int": "6.3 and later",
    "parse_hex_int": "6.3 and later",
    "is_transfer_encoding_chunked": "6.4 and later",
}

C = "tornado_h1.http1connection.HTTP1Connection"
S = "tornado_h1.http1connection.HTTP1ServerConnection"

# upstream name -> (what it does, where tornado_h1 does it)
MAP: dict[str, tuple[str, str]] = {
    "_is_done": (
        "Whether a future has completed, for a fast path that skips an await.",
        ":func:`tornado_h1._link.is_done`",
    ),
    "_QuietException.__init__": (
        "An exception that means 'already logged, unwind without a word'.",
        ":class:`tornado_h1._delegates._QuietException`",
    ),
    "_ExceptionLoggingContext.__init__": (
        "A guard around delegate calls: it logs what escapes them.",
        ":class:`tornado_h1._delegates._ExceptionLoggingContext`",
    ),
    "_ExceptionLoggingContext.__enter__": (
        "Entering the guard (nothing to do).",
        ":class:`tornado_h1._delegates._ExceptionLoggingContext`",
    ),
    "_ExceptionLoggingContext.__exit__": (
        "Logs an escaping exception once as 'Uncaught exception' and turns "
        "it into the quiet one, letting bad input through to become a 400.",
        ":func:`tornado_h1._delegates.guarded_failure` (one function, used "
        "by every delegate call)",
    ),
    "HTTP1ConnectionParameters.__init__": (
        "Keeps the settings shared by a server's connections: sizes, "
        "timeouts, keep-alive, decompression.",
        ":class:`tornado_h1.http1connection.HTTP1ConnectionParameters`",
    ),
    "HTTP1Connection.__init__": (
        "Sets up one exchange over a stream: limits, callbacks, the state "
        "kept as a dozen flags.",
        f":class:`{C}`; the state is an "
        ":class:`~tornado_h1._exchange.Exchange` (one per role)",
    ),
    "HTTP1Connection.read_response": (
        "Reads one message into a delegate, wrapping it for gzip first.",
        f":meth:`{C}.read_response`",
    ),
    "HTTP1Connection._read_message": (
        "The whole read: head (with its timeout), 1xx heads, 100-continue, "
        "body, keep-alive, and the clean-up on every way out.",
        f":meth:`{C}._read_exchange` (one coroutine from the head to the "
        f"end of the message); the head is read by :meth:`{C}._read_head`",
    ),
    "HTTP1Connection._read_message_inner": (
        "The body of ``_read_message`` after 6.6 split it in two.",
        f":meth:`{C}._read_exchange`",
    ),
    "HTTP1Connection._clear_callbacks": (
        "Drops the callbacks that would keep the handler, the connection "
        "and the stream alive in a cycle.",
        f":meth:`{C}._forget_callbacks`",
    ),
    "HTTP1Connection.set_close_callback": (
        "Registers what to run if the connection closes while the "
        "application answers.",
        f":meth:`{C}.set_close_callback`",
    ),
    "HTTP1Connection._on_connection_close": (
        "Runs that callback and marks the exchange as over.",
        f":meth:`{C}._on_connection_close`",
    ),
    "HTTP1Connection.close": (
        "Closes the stream and marks the exchange as over.",
        f":meth:`{C}.close`",
    ),
    "HTTP1Connection.detach": (
        "Hands the stream to the delegate (WebSocket) and stops HTTP.",
        f":meth:`{C}.detach`; the inbound state moves to ``DETACHED``",
    ),
    "HTTP1Connection.set_body_timeout": (
        "Sets this request's body timeout.",
        f":meth:`{C}.set_body_timeout`",
    ),
    "HTTP1Connection.set_max_body_size": (
        "Sets this request's body size limit.",
        f":meth:`{C}.set_max_body_size`",
    ),
    "HTTP1Connection.write_headers": (
        "Decides the outgoing framing and keep-alive fields, encodes the "
        "head (refusing line breaks) and writes it with the first chunk.",
        f":meth:`{C}.write_headers`; the decisions in "
        ":meth:`tornado_h1._exchange.ServerExchange.send_head` and "
        ":meth:`tornado_h1._exchange.ClientExchange.send_head`, the "
        "bytes by "
        ":func:`tornado_h1._wire.encode_head`",
    ),
    "HTTP1Connection._format_chunk": (
        "Frames one piece of body: counts it against Content-Length, or "
        "wraps it as a chunk.",
        ":meth:`Exchange.frame <tornado_h1._exchange.Exchange.frame>` "
        "(the framer is chosen once, from a table) and "
        ":func:`tornado_h1._wire.frame_chunk`",
    ),
    "HTTP1Connection.write": (
        "Writes one framed piece of body; returns a future for it.",
        f":meth:`{C}.write` and :meth:`{C}._send` (a held response: "
        ":mod:`tornado_h1._writebehind`)",
    ),
    "HTTP1Connection.finish": (
        "Checks the declared length was met, writes the last chunk, sets "
        "TCP_NODELAY, and ends the exchange once the stream has written.",
        f":meth:`{C}.finish`, with :meth:`Exchange.finish "
        "<tornado_h1._exchange.Exchange.finish>`",
    ),
    "HTTP1Connection._on_write_complete": (
        "Resolves a write's future, and finishes the request if it was the "
        "last write.",
        ":func:`tornado_h1._link.relay_write` and "
        f":meth:`{C}._finish_exchange`",
    ),
    "HTTP1Connection._can_keep_alive": (
        "Decides from the version and the Connection field whether the "
        "connection may carry another message.",
        ":func:`tornado_h1._wire.close_reason`, kept as "
        ":attr:`Exchange.close_reason "
        "<tornado_h1._exchange.Exchange.close_reason>` (a reason, not a yes "
        "or no)",
    ),
    "HTTP1Connection._finish_request": (
        "Ends the exchange: closes the connection if it may not be kept, "
        "and wakes the reader waiting for the response.",
        f":meth:`{C}._finish_exchange` and :meth:`{C}._settle`",
    ),
    "HTTP1Connection._parse_headers": (
        "Splits a head into its start line and parsed header fields.",
        f":meth:`{C}._parse_head` and :func:`tornado_h1._wire.split_head`",
    ),
    "HTTP1Connection._read_body": (
        "Applies RFC 9112 §6.3 to the fields and calls the matching body "
        "reader.",
        ":meth:`Exchange.framing <tornado_h1._exchange.Exchange.framing>` "
        "(:func:`tornado_h1._wire.body_framing`) and "
        ":func:`tornado_h1._bodies.read_body`",
    ),
    "HTTP1Connection._deliver_body": (
        "Hands one piece of body to the delegate (6.6 factored it out).",
        f":meth:`{C}._deliver`",
    ),
    "HTTP1Connection._read_fixed_body": (
        "Reads a body of known length, in pieces of at most chunk_size.",
        ":func:`tornado_h1._bodies._read_fixed`",
    ),
    "HTTP1Connection._read_chunked_body": (
        "Reads a chunked body: size lines, data, CRLFs, the last chunk.",
        ":func:`tornado_h1._bodies._read_chunked`, driven by "
        ":class:`tornado_h1._chunked.ChunkedDecoder`",
    ),
    "HTTP1Connection._read_body_until_close": (
        "Reads a response body that ends when the server closes.",
        ":func:`tornado_h1._bodies._read_until_close`",
    ),
    "_GzipMessageDelegate.__init__": (
        "A delegate in front of the application's that inflates gzip "
        "bodies.",
        ":class:`tornado_h1._delegates._GzipMessageDelegate`, made by "
        ":func:`tornado_h1._delegates.inflating`",
    ),
    "_GzipMessageDelegate.headers_received": (
        "Notices Content-Encoding: gzip and hides it from the application.",
        ":meth:`tornado_h1._delegates._GzipMessageDelegate.headers_received`",
    ),
    "_GzipMessageDelegate.data_received": (
        "Inflates each piece, within the body size limit.",
        ":meth:`tornado_h1._delegates._GzipMessageDelegate.data_received`",
    ),
    "_GzipMessageDelegate.finish": (
        "Flushes the inflater and checks the compressed stream was whole.",
        ":meth:`tornado_h1._delegates._GzipMessageDelegate.finish`",
    ),
    "_GzipMessageDelegate.on_connection_close": (
        "Passes the close on.",
        ":meth:`tornado_h1._delegates._GzipMessageDelegate.on_connection_close`",
    ),
    "HTTP1ServerConnection.__init__": (
        "Keeps a server connection's stream, parameters and context.",
        f":class:`{S}`",
    ),
    "HTTP1ServerConnection.close": (
        "Closes the stream and waits for the serving loop to stop.",
        f":meth:`{S}.close`",
    ),
    "HTTP1ServerConnection.start_serving": (
        "Starts the serving loop.",
        f":meth:`{S}.start_serving`",
    ),
    "HTTP1ServerConnection._server_request_loop": (
        "The serving loop: one HTTP1Connection per request, until the "
        "connection may not go on.",
        f":meth:`{S}._serve` (with one :class:`~tornado_h1._link.Link` "
        "for the connection's timer and pacing)",
    ),
    "parse_int": (
        "Reads a decimal number, digits only.",
        ":func:`tornado_h1.http1connection.parse_int` (upstream's name) and "
        ":func:`tornado_h1._wire.parse_decimal`",
    ),
    "parse_hex_int": (
        "Reads a hexadecimal number, hex digits only.",
        ":func:`tornado_h1.http1connection.parse_hex_int` and "
        ":func:`tornado_h1._wire.parse_hex`",
    ),
    "is_transfer_encoding_chunked": (
        "Decides from Transfer-Encoding (and Content-Length) whether a body "
        "is chunked, refusing anything else.",
        ":func:`tornado_h1.http1connection.is_transfer_encoding_chunked` and "
        ":func:`tornado_h1._wire.is_chunked`",
    ),
}


def upstream_names() -> list[str]:
    """The functions and methods the installed Tornado's module defines."""
    module = tornado.http1connection
    names = []
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            names.append(name)
        elif inspect.isclass(value):
            for attr, member in vars(value).items():
                if inspect.isfunction(member):
                    names.append(f"{name}.{attr}")
    return names


def check() -> list[str]:
    """What the map lacks, or lists that the installed release lacks."""
    installed = set(upstream_names())
    problems = [f"not in the map: {name}" for name in installed - set(MAP)]
    problems += [
        f"in the map but not in Tornado {tornado.version}: {name}"
        for name in set(MAP) - installed
        if name not in RELEASES
    ]
    return sorted(problems)


_ROLE = re.compile(r":(meth|func|class|attr|data):`([^`<~]+)`")


def _short(where: str) -> str:
    """Roles shown without the package prefix, so the column stays narrow
    (``_link.is_done()`` for ``tornado_h1._link.is_done``)."""

    def title(match: re.Match[str]) -> str:
        target = match.group(2)
        shown = target.removeprefix("tornado_h1.").removeprefix("http1connection.")
        return f":{match.group(1)}:`{shown} <{target}>`"

    return _ROLE.sub(title, where)


def render() -> str:
    lines = [
        ".. Written at build time by docs/_ext/upstream_map.py.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 50 50",
        "",
        "   * - upstream, and what it does",
        "     - where tornado_h1 does it",
    ]
    installed = set(upstream_names())
    for name, (what, where) in MAP.items():
        label = f"``{name}``"
        if name in RELEASES:
            label += f" ({RELEASES[name]})"
        elif name not in installed:  # pragma: no cover - checked above
            label += " (not in this release)"
        lines += [f"   * - {label}", "", f"       {what}", f"     - {_short(where)}"]
    return "\n".join(lines) + "\n"


def write(folder: str) -> None:
    problems = check()
    if problems:
        raise RuntimeError("docs/_ext/upstream_map.py: " + "; ".join(problems))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "upstream_map.inc"), "w", encoding="utf-8") as out:
        out.write(render())


def setup(app: Any) -> dict[str, Any]:
    return {"parallel_read_safe": True}
