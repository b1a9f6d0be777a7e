"""Fuzzing: no input makes a parser raise anything but ParseError (strict mode only)."""

import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.results.parse import (
    ParseError,
    iter_page_owner,
    iter_records,
    iter_stack_records,
    iter_swap_page_owner,
    peek_kind,
    summarise,
)
from harness.results.parse.grouping import cull

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
SAMPLES = [
    "page_owner-7.3-mode-stack.txt",
    "page_owner-7.3-mode-handle.txt",
    "page_owner-owner-lines-rfc.txt",
    "page_owner-old-kernels.txt",
    "page_owner-malformed.txt",
    "swap_page_owner.txt",
    "show_stacks_handles.txt",
]
SAMPLE_LINES = sorted({line for name in SAMPLES for line in (DATA / name).read_text().split("\n")})
PARSERS = [iter_page_owner, iter_swap_page_owner, iter_stack_records]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like dumps: real lines, mutated lines, blank lines, noise.
line = st.one_of(
    st.sampled_from(SAMPLE_LINES),
    st.builds(
        lambda base, at, insert, cut: base[:at] + insert + base[at + cut :],
        st.sampled_from(SAMPLE_LINES),
        st.integers(0, 200),
        st.text(alphabet="0123456789abcdefx ()|,:-+/[]<>_\\\r\t\u00e9\u00b2\u0663", max_size=6),
        st.integers(0, 12),
    ),
    st.just(""),
    st.text(max_size=40),
)
dump = st.lists(line, max_size=60).map("\n".join)


def lines_of(text):
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def run_parser(parser, source, issues):
    return [(r.lineno, r.stack, getattr(r, "comm", None), r.pages) for r in parser(source, on_issue=issues.append)]


@FUZZ
@given(dump)
def test_no_exception_escapes_lenient_parsers(text):
    for parser in PARSERS:
        issues = []
        records = run_parser(parser, text, issues)
        for issue in issues:
            assert issue.lineno >= 1 and issue.message
        assert all(lineno >= 1 for lineno, *_ in records)


@FUZZ
@given(dump)
def test_strict_mode_raises_only_parse_error(text):
    for parser in PARSERS:
        try:
            list(parser(text, strict=True))
        except ParseError as error:
            assert error.lineno >= 1


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_unicode(text):
    for parser in PARSERS:
        run_parser(parser, text, [])
    kind, _ = peek_kind(text)
    try:
        summary = summarise(text, dimensions=("stack",) if kind == "stacks" else ("comm", "stack", "gfp_flag"))
        assert summary.total.pages >= 0
    except ParseError:
        assert kind is None  # not a dump at all
    cull(iter_records(text, kind="page_owner"))


@FUZZ
@given(dump, st.integers(1, 64))
def test_chunked_and_line_sources_agree(text, step):
    """A file read in chunks and the same text as lines give the same records and issues."""
    expected_issues, line_issues, bytes_issues = [], [], []
    expected = run_parser(iter_page_owner, io.StringIO(text), expected_issues)
    assert run_parser(iter_page_owner, lines_of(text), line_issues) == expected
    assert [(i.lineno, i.message) for i in line_issues] == [(i.lineno, i.message) for i in expected_issues]
    trickle = _Trickle(text.encode("utf-8", "surrogatepass"), step)
    if "\ud800" <= max(text, default="a") and any("\ud800" <= c <= "\udfff" for c in text):
        return  # lone surrogates do not survive a UTF-8 round trip
    assert run_parser(iter_page_owner, trickle, bytes_issues) == expected
    assert [(i.lineno, i.message) for i in bytes_issues] == [(i.lineno, i.message) for i in expected_issues]


class _Trickle:
    def __init__(self, data: bytes, step: int):
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[: self.step], self.data[self.step :]
        return chunk


@pytest.mark.parametrize("name", SAMPLES)
def test_every_truncation_of_a_sample(name):
    """A dump cut anywhere (a read interrupted mid-record) never breaks the parser."""
    text = (DATA / name).read_text()
    for end in range(0, len(text), 7):
        for parser in PARSERS:
            run_parser(parser, text[:end], [])
