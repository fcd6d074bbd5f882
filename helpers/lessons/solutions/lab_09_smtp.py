"""lab_smtp.py PORT: the chapter's letter sent over a raw socket (a reference)."""

import socket
import sys

HEADERS = (
    "From: Student <student@mail.ru>\r\n"
    "To: Lecturer <rnd@onego.ru>\r\n"
    "Subject: From Python course student\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=Windows-1251\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
)
BODY = (
    "Здравствуйте, уважаемый автор курса!\r\n"
    "Я изучаю язык Python.\r\n"
    ".\r\n"
    "Это письмо не кончилось на точке выше.\r\n"
)
LETTER = HEADERS.encode("ascii") + b"\r\n" + BODY.encode("cp1251")


def read_reply(reader) -> tuple[int, list[str]]:
    """One reply: "250-..." lines continue it, a "250 ..." line ends it."""
    lines = []
    while True:
        line = reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        lines.append(line.rstrip(b"\r\n").decode("utf-8", errors="replace"))
        if line[3:4] != b"-":
            return int(line[:3]), lines


def command(sock: socket.socket, reader, line: str, expected: int) -> None:
    """Send one command line and insist on the reply code it must get."""
    sock.sendall(line.encode("ascii") + b"\r\n")
    code, lines = read_reply(reader)
    print("C:", line)
    print("S:", lines[-1])
    if code != expected:
        raise RuntimeError(f"{line}: expected {expected}, got {lines[-1]}")


def dot_stuff(message: bytes) -> bytes:
    """A line that starts with "." gets another "." in front (RFC 5321 4.5.2)."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def main() -> None:
    port = int(sys.argv[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        reader = sock.makefile("rb")
        code, lines = read_reply(reader)
        print("S:", lines[-1])
        command(sock, reader, "EHLO student.local", 250)
        command(sock, reader, "MAIL FROM:<student@mail.ru>", 250)
        command(sock, reader, "RCPT TO:<rnd@onego.ru>", 250)
        command(sock, reader, "DATA", 354)
        sock.sendall(dot_stuff(LETTER) + b".\r\n")
        code, lines = read_reply(reader)
        print("S:", lines[-1])
        if code != 250:
            raise RuntimeError(f"the letter was refused: {lines[-1]}")
        command(sock, reader, "QUIT", 221)


if __name__ == "__main__":
    main()
