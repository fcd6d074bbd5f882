"""lab_ping.py PORT COUNT TIMEOUT TRIES: a UDP pinger with retries (a reference)."""

import socket
import sys
import time


def ping(sock: socket.socket, address: tuple[str, int], number: int, tries: int) -> float | None:
    """Send "ping N" up to ``tries`` times; the round trip in ms of the first reply, or None."""
    for _ in range(tries):
        sent = time.perf_counter()
        sock.sendto(f"ping {number}".encode("ascii"), address)
        try:
            while True:  # skip late replies to earlier pings
                data, _ = sock.recvfrom(65535)
                if data.split()[1:2] == [str(number).encode("ascii")]:
                    return (time.perf_counter() - sent) * 1000
        except TimeoutError:
            continue
    return None


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    timeout, tries = float(sys.argv[3]), int(sys.argv[4])
    address = ("127.0.0.1", port)
    received = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for number in range(1, count + 1):
            rtt = ping(sock, address, number, tries)
            if rtt is None:
                print(f"ping {number}: lost")
            else:
                received += 1
                print(f"ping {number}: reply in {rtt:.1f} ms")
    loss = (count - received) / count * 100
    print(f"{count} sent, {received} received, {loss:g}% loss")


if __name__ == "__main__":
    main()
