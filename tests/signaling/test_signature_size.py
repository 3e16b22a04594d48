"""A signature's size is read from its PNG header and refused before it is decoded."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from media.evidence import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_SIZE, png_size
from signaling.errors import InvalidEvidence
from signaling.evidence import decode_signature

ROOT = Path(__file__).resolve().parents[2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def one_bit_png(width: int, height: int) -> bytes:
    """A blank one-bit PNG: tiny on the wire, ``width * height`` bytes once decoded to grey."""
    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


#: Decode the data URL in argv[1] (a file) in a fresh process; print its peak memory (KiB).
PEAK = """
import resource, sys
from pathlib import Path
from signaling.evidence import decode_signature
from signaling.errors import InvalidEvidence
url = Path(sys.argv[1]).read_text()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    decode_signature("signature", url)
except InvalidEvidence as exc:
    print(exc.problem, file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_huge_one_bit_png_is_refused_from_its_header(tmp_path: Path) -> None:
    """Before the fix this 109 KB file was decoded to 900 MB of pixels, then refused."""
    png = one_bit_png(30000, 30000)
    assert len(png) < MAX_SIGNATURE_BYTES and png_size(png) == (30000, 30000)
    with pytest.raises(InvalidEvidence) as refused:
        decode_signature("signature", data_url(png))
    assert refused.value.code == "bad_evidence"
    assert "30000x30000" in str(refused.value)
    assert f"{MAX_SIGNATURE_SIZE[0]} x" in str(refused.value)
    # And the memory it took: a fresh process, so that its peak is this decode's alone.
    url = tmp_path / "url.txt"
    url.write_text(data_url(png))
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(url)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "30000x30000" in done.stderr
    assert int(done.stdout) < 50 * 1024, f"decoding took {int(done.stdout) // 1024} MiB more"


@pytest.mark.parametrize(
    ("png", "problem"),
    [
        (one_bit_png(4001, 100), "4001x100"),
        (one_bit_png(100, 2001), "100x2001"),
        (one_bit_png(99, 100), "99x100"),
        (b"\x89PNG\r\n\x1a\n" + _chunk(b"IDAT", b""), "first chunk is not IHDR"),
        (b"\x89PNG\r\n\x1a\n\0\0", "first chunk is not IHDR"),
    ],
    ids=["wide", "tall", "narrow", "no-header", "truncated"],
)
def test_sizes_outside_a_signature_pad_are_refused(png: bytes, problem: str) -> None:
    with pytest.raises(InvalidEvidence) as refused:
        decode_signature("signature", data_url(png))
    assert problem in str(refused.value)


def test_a_header_that_lies_about_the_size_is_refused() -> None:
    honest = one_bit_png(400, 100)
    lying = honest[:16] + struct.pack(">II", 400, 200) + honest[24:]
    with pytest.raises(InvalidEvidence) as refused:
        decode_signature("signature", data_url(lying))
    assert "decoded" in str(refused.value) or "size its header says" in str(refused.value)
