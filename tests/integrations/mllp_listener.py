"""A real MLLP listener on loopback for the tests: parses every message with hl7apy and ACKs it."""

from __future__ import annotations

import socket
import threading
from typing import Any

from hl7apy.core import Message
from hl7apy.parser import parse_message

from integrations.services.mllp import END, frame, unframe


class MllpListener:
    """Accepts connections on 127.0.0.1:`port` (0 = any free port) in a thread; `received` holds what
    arrived, parsed. `answer` is the MSA-1 sent back (AA, or AE/AR to refuse)."""

    def __init__(self, port: int = 0, answer: str = "AA") -> None:
        self.answer = answer
        self.received: list[Any] = []
        self.raw: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while END not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if END not in data:
                    continue
                er7 = unframe(data)
                message = parse_message(er7)  # a message hl7apy cannot parse fails the test's count
                self.raw.append(er7)
                self.received.append(message)
                conn.sendall(frame(self._ack(message).to_er7()))

    def _ack(self, message: Any) -> Message:
        ack = Message("ACK", version="2.5")
        ack.msh.msh_3, ack.msh.msh_5 = "EHR", message.msh.msh_3.value
        ack.msh.msh_9 = "ACK^R01^ACK"
        ack.msh.msh_10 = "ACK" + message.msh.msh_10.value[:17]
        ack.msh.msh_11 = "P"
        ack.add_segment("MSA")
        ack.msa.msa_1 = self.answer
        ack.msa.msa_2 = message.msh.msh_10.value
        return ack

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
