"""The "Watch a request" page and the exercises: every scenario is run
against a real server here too, and its promised outcome checked, so that
the pages cannot drift from the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tornado_h1._tools import lessons, watch


@pytest.mark.parametrize("scenario", lessons.ALL, ids=lambda s: s.name)
def test_scenario_shows_what_it_promises(scenario: watch.Scenario) -> None:
    seen = watch.run(scenario)
    assert watch.check(scenario, seen) == [], (seen.response, seen.trace)
    assert seen.trace[0] == "[c1] opened: peer 127.0.0.1"


def test_the_issue_s_requests_and_eight_exercises() -> None:
    names = {scenario.name for scenario in lessons.WATCH}
    assert {
        "keep-alive-get",
        "chunked-post",
        "continue-upload",
        "malformed",
        "websocket",
    } <= names
    assert len(lessons.EXERCISES) >= 8
    for exercise in lessons.EXERCISES:
        assert exercise.command and (
            "nc " in exercise.command or "curl " in exercise.command
        )
        assert exercise.response or exercise.trace


def test_a_broken_promise_is_reported() -> None:
    scenario = dataclasses.replace(
        lessons.WATCH[0], response=("HTTP/1.1 404 Not Found",), trace=("nope",)
    )
    problems = watch.check(scenario, watch.run(scenario))
    assert problems == [
        "keep-alive-get: response lacks 'HTTP/1.1 404 Not Found'",
        "keep-alive-get: trace lacks 'nope'",
    ]


def test_order_matters_in_a_promise() -> None:
    seen = watch.Seen(b"B A", ["[c1] second", "[c1] first"])
    scenario = dataclasses.replace(
        lessons.WATCH[0], response=("A", "B"), trace=("first", "second")
    )
    assert len(watch.check(scenario, seen)) == 2


def test_pages_are_written_from_the_runs(tmp_path: Path) -> None:
    chosen = (lessons.WATCH[1], lessons.EXERCISES[0])
    lessons.write_pages(str(tmp_path), chosen)
    page = (tmp_path / "watch.inc").read_text()
    assert "A chunked POST\n--------------" in page
    assert "[c1] body: chunked (RFC 9112 §6.3 step 4)" in page
    assert "Date: (the date)" in page
    exercises = (tmp_path / "exercises.inc").read_text()
    assert "HTTP/1.1 400 Bad Request" in exercises
    assert "printf 'GET / HTTP/1.1\\r\\nHost: localhost" in exercises
    # An exercise's answer is folded until the reader opens it; a watched
    # request is shown whole.
    assert exercises.count("<details><summary>The answer</summary>") == 1
    assert "<details>" not in page


def test_a_failing_scenario_fails_the_build(tmp_path: Path) -> None:
    broken = dataclasses.replace(lessons.EXERCISES[0], response=("HTTP/1.1 200",))
    with pytest.raises(RuntimeError, match="obs-fold: response lacks"):
        lessons.write_pages(str(tmp_path), (broken,))
    assert not (tmp_path / "exercises.inc").exists()


def test_connection_ids_are_renumbered() -> None:
    lines = ["[c7] opened", "[c9] opened", "[c7] closed", "no id"]
    renumbered = ["[c1] opened", "[c2] opened", "[c1] closed", "no id"]
    assert watch._renumber(lines) == renumbered


def test_main_prints_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert watch.main(["malformed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== malformed\nHTTP/1.1 400 Bad Request")
    assert "MISSING" not in out


def test_the_trace_logger_is_left_as_it_was() -> None:
    import logging

    logger = logging.getLogger("tornado_h1.trace")
    before = (logger.level, logger.propagate, list(logger.handlers))
    watch.run(lessons.EXERCISES[0])
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_each_feature_page_gets_its_own_trace(tmp_path: Path) -> None:
    lessons.write_pages(str(tmp_path), lessons.FEATURES)
    trailers = (tmp_path / "trailers.inc").read_text()
    assert "[c1] trailers received: X-Checksum" in trailers
    refusal = (tmp_path / "precise-413.inc").read_text()
    assert "HTTP/1.1 413 Content Too Large" in refusal
    outcome = refusal.partition("What the server answered")[2]
    assert "HTTP/1.1 100" not in outcome and "sent 100 Continue" not in outcome
    for name in ("trailers", "server_options"):
        page = (Path(__file__).parents[1] / "docs" / f"{name}.rst").read_text()
        assert ".. include:: _generated/" in page
