"""Raw multipart/form-data bodies, so tests can send bytes a browser would never put in a header."""

from __future__ import annotations

import uuid


def multipart(fields: dict[str, str], files: list[tuple[str, bytes, bytes]]) -> tuple[bytes, str]:
    """Encode text fields and (field name, raw file name bytes, content) files; return (body, content type)."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for field, filename, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
        parts.append(
            head + filename + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
