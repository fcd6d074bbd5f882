"""lab_server.py PORT: the chapter's reverse server, from socket() up (a reference)."""

import socket
import sys


def serve_one(sock: socket.socket, addr: tuple[str, int]) -> None:
    """Read the whole message (until the client's shutdown), reply with it reversed."""
    sock.settimeout(5)  # a silent client cannot hold the server for ever
    data = b""
    while chunk := sock.recv(1024):
        data += chunk
    lap = data.decode("utf-8", errors="replace")[::-1]
    sock.sendall(lap.encode("utf-8"))
    print(f"served {addr[0]}:{addr[1]}:", len(data), "bytes")


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 33333
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(5)
    print("listening on port", port)
    while True:
        sock, addr = srv.accept()
        with sock:
            try:
                serve_one(sock, addr)
            except OSError as error:  # reset, timed out: this client only
                print(f"client {addr[0]}:{addr[1]}:", type(error).__name__)


if __name__ == "__main__":
    main()
