"""IPython start-up of every kernel the project starts: the course guard's hook, then a net audit.

The one start-up file for all of them, so that a notebook runs under the same
audit hooks, in the same order, wherever it runs:

- nbval's kernels and the harness's (tests/test_harness.py): conftest.py puts
  this file into the start-up folder of the session's throw-away IPYTHONDIR;
- the browser test's JupyterLab (tests/browser/lab.py);
- the authors' kernels: ``nbtool.py run``, ``bench.py``, ``bench_browser.py``
  (``nbexec.ipython_dir()``).

Stored outputs are thus made under the rules the tests later compare them
under. The kernel runs this file before its first cell. It does three things, in
this order:

1. wraps the socket methods that resolve a host name in C before their audit
   event (connect, connect_ex, bind, sendto, sendmsg) with its own check, so a
   name outside loopback is blocked before any look-up;
2. installs the course guard's audit hook and socket wrappers (switched off
   until a notebook calls ``helpers.enable_guard()``); the guard's wrappers go
   around this file's, so the guard always runs first and raises before this
   file's checks see anything: a notebook showing the guard refusing
   www.onego.ru is not a violation;
3. adds its own ``sys.addaudithook`` hook, written independently of
   helpers.run.guard, that blocks (PermissionError) every socket operation or
   name look-up whose address or name is outside loopback, and records each
   one as a JSON line in the file named by COURSE_NETAUDIT_LOG. The tests set
   that variable and fail when the record is not empty. Without it the hook
   still blocks, and records nothing: an author's run that reaches outside
   loopback fails in its cell, as it would later in the tests.

A guard hook that cannot be installed is recorded too (or, with no record,
said on the kernel's stderr): without it the order of the hooks is wrong.

Everything lives inside a function so that no name leaks into the notebook.
Run it (as IPython does), never import it: importing installs the hooks.
"""


def _install_netaudit() -> None:
    import ipaddress
    import json
    import os
    import socket
    import sys
    import traceback

    log_path = os.environ.get("COURSE_NETAUDIT_LOG", "")

    def record(entry: dict) -> None:
        if not log_path:
            return
        entry["pid"] = os.getpid()
        line = (json.dumps(entry, default=repr) + "\n").encode("utf-8")
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    own_name = socket.gethostname().lower().rstrip(".")
    names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", own_name}
    names -= {""}
    unix = getattr(socket, "AF_UNIX", None)
    inet = {socket.AF_INET, socket.AF_INET6}

    def loopback(host: object) -> bool:
        if host is None:
            return True  # getaddrinfo(None, port) asks nobody
        if isinstance(host, bytes | bytearray):
            try:
                host = bytes(host).decode("ascii")
            except UnicodeDecodeError:
                return False
        if not isinstance(host, str):
            return False
        text = host.strip().lower()
        if text in names:
            return True
        # No split at "%": "127.0.0.1%x" is no address but a name the C call would
        # hand to the resolver. (ipaddress itself reads an IPv6 scope, "::1%lo".)
        text = text.removeprefix("[").removesuffix("]")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            try:  # short numeric forms such as "127.1", which inet_aton accepts
                return socket.inet_aton(text)[0] == 127
            except OSError:
                return False
        mapped = getattr(address, "ipv4_mapped", None)
        return (mapped or address).is_loopback

    def address_ok(sock: object, address: object) -> bool:
        family = getattr(sock, "family", None)
        if family == unix or address is None:
            return True
        if family not in inet:
            return False  # raw packets, netlink...: not loopback traffic
        if not isinstance(address, tuple) or not address:
            return True  # not an address the socket would accept; it raises by itself
        return loopback(address[0])

    on_sockets = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}
    checks = {
        "socket.connect": lambda a: address_ok(a[0], a[1]),
        "socket.sendto": lambda a: address_ok(a[0], a[1]),
        "socket.sendmsg": lambda a: address_ok(a[0], a[1]),
        "socket.bind": lambda a: address_ok(a[0], a[1]),
        "socket.getaddrinfo": lambda a: loopback(a[0]),
        "socket.gethostbyname": lambda a: loopback(a[0]),
        "socket.gethostbyaddr": lambda a: loopback(a[0]),
        "socket.getnameinfo": lambda a: loopback(a[0][0] if isinstance(a[0], tuple) else a[0]),
    }

    def block(event: str, target: object) -> None:
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(sys._getframe(2)), limit=6, lookup_lines=False
        )
        record(
            {
                "event": event,
                "target": repr(target),
                "stack": [f"{f.filename}:{f.lineno} {f.name}" for f in stack],
            }
        )
        raise PermissionError(f"kernel start-up: {event} {target!r} is outside loopback")

    # CPython resolves a host name inside these calls, in C, before their audit
    # event: checked here first, or a name would reach the system resolver
    # before the hook below could object. Wrapped before the guard is installed,
    # so that the guard's own wrappers run first, as its audit hook does.
    def wrap(name: str, position: int | None) -> None:
        original = getattr(socket.socket, name)

        def checked(self: socket.socket, *args: object) -> object:
            index = len(args) - 1 if position is None else position
            if 0 <= index < len(args) and not address_ok(self, args[index]):
                block(f"socket.{name} (before the C call)", args[index])
            return original(self, *args)

        checked.__name__ = checked.__qualname__ = name
        setattr(socket.socket, name, checked)

    for method, position in (
        ("connect", 0),
        ("connect_ex", 0),
        ("bind", 0),
        ("sendto", None),
        ("sendmsg", 3),
    ):
        if hasattr(socket.socket, method):
            wrap(method, position)

    try:
        import importlib.util

        if importlib.util.find_spec("helpers.run.guard") is not None:
            from helpers.run.guard import install_guard_hook

            install_guard_hook()
    except Exception as exc:  # noqa: BLE001 - reported through the record, which fails the tests
        problem = f"guard hook not installed first: {exc!r}"
        if log_path:
            record({"event": "startup", "target": problem})
        else:
            print(f"kernel start-up: {problem}", file=sys.stderr)

    def hook(event: str, args: tuple) -> None:
        check = checks.get(event)
        if check is None or check(args):
            return
        block(event, args[1] if event in on_sockets else args[0])

    sys.addaudithook(hook)


_install_netaudit()
del _install_netaudit
