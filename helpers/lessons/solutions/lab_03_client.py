"""lab_client.py PORT WORD...: a framed request client over one connection (a reference)."""

import socket
import struct
import sys


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes, however many recv calls they take."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"the server closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def main() -> None:
    port, words = int(sys.argv[1]), sys.argv[2:]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for word in words:
            body = word.encode("utf-8")
            sock.sendall(struct.pack("!I", len(body)) + body)
            (size,) = struct.unpack("!I", recv_exactly(sock, 4))
            print(recv_exactly(sock, size).decode("utf-8"))


if __name__ == "__main__":
    main()
