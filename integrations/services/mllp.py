"""MLLP (HL7 v2 Minimal Lower Layer Protocol) client: one framed message out, one framed ACK back."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from hl7apy.parser import parse_message

START, END = b"\x0b", b"\x1c\x0d"
_MAX_ACK_BYTES = 1 << 20


class MllpError(Exception):
    """The message was not acknowledged with AA: connection failure, timeout, bad frame, AE or AR."""


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1: AA, AE, AR (or CA, CE, CR in enhanced mode)
    control_id: str  # MSA-2: the MSH-10 it acknowledges
    text: str  # MSA-3 / ERR, for the delivery's last_error


def frame(er7: str) -> bytes:
    """Wrap one ER7 message in the MLLP start and end blocks."""
    return START + er7.encode("utf-8") + END


def unframe(data: bytes) -> str:
    """The ER7 message inside one MLLP frame."""
    start, end = data.find(START), data.find(END)
    if start < 0 or end < start:
        raise MllpError("reply is not an MLLP frame")
    return data[start + 1 : end].decode("utf-8", errors="replace")


def parse_ack(er7: str) -> Ack:
    """MSA-1 and MSA-2 of an ACK, parsed with hl7apy."""
    try:
        ack = parse_message(er7.replace("\n", "\r"), find_groups=False)
        msa = ack.msa
        return Ack(
            code=msa.msa_1.value, control_id=msa.msa_2.value, text=msa.msa_3.value if msa.msa_3 else ""
        )
    except Exception as exc:  # hl7apy raises many types for malformed input
        raise MllpError(f"unparseable ACK: {exc}") from exc


def mllp_send(*, host: str, port: int, er7: str, control_id: str, timeout: float) -> Ack:
    """Send one message and return its ACK; MllpError unless the ACK is AA (or CA) for this message."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(frame(er7))
            data = b""
            while END not in data:
                chunk = conn.recv(4096)
                if not chunk or len(data) > _MAX_ACK_BYTES:
                    raise MllpError("connection closed before a complete ACK")
                data += chunk
    except OSError as exc:
        raise MllpError(f"{type(exc).__name__}: {exc}") from exc
    ack = parse_ack(unframe(data))
    if ack.control_id != control_id:
        raise MllpError(f"ACK for {ack.control_id!r}, not for {control_id!r}")
    if ack.code not in ("AA", "CA"):
        raise MllpError(f"ACK {ack.code}: {ack.text}".strip())
    return ack
