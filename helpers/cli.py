"""The course's servers from a terminal, for real clients: ``python -m helpers ...``.

    python -m helpers serve dns                      # then: dig @127.0.0.1 -p PORT www.onego.ru
    python -m helpers serve mail --tls --auth student:secret --maildir ~/Maildir
    python -m helpers serve reverse --port 33333
    python -m helpers talk 127.0.0.1 PORT            # type SMTP (or anything) line by line

Why: a notebook shows what a server did; a terminal lets a student meet it the
way the rest of the world does, with ``dig``, ``host``, ``swaks``, ``nc`` or
``telnet``. ``serve`` runs one course server in the foreground, with the
network guard on (nothing leaves loopback), prints its status line (with the
fallback when the port is busy), then what it does, line by line, until Ctrl-C
stops it cleanly. With ``--tls`` the course's CA is written to a file and
named, for ``swaks --tls-ca-path`` and ``SSL_CERT_FILE``; the CA lives as long
as the server process, so the file is removed when it stops.

``talk`` is a small line client for machines without ``nc`` or ``telnet``: what
the server sends is printed, each line typed is sent with CRLF (what SMTP
wants), and end of input (Ctrl-D; Ctrl-Z Enter on Windows) or Ctrl-C ends it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from helpers.run.guard import NetworkGuardError, enable_guard
from helpers.run.service import Service

__all__ = ["main"]

DEFAULT_PORTS = {"reverse": 33333, "dns": 10053, "mail": 2525}
SHOWN_KINDS = frozenset(
    {"query", "reply", "ignored", "connect", "close", "refusal", "tls", "tls-failed", "error"}
)
POLL = 0.2  # seconds between looks at the server's log (and chances for Ctrl-C)
TALK_TIMEOUT = 5.0  # for connecting, and for the server's last words after end of input


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers", description="The course's servers, from a terminal."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a course server in the foreground")
    serve.add_argument("what", choices=sorted(DEFAULT_PORTS), help="which server")
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on (0: any free one; defaults: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_PORTS.items())
        + ")",
    )
    serve.add_argument("--tls", action="store_true", help="mail: offer STARTTLS")
    serve.add_argument(
        "--auth", metavar="USER:PASS", action="append", default=[], help="mail: a login (with TLS)"
    )
    serve.add_argument("--maildir", metavar="DIR", help="mail: keep messages in this Maildir")
    serve.add_argument("--ca-file", metavar="PATH", help="mail with --tls: where to write the CA")
    talk = commands.add_parser("talk", help="a line client: type lines, see the replies")
    talk.add_argument("host")
    talk.add_argument("port", type=int)
    return parser


def _users(pairs: list[str]) -> dict[str, str]:
    users = {}
    for pair in pairs:
        user, colon, password = pair.partition(":")
        if not colon or not user:
            raise ValueError(f"--auth wants USER:PASS, not {pair!r}")
        users[user] = password
    return users


def _start(args: argparse.Namespace, out: TextIO) -> tuple[Service, list[str], Callable[[], None]]:
    """Start the server asked for; its hints for a terminal; what to clean up after."""
    port = DEFAULT_PORTS[args.what] if args.port is None else args.port
    mail_only = args.tls or args.auth or args.maildir or args.ca_file
    if args.what != "mail" and mail_only:
        raise ValueError("--tls, --auth, --maildir and --ca-file are for the mail sink")
    if args.auth and not args.tls:
        raise ValueError("--auth needs --tls: the sink offers AUTH only after STARTTLS")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if args.what == "dns":
        from helpers.services.nameserver import NameServer

        service: Service = NameServer(port=port).start()
        hints = [
            f"try: dig @127.0.0.1 -p {service.port} www.onego.ru",
            f"     dig @127.0.0.1 -p {service.port} +tcp onego.ru MX",
            f"     dig @127.0.0.1 -p {service.port} -x 195.161.136.4",
        ]
    elif args.what == "mail":
        from helpers.services.mailsink import MailSink
        from helpers.services.tls_ca import course_ca_pem

        sink = MailSink(port=port, tls=args.tls, users=_users(args.auth), maildir=args.maildir)
        service = sink.start()
        hints = [f"try: python -m helpers talk 127.0.0.1 {sink.port}   (or nc, telnet)"]
        if args.tls:
            ca_file, cleanup = _write_ca(course_ca_pem(), args.ca_file)
            print(f"course CA written to {ca_file}", file=out)
            hints += [
                f"     swaks --server 127.0.0.1:{sink.port} --to rnd@onego.ru --tls "
                f"--tls-ca-path {ca_file}"
                + (" --auth-user USER --auth-password PASS" if args.auth else ""),
                f"     SSL_CERT_FILE={ca_file} python your_client.py",
            ]
        else:
            hints.append(f"     swaks --server 127.0.0.1:{sink.port} --to rnd@onego.ru")
    else:
        from helpers.lessons.architectures import thread_per_client
        from helpers.run.servers import serve

        service = serve("reverse", thread_per_client, port=port)
        hints = [f"try: python -m helpers talk 127.0.0.1 {service.port}, a line, then Ctrl-D"]
    return service, hints, cleanup


def _write_ca(pem: str, path: str | None) -> tuple[str, Callable[[], None]]:
    """The CA in a file: at ``path``, or in a new private folder removed afterwards."""
    if path:
        with open(path, "w", encoding="ascii") as file:
            file.write(pem)
        return os.path.abspath(path), lambda: None
    folder = tempfile.mkdtemp(prefix="course-ca-")  # 0700: only this user's
    ca_file = os.path.join(folder, "course-ca.pem")
    with open(ca_file, "w", encoding="ascii") as file:
        file.write(pem)
    return ca_file, lambda: shutil.rmtree(folder, ignore_errors=True)


def _show_events(service: Service, seen: int, out: TextIO) -> int:
    """Print the events recorded since ``seen`` (counted with the dropped ones)."""
    log = service.events
    events = log.events
    total = log.dropped + len(events)
    for event in events[max(0, len(events) - (total - seen)) :]:
        if event.kind in SHOWN_KINDS:
            peer = f" {event.peer}" if event.peer else ""
            print(f"{event.kind}{peer}: {event.note}", file=out, flush=True)
    return total


def _stop_on_sigterm() -> None:
    """SIGTERM stops the server the way Ctrl-C does (main thread only)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def serve_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    enable_guard()
    seen = 0
    try:
        service, hints, cleanup = _start(args, out)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        for hint in hints:
            print(hint, file=out)
        print("Ctrl-C stops it.", file=out, flush=True)
        _stop_on_sigterm()
        stopped = threading.Event()
        while service.running:
            seen = _show_events(service, seen, out)
            stopped.wait(POLL)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        cleanup()
    _show_events(service, seen, out)  # what happened between the last look and the stop
    print(f"{service.name} {service.kind} stopped", file=out, flush=True)
    return 0


def _print_replies(sock: socket.socket, out: TextIO, done: threading.Event) -> None:
    try:
        reader = sock.makefile("rb")
        for line in reader:
            print(line.rstrip(b"\r\n").decode("utf-8", "backslashreplace"), file=out, flush=True)
    except OSError:
        pass
    finally:
        print("-- connection closed by the server", file=out, flush=True)
        done.set()


def _send_lines(sock: socket.socket, lines: TextIO, finished: threading.Event) -> None:
    try:
        for line in lines:
            sock.sendall(line.rstrip("\r\n").encode("utf-8") + b"\r\n")
        sock.shutdown(socket.SHUT_WR)  # end of input: the server sees EOF
    except (OSError, ValueError):
        pass  # the connection (or the input) is gone: the replies' thread says so
    finally:
        finished.set()


def talk_command(
    args: argparse.Namespace, lines: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    enable_guard()
    try:
        sock = socket.create_connection((args.host, args.port), timeout=TALK_TIMEOUT)
    except (NetworkGuardError, OSError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    sock.settimeout(None)  # a person types slowly; the server's own timeout applies
    closed, typed = threading.Event(), threading.Event()
    threading.Thread(target=_print_replies, args=(sock, out, closed), daemon=True).start()
    threading.Thread(target=_send_lines, args=(sock, lines, typed), daemon=True).start()
    try:
        # Until the server closes, or the input ends and the server had time to answer;
        # in short waits, so that Ctrl-C is seen at once on every platform.
        while not closed.wait(POLL):
            if typed.is_set():
                closed.wait(TALK_TIMEOUT)
                break
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (the command line's by default) and run the command; its exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve_command(args)
    return talk_command(args)
