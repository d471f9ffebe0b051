"""Small but real files for /documents/…: PNG, baseline JPEG, PDF, DOCX and an OLE-headed DOC.

Everything is built from the standard library so that the replica needs no imaging package, and
every byte depends only on the ``seed`` text, so two runs serve identical files.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def content_type_for(file_name: str) -> str:
    """MIME type from the extension, as Liferay's Documents and Media servlet would send it."""
    lowered = file_name.lower()
    for extension, mime in CONTENT_TYPES.items():
        if lowered.endswith(extension):
            return mime
    return "application/octet-stream"


def _palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two colours derived from the seed: the corners of the image's gradient."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def _gradient_pixel(x: int, y: int, width: int, height: int, seed: str) -> tuple[int, int, int]:
    start, end = _palette(seed)
    weight = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2
    return tuple(round(a + (b - a) * weight) for a, b in zip(start, end, strict=True))


def make_png(seed: str, width: int = 320, height: int = 200) -> bytes:
    """An RGB PNG with a diagonal gradient, encoded by hand (zlib + CRC chunks)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type "None" for every scanline
        for x in range(width):
            rows.extend(_gradient_pixel(x, y, width, height, seed))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class _BitWriter:
    """MSB-first bit packer with JPEG byte stuffing (0xFF is followed by 0x00)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.accumulator = 0
        self.count = 0

    def write(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self.accumulator = (self.accumulator << 1) | ((value >> shift) & 1)
            self.count += 1
            if self.count == 8:
                self._emit(self.accumulator)
                self.accumulator = 0
                self.count = 0

    def _emit(self, byte: int) -> None:
        self.out.append(byte)
        if byte == 0xFF:
            self.out.append(0x00)

    def flush(self) -> bytes:
        if self.count:
            self._emit((self.accumulator << (8 - self.count)) | ((1 << (8 - self.count)) - 1))
            self.accumulator = 0
            self.count = 0
        return bytes(self.out)


def _magnitude_category(value: int) -> int:
    return abs(value).bit_length()


def _magnitude_bits(value: int, category: int) -> int:
    return value if value >= 0 else value + (1 << category) - 1


def make_jpeg(seed: str, width: int = 320, height: int = 200) -> bytes:
    """A baseline YCbCr JPEG whose 8x8 blocks are flat (DC only): a blocky gradient.

    Only DC coefficients are coded, so a tiny custom Huffman table pair suffices: DC categories
    0-11 all get 4-bit codes, and the AC table holds just the end-of-block symbol.
    """
    blocks_x, blocks_y = (width + 7) // 8, (height + 7) // 8
    quant = bytes([8] * 64)  # with q=8 a flat block's DC equals its level-shifted sample value
    dc_bits, dc_values = [0, 0, 0, 12] + [0] * 12, list(range(12))
    ac_bits, ac_values = [1] + [0] * 15, [0x00]

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    header = b"\xff\xd8"
    header += segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    header += segment(0xDB, b"\x00" + quant)
    header += segment(
        0xC0,
        struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00",
    )
    header += segment(0xC4, b"\x00" + bytes(dc_bits) + bytes(dc_values))
    header += segment(0xC4, b"\x10" + bytes(ac_bits) + bytes(ac_values))
    header += segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")

    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for block_y in range(blocks_y):
        for block_x in range(blocks_x):
            red, green, blue = _gradient_pixel(
                block_x * 8 + 4, block_y * 8 + 4, width, height, seed
            )
            luma = 0.299 * red + 0.587 * green + 0.114 * blue
            components = (
                luma,
                128 - 0.168736 * red - 0.331264 * green + 0.5 * blue,
                128 + 0.5 * red - 0.418688 * green - 0.081312 * blue,
            )
            for index, sample in enumerate(components):
                dc = round(sample) - 128
                difference = dc - previous_dc[index]
                previous_dc[index] = dc
                category = _magnitude_category(difference)
                writer.write(category, 4)
                if category:
                    writer.write(_magnitude_bits(difference, category), category)
                writer.write(0, 1)  # end of block: every AC coefficient is zero
    return header + writer.flush() + b"\xff\xd9"


def make_pdf(title: str) -> bytes:
    """A one-page PDF 1.4 with a correct cross-reference table; the text is ASCII-folded."""
    ascii_title = title.encode("ascii", "replace").decode("ascii").replace("(", "[")
    ascii_title = ascii_title.replace(")", "]").replace("\\", "/")
    stream = f"BT /F1 14 Tf 72 770 Td ({ascii_title}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref_at = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref_at}\n%%EOF\n".encode())
    return out.getvalue()


def make_docx(title: str) -> bytes:
    """A minimal WordprocessingML package that Word and LibreOffice open: one paragraph."""
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{escaped}</w:t></w:r></w:p></w:body></w:document>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            # A fixed timestamp keeps the bytes (and so the replica's answers) reproducible.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def make_doc(title: str) -> bytes:
    """Bytes that identify as a legacy Word file (OLE2 signature), padded to a 512-byte sector."""
    signature = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header = signature + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    body = title.encode("utf-16-le")
    blob = header + b"\x00" * (512 - len(header)) + body
    return blob + b"\x00" * (-len(blob) % 512)


def make_file(file_name: str, seed: str) -> bytes:
    """Bytes for a document or image of the given name; ``seed`` varies the picture or text."""
    lowered = file_name.lower()
    if lowered.endswith(".png"):
        return make_png(seed)
    if lowered.endswith((".jpg", ".jpeg")):
        return make_jpeg(seed)
    if lowered.endswith(".pdf"):
        return make_pdf(file_name)
    if lowered.endswith(".docx"):
        return make_docx(file_name)
    if lowered.endswith(".doc"):
        return make_doc(file_name)
    return seed.encode("utf-8")
