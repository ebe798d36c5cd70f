"""The Hypothesis strategies of fuzz inputs, and the search that runs them.

The only module of ``tornado-h1 fuzz`` that imports Hypothesis (a test
extra, not a runtime dependency): importing it without Hypothesis raises
``ModuleNotFoundError`` for ``hypothesis``, which the command line turns
into a one-line hint (``NEEDS_HYPOTHESIS``).
"""

from __future__ import annotations

import functools
import gzip
from typing import Any, Callable, Optional

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from tornado_h1._tools.fuzz.messages import (
    FIELD_POOL,
    INTERESTING_BYTES,
    LINE_ENDS,
    SEPARATORS,
    VALUE_VARIANTS,
    Case,
    Field,
    Message,
    framed_message,
    mutate,
    split,
)
from tornado_h1.testing.wire import SMUGGLED


def _mutations() -> SearchStrategy[list[tuple[Any, ...]]]:
    """A strategy for a list of mutations, each a tuple whose integers are
    taken modulo whatever they index (so they shrink towards the start)."""
    index = st.integers(0, 63)
    byte = st.sampled_from(INTERESTING_BYTES)
    name = st.sampled_from(sorted(VALUE_VARIANTS))
    anywhere = st.one_of(
        st.tuples(st.just("insert"), index, st.booleans(), byte),
        st.tuples(st.just("delete"), index, st.booleans()),
        st.tuples(st.just("replace"), index, st.booleans(), byte),
    )
    structural = st.one_of(
        st.tuples(st.just("field_insert"), index, st.sampled_from(FIELD_POOL)),
        st.tuples(st.just("field_dup"), index, st.booleans()),
        st.tuples(st.just("field_delete"), index),
        st.tuples(st.just("field_value"), index, index),
        st.tuples(st.just("field_named"), name, index),
        st.tuples(st.just("field_sep"), index, st.sampled_from(SEPARATORS)),
        st.tuples(st.just("field_eol"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("start_eol"), st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("end"), st.sampled_from(LINE_ENDS)),
        st.tuples(
            st.just("chunk_size"),
            index,
            st.sampled_from(
                (
                    b"",
                    b"0",
                    b"00000005",
                    b"0x5",
                    b" 5",
                    b"5 ",
                    b"5;a=b",
                    b"-5",
                    b"+5",
                    b"FFFFFFFFFFFFFFFF",
                    b"1" + b"0" * 30,
                    b"5\x85",
                    b"\xa05",
                )
            ),
        ),
        st.tuples(st.just("chunk_len"), index, st.integers(-2, 2)),
        st.tuples(st.just("chunk_size_eol"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("chunk_tail"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(
            st.just("last_chunk"),
            st.sampled_from((b"0\r\n", b"0\n\n", b"0\r\n\r", b"00\r\n\r\n", b"")),
        ),
    )
    # A third of all mutations aim at the framing fields, where a
    # disagreement between two parsers becomes smuggling.
    framing = st.one_of(
        st.tuples(
            st.just("field_named"),
            st.sampled_from((b"content-length", b"transfer-encoding")),
            index,
        ),
        st.tuples(st.just("field_insert"), index, st.sampled_from(FIELD_POOL[:4])),
        st.tuples(st.just("field_dup"), index, st.booleans()),
    )
    return st.lists(st.one_of(framing, structural, anywhere), max_size=4)


@functools.cache
def request_strategy() -> SearchStrategy[Case]:
    """Hypothesis strategy of server-side `Case` s."""

    @st.composite
    def one_request(draw: DrawFn, mutated: bool = True) -> bytes:
        method = draw(st.sampled_from((b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS")))
        target = draw(st.sampled_from((b"/", b"/a", b"/b?x=1", b"/stream")))
        version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0")))
        fields = [Field(b"Host", b"x")]
        fields += [
            Field(name, value)
            for name, value in draw(
                st.lists(
                    st.sampled_from(
                        (
                            (b"Connection", b"keep-alive"),
                            (b"Connection", b"close"),
                            (b"X-A", b"b"),
                            (b"Content-Type", b"text/plain"),
                            (b"Expect", b"100-continue"),
                        )
                    ),
                    max_size=2,
                )
            )
        ]
        kind = draw(st.sampled_from(("none", "length", "chunked", "smuggle", "cl_te")))
        body = draw(
            st.one_of(
                st.sampled_from((b"", b"hello", b"0\r\n\r\n", SMUGGLED)),
                st.binary(max_size=12),
            )
        )
        if kind == "smuggle":
            kind = draw(st.sampled_from(("length", "chunked")))
            body = SMUGGLED
        if kind == "cl_te":
            # Both framings at once, the body built so that each reading
            # of it finds a different second request.
            inner = b"0\r\n\r\n" + SMUGGLED
            fields.append(Field(b"Content-Length", b"%d" % len(inner)))
            fields.append(Field(b"Transfer-Encoding", b"chunked"))
            message = Message(b"POST / " + version, fields, inner)
        else:
            pieces = draw(st.integers(1, 3))
            message = framed_message(
                method + b" " + target + b" " + version, fields, body, kind, pieces
            )
        if not mutated:
            return message.encode()
        return mutate(message, draw(_mutations()))

    @st.composite
    def cases(draw: DrawFn) -> Case:
        data = draw(one_request())
        how = draw(st.sampled_from(("one", "one", "pipeline", "pipeline-mutated")))
        if how == "pipeline":
            data += draw(one_request(mutated=False))
        elif how == "pipeline-mutated":
            data += draw(one_request())
        cuts = draw(st.lists(st.integers(0, 1 << 16), max_size=2))
        return Case("server", split(data, cuts))

    return cases()


@functools.cache
def response_strategy() -> SearchStrategy[Case]:
    """Hypothesis strategy of client-side `Case` s."""

    @st.composite
    def cases(draw: DrawFn) -> Case:
        code = draw(
            st.sampled_from(
                (
                    b"200 OK",
                    b"404 Not Found",
                    b"204 No Content",
                    b"304 Not Modified",
                    b"301 Moved",
                )
            )
        )
        version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.0")))
        fields = [Field(b"X-A", b"b")] if draw(st.booleans()) else []
        if code.startswith(b"301"):
            fields.append(Field(b"Location", b"/elsewhere"))
        body = draw(
            st.one_of(
                st.sampled_from((b"", b"hello", b"0\r\n\r\n", b"x" * 5000)),
                st.binary(max_size=12),
            )
        )
        if draw(st.booleans()):
            bomb = draw(st.booleans())
            body = gzip.compress(b"\0" * 100_000 if bomb else body, mtime=0)
            fields.append(Field(b"Content-Encoding", b"gzip"))
        kind = draw(st.sampled_from(("none", "length", "chunked")))
        message = framed_message(
            version + b" " + code, fields, body, kind, draw(st.integers(1, 3))
        )
        data = mutate(message, draw(_mutations()))
        interim = draw(st.sampled_from((0, 0, 0, 1, 10, 11)))
        if interim:
            data = b"HTTP/1.1 100 Continue\r\n\r\n" * interim + data
        method = draw(st.sampled_from(("GET", "GET", "HEAD")))
        return Case("client", (data,), method)

    return cases()


def search(
    side: str,
    run: Callable[[Case], None],
    *,
    examples: int,
    seed: Optional[int] = None,
    derandomize: bool = False,
    shrink: bool = True,
) -> Callable[[], None]:
    """One Hypothesis search of ``examples`` inputs for ``side``
    (``"server"`` or ``"client"``), calling ``run`` on each; call the result
    to run it. A failure ``run`` raises is shrunk (with ``shrink``), then
    raised again."""
    strategy = request_strategy() if side == "server" else response_strategy()
    phases = [Phase.explicit, Phase.generate]
    if shrink:
        phases.append(Phase.shrink)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(strategy)
    def test(case: Case) -> None:
        run(case)

    found: Callable[[], None] = test
    if seed is not None and not derandomize:
        found = with_seed(seed)(test)
    return found
