"""IPython start-up of every kernel the project starts: the course guard's hook, then a net audit.

The one start-up file for all of them, so that a notebook runs under the same
audit hooks, in the same order, wherever it runs:

- nbval's kernels and the harness's (tests/test_harness.py): conftest.py puts
  this file into the start-up folder of the session's throw-away IPYTHONDIR;
- the browser test's JupyterLab (tests/browser/lab.py);
- the authors' kernels: ``nbtool.py run``, ``bench.py``, ``bench_browser.py``
  (``nbexec.ipython_dir()``).

Stored outputs are thus made under the rules the tests later compare them
under. The kernel runs this file before its first cell. It does two things, in
this order:

1. installs the course guard's audit hook (switched off until a notebook calls
   ``helpers.enable_guard()``), so that the guard always runs first and raises
   before this file's hook sees anything: a notebook showing the guard refusing
   www.onego.ru is not a violation;
2. adds its own ``sys.addaudithook`` hook, written independently of
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

    own_name = socket.gethostname().lower().rstrip(".")
    names = {"localhost", own_name} - {""}
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
        text = host.strip().lower().rstrip(".")
        if text in names:
            return True
        text = text.removeprefix("[").removesuffix("]").split("%", 1)[0]
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

    def hook(event: str, args: tuple) -> None:
        check = checks.get(event)
        if check is None or check(args):
            return
        target = args[1] if event in on_sockets else args[0]
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(sys._getframe(1)), limit=6, lookup_lines=False
        )
        record(
            {
                "event": event,
                "target": repr(target),
                "stack": [f"{f.filename}:{f.lineno} {f.name}" for f in stack],
            }
        )
        raise PermissionError(f"kernel start-up: {event} {target!r} is outside loopback")

    sys.addaudithook(hook)


_install_netaudit()
del _install_netaudit
