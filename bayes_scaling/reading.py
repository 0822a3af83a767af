"""Reading a table of runs from whatever file a user brings, as text cells with line numbers.

A runs file is usually a CSV, but the ones people bring are often not quite: tab- or
semicolon-separated, with decimal commas (``2,85``), ``#`` comment lines, Windows-1252 bytes,
gzip content under a ``.csv`` name, or an Excel or Parquet file. `read_table` recognises each of
these by content, reads what it can and says how it read it (`Table.notes`), and refuses the rest
with an error that names the file, the line and the byte. Every cell stays text: parsing numbers
(``70M``, ``1.4B``) is `data`'s job, with the line number of every value.

Example
-------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "runs.csv")
>>> with open(path, "w") as handle:
...     _ = handle.write("# my sweep\\nparams;tokens;loss\\n70M;1,4B;3,10\\n1.4B;28B;2,40\\n")
>>> table = read_table(path)
>>> table.frame.to_dict("list"), table.lines.tolist()
({'params': ['70M', '1.4B'], 'tokens': ['1.4B', '28B'], 'loss': ['3.10', '2.40']}, [3, 4])
>>> table.notes  # doctest: +ELLIPSIS
('read ...runs.csv with delimiter semicolon and decimal commas (1,4B -> 1.4B)',)
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import os
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import RunsError

__all__ = ["Table", "read_table", "DELIMITERS", "THOUSANDS"]

# Delimiters tried (and their names in notes), in order of preference when several split the
# lines equally well.
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
WHITESPACE = r"\s+"  # columns separated by runs of spaces, the last resort
# A number as `data.parse_number` reads it, with a decimal comma: 2,85  1,4B  1.234,5  5,76e23
_SUFFIX = r"(?:[eE][+-]?\d+)?\s*[KMBGTPkmbgtp]?"
_DECIMAL_COMMA = re.compile(rf"^[+-]?\d+,\d+{_SUFFIX}$")
_GROUPED_DECIMAL_COMMA = re.compile(rf"^[+-]?\d{{1,3}}(?:\.\d{{3}})+,\d+{_SUFFIX}$")
# A number with thousands separators (1,000  12,345.6  1,400M): the only comma `data` reads.
THOUSANDS = re.compile(rf"^[+-]?\d{{1,3}}(?:,\d{{3}})+(?:\.\d*)?{_SUFFIX}$")
# File signatures (the first bytes), so that a file is read by what it holds, not its name.
_GZIP, _ZIP, _PARQUET, _OLE = b"\x1f\x8b", b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0"
_SNIFF_LINES = 50


class Table(NamedTuple):
    """A table of text cells, as read.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per data line, every cell a string (a DataFrame given by the caller as it is).
    source : str
        The file name (or ``"DataFrame"``), for messages.
    lines : numpy.ndarray
        Each row's line number in the file (Excel: its row number; DataFrame: its index label).
    notes : tuple of str
        How the file was read when that was not a plain UTF-8 comma-separated file.
    """

    frame: pd.DataFrame
    source: str
    lines: np.ndarray
    notes: tuple = ()


def read_table(data, sep=None):
    """Read a CSV-like file (or take a DataFrame) as text cells with their line numbers.

    Parameters
    ----------
    data : str, os.PathLike or pandas.DataFrame
        A file: delimited text (comma, tab, semicolon, pipe or spaces; sniffed unless ``sep``
        is given), optionally gzip-compressed, in UTF-8 or Windows-1252/latin-1; or an Excel
        (``openpyxl``) or Parquet (``pyarrow``) file when that optional package is installed.
        Lines starting with ``#`` are comments; blank lines are skipped.
    sep : str, optional
        The delimiter, e.g. ``";"`` or ``"\\t"`` (``"tab"``, ``"space"`` also read).

    Returns
    -------
    Table

    Raises
    ------
    RunsError
        A missing file, a directory, a binary or undecodable file (naming the byte and line),
        an empty table or a header naming one column twice.
    """
    if isinstance(data, pd.DataFrame):
        lines = np.asarray([str(i) for i in data.index], dtype=object)
        _check_header(list(map(str, data.columns)), "DataFrame", "the columns")
        return _non_empty(Table(data, "DataFrame", lines))
    source = os.fspath(data)
    if os.path.isdir(source):
        inside = sorted(f for f in os.listdir(source) if f.lower().endswith((".csv", ".tsv")))
        hint = (f"; CSV files in it: {', '.join(inside[:5])}{' ...' if len(inside) > 5 else ''}"
                if inside else "")
        raise RunsError(f"{source}: is a directory, not a file; name a runs file in it{hint}")
    if not os.path.isfile(source):
        raise RunsError(f"{source}: no such file")
    with open(source, "rb") as handle:
        raw = handle.read()
    notes = []
    if raw.startswith(_GZIP):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise RunsError(f"{source}: gzip-compressed but cannot be decompressed ({err})") from None
        notes.append(f"{source} is gzip-compressed; read its content")
    binary = _binary_table(raw, source)
    if binary is not None:
        return _non_empty(binary)
    text, encoding_note = _decode(raw, source)
    notes += [encoding_note] if encoding_note else []
    return _non_empty(_read_text(text, source, sep, tuple(notes)))


def _non_empty(table):
    if len(table.frame) == 0:
        raise RunsError(f"{table.source}: no rows in the data")
    return table


def _binary_table(raw, source):
    """A Table from an Excel or Parquet file (read, or refused by name without its reader),
    None for text; any other binary content is refused."""
    kinds = {_ZIP: ("an Excel workbook (.xlsx)", "openpyxl", pd.read_excel),
             _OLE: ("an old Excel workbook (.xls)", "xlrd", pd.read_excel),
             _PARQUET: ("a Parquet file", "pyarrow", pd.read_parquet)}
    magic = next((m for m in kinds if raw.startswith(m)), None)
    if magic is None:
        if b"\x00" in raw[:4096]:
            raise RunsError(f"{source}: a binary file, not a table of text; give a CSV file")
        return None
    what, package, reader = kinds[magic]
    if magic == _ZIP and b"xl/" not in raw:
        raise RunsError(f"{source}: a zip archive; unzip it and give the CSV file inside")
    if importlib.util.find_spec(package) is None:
        raise RunsError(f"{source}: {what}; save it as CSV, or install {package} "
                        f"(pip install {package}) to read it directly")
    frame = reader(io.BytesIO(raw))
    _check_header(list(map(str, frame.columns)), source, "the header")
    frame = frame.astype(str).replace({"nan": "", "None": "", "NaT": ""})
    first = 2 if magic != _PARQUET else 1  # a spreadsheet's row 1 holds the header
    lines = np.arange(first, len(frame) + first)
    label = "rows" if magic != _PARQUET else "row numbers (from 1)"
    return Table(frame, source, lines, (f"read {source} as {what}; its {label} are the line "
                                        f"numbers in messages",))


def _decode(raw, source):
    """The text of ``raw`` and a note when it was not UTF-8 (None otherwise)."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        byte, line = raw[err.start], raw.count(b"\n", 0, err.start) + 1
    try:
        # Windows-1252 (a superset of latin-1's printable characters) is what spreadsheets on
        # Windows write; it leaves digits alone, so numbers read the same either way.
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise RunsError(f"{source}, line {line}: byte 0x{byte:02X} is not UTF-8 (nor "
                        f"Windows-1252); save the file as UTF-8") from None
    return text, (f"{source} is not UTF-8 (byte 0x{byte:02X} on line {line}); read it as "
                  f"Windows-1252/latin-1")


def _read_text(text, source, sep, notes):
    rows = text.splitlines()
    kept = [i for i, row in enumerate(rows) if row.strip() and not row.lstrip().startswith("#")]
    if not kept:
        raise RunsError(f"{source}: no rows in the data (the file is empty or only comments)")
    header = kept[0]
    sample = [rows[i] for i in kept[:_SNIFF_LINES]]
    delimiter = _delimiter(sep, sample)
    names = _split(rows[header], delimiter)
    _check_header(names, source, f"line {header + 1}")
    data_rows = set(kept)  # once: a membership test per row of a large file
    body = [rows[i] if i in data_rows else "" for i in range(header, len(rows))]
    try:
        frame = pd.read_csv(io.StringIO("\n".join(body)), sep=delimiter, dtype=str,
                            keep_default_na=False, skipinitialspace=True,
                            skip_blank_lines=False, engine="python" if delimiter == WHITESPACE else "c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RunsError(f"{source}: not a readable table ({err})") from None
    lines = np.arange(header + 2, header + 2 + len(frame))
    blank = (frame.fillna("").astype(str).apply(lambda col: col.str.strip()) == "").all(axis=1)
    frame, lines = frame[~blank.to_numpy()], lines[~blank.to_numpy()]
    frame, decimal_note = _decimal_commas(frame, delimiter)
    if delimiter != "," or decimal_note:
        style = f"delimiter {_describe(delimiter)}" + (f" and {decimal_note}" if decimal_note else "")
        notes += (f"read {source} with {style}",)
    return Table(frame, source, lines, notes)


def _describe(delimiter):
    return "spaces" if delimiter == WHITESPACE else DELIMITERS.get(delimiter, repr(delimiter))


def _delimiter(sep, sample):
    """``sep`` as given, or the delimiter that splits the header into the most columns and
    every sampled line into as many (runs of spaces only when no delimiter character does)."""
    if sep is not None:
        return {"tab": "\t", "\\t": "\t", "space": WHITESPACE, "spaces": WHITESPACE}.get(sep, sep)
    width, _, best = max((_width(sample, d), -order, d) for order, d in enumerate(DELIMITERS))
    if width > 1:
        return best
    return WHITESPACE if _width(sample, WHITESPACE) > 1 else ","


def _width(sample, delimiter):
    """How many columns ``delimiter`` splits every line of ``sample`` into (1 if they differ)."""
    widths = {len(_split(row, delimiter)) for row in sample}
    return widths.pop() if len(widths) == 1 else 1


def _split(row, delimiter):
    if delimiter == WHITESPACE:
        return row.split()
    return next(csv.reader([row], delimiter=delimiter, skipinitialspace=True), [])


def _check_header(names, source, where):
    seen = {}
    for position, name in enumerate(names, start=1):
        key = name.strip()
        if key in seen:
            raise RunsError(f"{source}, {where}: column name {key!r} appears twice (columns "
                            f"{seen[key]} and {position}); rename one, so that it is clear "
                            f"which is meant")
        seen[key] = position


def _decimal_commas(frame, delimiter):
    """Cells written with a decimal comma (``2,85``, ``1.234,5``) rewritten with a point, when
    the delimiter is not a comma and such cells occur; thousands separators (``1,000``) alone
    decide nothing. Returns (frame, note or None)."""
    if delimiter == ",":
        return frame, None
    cells = frame.astype(str).apply(lambda col: col.str.strip())
    comma = cells.apply(lambda col: col.str.match(_DECIMAL_COMMA.pattern))
    grouped = cells.apply(lambda col: col.str.match(_GROUPED_DECIMAL_COMMA.pattern))
    # "1,000" alone could be a thousand: only a comma no thousands separator explains decides.
    deciding = (comma & ~cells.apply(lambda col: col.str.match(THOUSANDS.pattern))) | grouped
    if not deciding.to_numpy().any():
        return frame, None
    example = cells.to_numpy()[deciding.to_numpy()][0]
    convert = comma | grouped
    rewritten = cells.where(~convert, cells.apply(
        lambda col: col.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)))
    return rewritten, f"decimal commas ({example} -> {example.replace('.', '').replace(',', '.')})"
