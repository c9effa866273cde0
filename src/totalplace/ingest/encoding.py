"""Text encodings of CSV extracts: detect, check and (when needed) transcode to UTF-8.

Detection is a strict-decode cascade over the whole file, not a guess from a sample:
UTF-8 (with or without a byte-order mark) if every byte decodes; else Windows-1252 (what
Excel and most Windows systems in the UK write) if no byte is one of the five it leaves
undefined; else Latin-1, which decodes anything. A file with NUL bytes is binary (or UTF-16
without a byte-order mark) and is refused. DuckDB reads UTF-8, so anything else is first
rewritten to a temporary UTF-8 file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from totalplace.errors import InputFileError

CHUNK = 1 << 24
# Bytes Windows-1252 leaves undefined; their presence means the text is not cp1252.
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class TextInfo:
    """What a scan of a text file found."""

    encoding: str  # Python codec that decodes the file
    utf8: bool  # DuckDB can read the file as it is (UTF-8, BOM or not)
    interior_blank_lines: bool  # an empty line before the last line with content


def _line_of(offset: int, before: int, chunk: bytes) -> int:
    return before + chunk[:offset].count(b"\n") + 1


def check_codec(path: Path, declared: str | None) -> str:
    """The declared encoding's codec name ("auto" stays "auto"); unknown ones are an error."""
    declared = (declared or "auto").lower()
    if declared == "auto":
        return declared
    try:
        return codecs.lookup(declared).name
    except LookupError:
        raise InputFileError(
            str(path), f"unknown encoding {declared!r}; use auto, utf-8, cp1252 or latin-1"
        ) from None


def scan_text(path: Path, declared: str = "auto") -> TextInfo:
    """Scan ``path`` once and decide how to decode it.

    Args:
        path: the file.
        declared: the manifest's ``encoding`` ("auto", or a codec name such as "cp1252").

    Raises:
        InputFileError: the file is binary, or not valid in the declared encoding.
    """
    declared = check_codec(path, declared)
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(UTF16_BOMS) and declared in ("auto", "utf-16"):
        return TextInfo("utf-16", utf8=False, interior_blank_lines=False)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_ok, cp1252_ok = True, True
    lines_before = 0
    first_blank = last_content = -1
    pos = 0
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if b"\x00" in chunk:
                at = chunk.index(b"\x00")
                raise InputFileError(
                    str(path),
                    f"contains NUL bytes (first at line "
                    f"{_line_of(at, lines_before, chunk)}): this is a binary file "
                    "or UTF-16 text without a byte-order mark, not a CSV",
                )
            if utf8_ok:
                try:
                    decoder.decode(chunk, final=False)
                except UnicodeDecodeError as e:
                    utf8_ok = False
                    if declared in ("utf-8", "utf-8-sig"):
                        raise InputFileError(
                            str(path),
                            (
                                f"not valid UTF-8: byte 0x{chunk[e.start]:02x} at line "
                                f"{_line_of(e.start, lines_before, chunk)}; if the file came from "
                                "Excel or Windows set encoding: cp1252 (or encoding: auto)"
                            ),
                        ) from None
            if cp1252_ok and any(b in chunk for b in CP1252_UNDEFINED):
                cp1252_ok = False
            # Blank lines: "\n\n" or "\n\r\n", looked for across chunk boundaries too.
            joined = tail + chunk
            if pos == 0 and chunk.removeprefix(codecs.BOM_UTF8).startswith((b"\n", b"\r\n")):
                first_blank = 0  # a blank line before the header
            for pat in (b"\n\n", b"\n\r\n"):
                i = joined.find(pat)
                if i >= 0:
                    at = pos - len(tail) + i
                    first_blank = at if first_blank < 0 else min(first_blank, at)
            stripped = chunk.rstrip(b" \t\r\n")
            if stripped:
                last_content = pos + len(stripped)
            tail = chunk[-2:]
            lines_before += chunk.count(b"\n")
            pos += len(chunk)
    if utf8_ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    interior = 0 <= first_blank < last_content
    if declared in ("utf-8", "utf-8-sig"):
        if not utf8_ok:
            raise InputFileError(
                str(path), "not valid UTF-8: the file ends in the middle of a character"
            )
        return TextInfo("utf-8-sig", True, interior)
    if declared == "auto":
        if utf8_ok:
            return TextInfo("utf-8-sig", True, interior)
        return TextInfo("cp1252" if cp1252_ok else "latin-1", False, interior)
    if declared == "cp1252" and not cp1252_ok:
        raise InputFileError(
            str(path),
            "not valid cp1252: it has bytes cp1252 leaves undefined "
            "(0x81, 0x8d, 0x8f, 0x90 or 0x9d); try encoding: latin-1",
        )
    return TextInfo(declared, False, interior)


def transcode(path: Path, encoding: str, out: Path) -> None:
    """Rewrite ``path`` (in ``encoding``) as UTF-8 without a byte-order mark at ``out``."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        first = True
        while chunk := src.read(CHUNK):
            try:
                text = decoder.decode(chunk, final=False)
            except UnicodeDecodeError as e:
                at = _line_of(e.start, line - 1, chunk)
                raise InputFileError(
                    str(path), f"not valid {encoding}: byte 0x{chunk[e.start]:02x} at line {at}"
                ) from None
            if first:
                text = text.lstrip("\ufeff")
                first = False
            dst.write(text)
            line += chunk.count(b"\n")
        dst.write(decoder.decode(b"", final=True))


def decode_head(data: bytes, encoding: str) -> str:
    """Decode the first bytes of a file for its header (tolerating a cut final character)."""
    enc = encoding.lower()
    if enc == "auto":
        if data.startswith(UTF16_BOMS):
            enc = "utf-16"
        else:
            for enc in ("utf-8-sig", "cp1252", "latin-1"):
                try:
                    codecs.getincrementaldecoder(enc)("strict").decode(data, final=False)
                    break
                except UnicodeDecodeError:
                    continue
    elif enc in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    text = codecs.getincrementaldecoder(enc)("replace").decode(data, final=False)
    return text.lstrip("\ufeff")
