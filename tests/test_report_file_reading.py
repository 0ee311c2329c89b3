"""Report files are read as Apple writes them (the delimiter of each file's header line,
standard quoting, and Spark's writer's way with quotes where standard quoting fails) and checked
against the bounds of report_files before any row is read."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_segment_analytics.appstore.fetch.report_files import (
    EXPANSION_FLOOR_BYTES,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    MalformedFile,
    ReportText,
    read_rows,
    verify_contents,
)

HEADER = ["Date", "App Name", "Device", "Crashes"]


def gz(tmp_path: Path, text: str | bytes) -> Path:
    """A gzipped file of `text`, as downloaded."""
    path = tmp_path / "segment.gz"
    path.write_bytes(gzip.compress(text if isinstance(text, bytes) else text.encode()))
    return path


def rows_of(tmp_path: Path, text: str | bytes) -> list[list[str]]:
    """What the tap reads from a file: verified first, as every downloaded file is."""
    path = gz(tmp_path, text)
    verify_contents(path, path.stat().st_size)
    return list(read_rows(path))


@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_the_header_line_decides_the_delimiter(tmp_path: Path, delimiter: str) -> None:
    lines = [HEADER, ["2026-11-30", "Trail Notes", "iPhone", "3"]]
    text = "".join(delimiter.join(line) + "\n" for line in lines)

    assert rows_of(tmp_path, text) == lines


def test_a_comma_inside_a_tab_separated_value_stays_in_the_value(tmp_path: Path) -> None:
    text = "Date\tPage Title\n2026-11-30\tSale, 50% off\n"

    assert rows_of(tmp_path, text)[1] == ["2026-11-30", "Sale, 50% off"]


def test_quoting_is_standard(tmp_path: Path) -> None:
    text = (
        "Date,App Name,Device,Crashes\r\n"
        '"2026-11-30","",iPhone,""\r\n'  # "" is an empty value, not two quotes
        '2026-11-30,"Notes, Tasks ""Pro""","iPad\nmini",4\r\n'  # delimiter, quote, newline
        '2026-11-30,5" screen,iPhone,5\r\n'  # a quote inside an unquoted value is kept
    )

    assert rows_of(tmp_path, text)[1:] == [
        ["2026-11-30", "", "iPhone", ""],
        ["2026-11-30", 'Notes, Tasks "Pro"', "iPad\nmini", "4"],
        ["2026-11-30", '5" screen', "iPhone", "5"],
    ]


def test_a_quoted_value_with_a_newline_keeps_the_columns_in_place(tmp_path: Path) -> None:
    text = 'Date\tApp Name\tDevice\tCrashes\n2026-11-30\t"Trail\nNotes"\tiPhone\t7\n'

    assert rows_of(tmp_path, text)[1] == ["2026-11-30", "Trail\nNotes", "iPhone", "7"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # A developer's title that begins with a quote, written as typed.
        ('"Back to School" custom product page', '"Back to School" custom product page'),
        # The same title as Spark's CSV writer (Apple's) escapes it: backslash inside quotes.
        ('"\\"Back to School\\" custom product page"', '"Back to School" custom product page'),
        ('"\\"Sale\\"\tnow"', '"Sale"\tnow'),
        ('"never closed', '"never closed'),
    ],
)
def test_a_quote_that_does_not_close_where_standard_quoting_wants_is_read_as_written(
    tmp_path: Path, field: str, value: str
) -> None:
    text = "\t".join(HEADER) + f"\n2026-11-30\t{field}\tiPhone\t1\n2026-11-30\tNotes\tiPad\t2\n"

    assert rows_of(tmp_path, text)[1:] == [
        ["2026-11-30", value, "iPhone", "1"],
        ["2026-11-30", "Notes", "iPad", "2"],
    ]


def test_comma_separated_files_get_the_same_reading(tmp_path: Path) -> None:
    text = (
        "Date,App Name,Device,Crashes\n"
        '2026-11-30,"Back to School" sale,iPhone,1\n'
        '2026-11-30,"\\"Back to School\\", sale",iPad,2\n'
    )

    assert rows_of(tmp_path, text)[1:] == [
        ["2026-11-30", '"Back to School" sale', "iPhone", "1"],
        ["2026-11-30", '"Back to School", sale', "iPad", "2"],
    ]


def test_each_row_is_read_with_the_line_it_ends_on(tmp_path: Path) -> None:
    text = (
        "Date\tApp Name\tCrashes\n"
        '2026-11-30\t"Trail\nNotes"\t1\n'  # lines 2-3
        "\n"  # line 4: blank, skipped
        '2026-11-30\t"Best" app\t2\n'  # line 5
        '2026-11-30\t""\t""\n'  # line 6
        "2026-11-30\tNotes\n"  # line 7: a field short
        "2026-11-30\tNotes\t3\textra\n"  # line 8: one too many
    )
    path = gz(tmp_path, text)

    with ReportText(path) as report:
        read = [(report.line, values) for values in report.rows()]

    assert read == [
        (3, ["2026-11-30", "Trail\nNotes", "1"]),
        (5, ["2026-11-30", '"Best" app', "2"]),
        (6, ["2026-11-30", "", ""]),
        (7, ["2026-11-30", "Notes"]),
        (8, ["2026-11-30", "Notes", "3", "extra"]),
    ]


def test_a_one_column_header_stays_one_column(tmp_path: Path) -> None:
    text = "Date;App Name;Crashes\n2026-11-30;Trail Notes;3\n"

    assert rows_of(tmp_path, text) == [["Date;App Name;Crashes"], ["2026-11-30;Trail Notes;3"]]


def test_a_utf8_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    assert rows_of(tmp_path, "\ufeffDate\tCrashes\n2026-11-30\t1\n")[0] == ["Date", "Crashes"]


def test_a_header_of_too_many_columns_is_refused(tmp_path: Path) -> None:
    header = "\t".join(f"c{n}" for n in range(MAX_COLUMNS + 1))

    with pytest.raises(MalformedFile) as raised:
        rows_of(tmp_path, header + "\n")

    assert str(raised.value) == (
        f"its header has {MAX_COLUMNS + 1} columns, more than {MAX_COLUMNS}: not a report file"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"Date\tApp Name\n2026-11-30\tTrail\n2026-11-30\tCaf\xe9\n", "line 3 is not UTF-8 text"),
        (b"Date\tApp Name\n2026-11-30\tCaf\xc3", "line 2 ends in a cut-off UTF-8 character"),
    ],
)
def test_text_that_is_not_utf8_names_its_line(tmp_path: Path, text: bytes, says: str) -> None:
    path = gz(tmp_path, text)

    with pytest.raises(MalformedFile) as raised:
        verify_contents(path, path.stat().st_size)

    assert str(raised.value).startswith(says)


def test_a_non_utf8_byte_is_found_on_its_line_beyond_the_first_chunk(tmp_path: Path) -> None:
    row = "2026-11-30\tCaf\u00e9 \u65e5\u672c\n"  # multi-byte characters across chunk edges
    rows = row * (3 * MAX_LINE_BYTES // len(row.encode()))
    text = b"Date\tApp Name\n" + rows.encode() + b"2026-11-30\t\xff\n"
    path = gz(tmp_path, text)

    with pytest.raises(MalformedFile) as raised:
        verify_contents(path, path.stat().st_size)

    assert str(raised.value) == f"line {rows.count(chr(10)) + 2} is not UTF-8 text (byte 0xff)"


def test_lines_up_to_the_limit_pass_and_one_byte_more_fails(tmp_path: Path) -> None:
    longest = "x" * MAX_LINE_BYTES
    passes = gz(tmp_path, f"Date\n{longest}\n{longest}")
    verify_contents(passes, passes.stat().st_size)
    fails = gz(tmp_path, f"Date\n{longest}\n{longest}x\n")

    with pytest.raises(MalformedFile) as raised:
        verify_contents(fails, fails.stat().st_size)

    assert str(raised.value) == (f"line 3 is longer than {MAX_LINE_BYTES} bytes: not a report file")


def test_a_file_that_expands_like_a_gzip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    line = b"2026-11-30\t1\n" * 4096
    with path.open("wb") as out:
        out.write(compressor.compress(b"Date\tCrashes\n"))
        for _ in range(2 * EXPANSION_FLOOR_BYTES // len(line)):
            out.write(compressor.compress(line))
        out.write(compressor.flush())
    size = path.stat().st_size

    with pytest.raises(MalformedFile) as raised:
        verify_contents(path, size)

    assert str(raised.value).startswith(f"it gunzips to more than {EXPANSION_FLOOR_BYTES} bytes")


@given(
    st.lists(
        st.lists(st.sampled_from(['""', "x", "", '""""', '"" ""', 'a""', '""b', '"q"', '"t\tu"']),
                 min_size=1, max_size=5),
        min_size=1, max_size=5,
    ),
    st.sampled_from(["\t", ","]),
)  # fmt: skip
def test_where_standard_quoting_reads_a_file_the_reader_reads_the_same(
    lines: list[list[str]], delimiter: str
) -> None:
    text = "".join(delimiter.join(fields) + "\n" for fields in [["A", "B"], *lines])
    try:
        expected = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return  # not standard quoting: the reader's own way (tests above)
    with tempfile.TemporaryDirectory() as folder:
        read = rows_of(Path(folder), text)

    assert read == [row for row in expected if row not in ([], [""])]
