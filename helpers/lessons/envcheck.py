"""The environment check of 00 Start here: is this machine ready for the course?

``doctor()`` returns a table with one row per check and a one-line fix for each
problem::

    report = helpers.doctor()
    report                       # check, status, found, fix
    report.problems              # the rows that are not "ok"
    report.statuses["loopback TCP"] == "ok"

The "check" and "status" columns are the same on every healthy machine; "found"
(versions, ports) is not, so a stored notebook ignores the table's text and
asserts the statuses. Each check is a small function whose system calls can be
replaced, which is how the tests simulate a missing /etc/services or a busy port.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from helpers.run.listeners import claim_port
from helpers.run.registry import running_servers
from helpers.run.service import Service
from helpers.show.tables import Table

__all__ = ["doctor"]

# (port, protocol, who uses it). Helper modules append their own default ports.
COURSE_PORTS: list[tuple[int, str, str]] = [
    (33333, "tcp", "the reverse server (02)"),
    (33333, "udp", "the UDP reverse server (05)"),
]
MIN_PYTHON = (3, 11)
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")
_SHOWN = 3


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # "ok", "warning" (works, but worth knowing) or "problem"
    found: str
    fix: str = ""


class DoctorReport(Table):
    """The doctor's table, plus ``findings``, ``problems`` and ``statuses`` as data."""

    def __init__(self, findings: Sequence[Finding]):
        self.findings = list(findings)
        super().__init__(
            ["check", "status", "found", "fix"],
            [(f.check, f.status, f.found, f.fix) for f in self.findings],
            caption="environment check",
        )

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status != "ok"]

    @property
    def statuses(self) -> dict[str, str]:
        return {f.check: f.status for f in self.findings}


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Finding:
    found = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Finding("Python", "ok", found)
    wanted = ".".join(map(str, MIN_PYTHON))
    return Finding("Python", "problem", found, f"install Python {wanted} or newer")


def read_pins(path: Path) -> dict[str, str]:
    """``name -> version`` for the lines of a pinned requirements file that apply here."""
    try:
        from packaging.markers import Marker
    except ImportError:  # then only unconditional pins can be judged
        Marker = None  # noqa: N806
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and (Marker is None or not Marker(marker).evaluate()):
            continue
        pins[name] = version
    return pins


def check_packages(
    requirements: Path = REQUIREMENTS,
    installed: Callable[[str], str] = metadata.version,
) -> Finding:
    fix = f"{Path(sys.executable).name} -m pip install -r requirements.txt (in the course folder)"
    if not requirements.is_file():
        return Finding(
            "packages",
            "warning",
            "requirements.txt not found next to helpers",
            "run the notebooks from the course folder",
        )
    pins = read_pins(requirements)
    wrong = []
    for name, pinned in sorted(pins.items()):
        try:
            have = installed(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != pinned:
            wrong.append(f"{name} {have} (wants {pinned})")
    if not wrong:
        return Finding("packages", "ok", f"{len(pins)} pinned versions installed")
    more = f" and {len(wrong) - _SHOWN} more" if len(wrong) > _SHOWN else ""
    return Finding("packages", "problem", ", ".join(wrong[:_SHOWN]) + more, fix)


def check_loopback_tcp(timeout: float = 1.0) -> Finding:
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            server.settimeout(timeout)
            with socket.create_connection(server.getsockname(), timeout=timeout) as client:
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(timeout)
                    client.sendall(b"ping")
                    ok = conn.recv(4) == b"ping"
    except OSError as error:
        return Finding(
            "loopback TCP",
            "problem",
            f"{type(error).__name__}: {error}",
            "enable the loopback interface (lo) or allow 127.0.0.1 in the firewall",
        )
    return Finding("loopback TCP", "ok" if ok else "problem", "127.0.0.1 answers")


def check_loopback_udp(timeout: float = 1.0) -> Finding:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.bind(("127.0.0.1", 0))
            sock.sendto(b"ping", sock.getsockname())
            ok = sock.recvfrom(16)[0] == b"ping"
    except OSError as error:
        return Finding(
            "loopback UDP",
            "problem",
            f"{type(error).__name__}: {error}",
            "enable the loopback interface (lo) or allow 127.0.0.1 in the firewall",
        )
    return Finding("loopback UDP", "ok" if ok else "problem", "datagram came back")


def services_fix(platform: str | None = None) -> str:
    """Where the services database lives differs: name the file (or package) to restore."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("linux"):
        return "install the services database: sudo apt-get install netbase"
    if platform == "win32":
        return r"restore the services file, %SystemRoot%\System32\drivers\etc\services"
    return "restore the system's services file, /etc/services"


def check_services(getservbyname: Callable[[str, str], int] = socket.getservbyname) -> Finding:
    """getservbyname reads /etc/services on POSIX; minimal Linux images lack it (netbase)."""
    try:
        port = getservbyname("smtp", "tcp")
    except OSError as error:
        return Finding(
            "services file", "problem", f"{type(error).__name__}: {error}", services_fix()
        )
    return Finding("services file", "ok" if port == 25 else "problem", f"smtp/tcp = {port}")


def port_is_free(port: int, protocol: str) -> bool:
    """Could a course server bind this loopback port now? Asked the way the servers bind."""
    tcp = protocol == "tcp"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        claim_port(sock, reuse_address=tcp)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(
    ports: Sequence[tuple[int, str, str]] | None = None,
    is_free: Callable[[int, str], bool] = port_is_free,
) -> list[Finding]:
    """One row per course port. A busy port is a warning: servers fall back to a free one."""
    ours = _ports_of_running_servers()
    findings = []
    for port, protocol, who in COURSE_PORTS if ports is None else ports:
        name = f"port {port}/{protocol}"
        if (port, protocol) in ours:
            findings.append(Finding(name, "ok", f"used by this kernel's {ours[port, protocol]}"))
        elif is_free(port, protocol):
            findings.append(Finding(name, "ok", f"free for {who}"))
        else:
            findings.append(
                Finding(
                    name,
                    "warning",
                    "held by another program (maybe another notebook's kernel)",
                    "nothing to do: servers fall back to a free port and say so in their "
                    "status line",
                )
            )
    return findings


def _ports_of_running_servers() -> dict[tuple[int, str], str]:
    """The ports this kernel's own services hold: busy, but not a problem."""
    return {
        (service.port, service.protocol): f"{service.name} {service.kind}"
        for service in running_servers()
        if isinstance(service, Service) and service.protocol in ("tcp", "udp")
    }


def check_widgets(search_path: Sequence[str] | None = None) -> Finding:
    """The widgets need the JupyterLab extension where the server runs (here: this env)."""
    fix = f"{Path(sys.executable).name} -m pip install jupyterlab_widgets, then restart JupyterLab"
    try:
        version = metadata.version("jupyterlab_widgets")
    except metadata.PackageNotFoundError:
        return Finding("widgets extension", "problem", "jupyterlab_widgets not installed", fix)
    if search_path is None:
        from jupyter_core.paths import jupyter_path

        search_path = jupyter_path("labextensions")
    for folder in search_path:
        if (Path(folder) / WIDGETS_EXTENSION / "package.json").is_file():
            return Finding("widgets extension", "ok", f"jupyterlab_widgets {version}")
    return Finding(
        "widgets extension",
        "problem",
        f"{WIDGETS_EXTENSION} not found in the labextensions folders",
        fix,
    )


def doctor(
    *,
    ports: Sequence[tuple[int, str, str]] | None = None,
    getservbyname: Callable[[str, str], int] = socket.getservbyname,
    is_free: Callable[[int, str], bool] = port_is_free,
    requirements: Path = REQUIREMENTS,
) -> DoctorReport:
    """Check this environment for the course; every problem row says how to fix it."""
    return DoctorReport(
        [
            check_python(),
            check_packages(requirements),
            check_loopback_tcp(),
            check_loopback_udp(),
            check_services(getservbyname),
            *check_ports(ports, is_free),
            check_widgets(),
        ]
    )
