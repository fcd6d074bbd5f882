"""lab_many.py PORT: a reverse server that serves many clients at once (a reference)."""

import socket
import sys
import threading


def serve_one(sock: socket.socket) -> None:
    """One client, in its own thread: read to the end, reply reversed, close."""
    with sock:
        sock.settimeout(30)  # a client may be slow, but not silent for ever
        try:
            data = b""
            while chunk := sock.recv(1024):
                data += chunk
            sock.sendall(data.decode("utf-8", errors="replace")[::-1].encode("utf-8"))
        except OSError:
            pass  # this client vanished: the others go on


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 33333
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    while True:
        sock, _ = srv.accept()
        threading.Thread(target=serve_one, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
