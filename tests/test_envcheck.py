"""helpers.doctor: every check reports its problem with a fix; problems are simulated."""

from __future__ import annotations

import socket
import subprocess
import sys

from helpers.lessons.envcheck import (
    COURSE_PORTS,
    check_packages,
    check_python,
    check_widgets,
    doctor,
    port_is_free,
)
from helpers.run.registry import stop_all
from helpers.run.servers import serve_datagrams

CHECKS = [
    "Python",
    "packages",
    "loopback TCP",
    "loopback UDP",
    "services file",
    "port 33333/tcp",
    "port 33333/udp",
    "widgets extension",
]


def test_healthy_environment_reports_ok_everywhere():
    report = doctor(is_free=lambda port, protocol: True)
    assert list(report.statuses) == CHECKS
    assert report.problems == []
    assert set(report.column("status")) == {"ok"}
    assert set(report.column("fix")) == {""}
    assert str(report).splitlines()[0] == "environment check"


def test_missing_services_file_is_reported_with_the_fix():
    def getservbyname(name: str, protocol: str) -> int:
        raise OSError("service/proto not found")

    report = doctor(getservbyname=getservbyname, is_free=lambda port, protocol: True)
    [problem] = report.problems
    assert problem.check == "services file" and problem.status == "problem"
    assert problem.found == "OSError: service/proto not found"
    if sys.platform.startswith("linux"):
        assert problem.fix == "install the services database: sudo apt-get install netbase"


def test_busy_port_is_a_warning_with_a_reassuring_fix():
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        report = doctor(ports=[(port, "tcp", "a test server")])
    [problem] = report.problems
    assert problem.check == f"port {port}/tcp" and problem.status == "warning"
    assert problem.fix.startswith("nothing to do: servers fall back to a free port")


def test_a_port_used_by_this_kernels_own_server_is_fine():
    server = serve_datagrams("udp-doctor", lambda data, addr: data, port=0)
    try:
        report = doctor(ports=[(server.port, "udp", "a test server")])
        assert report.statuses[f"port {server.port}/udp"] == "ok"
        assert "udp-doctor server" in report.findings[5].found
    finally:
        stop_all()


def test_course_ports_can_be_extended():
    assert (33333, "tcp", "the reverse server (02)") in COURSE_PORTS
    COURSE_PORTS.append((33334, "tcp", "an extra server"))
    try:
        report = doctor(is_free=lambda port, protocol: port != 33334)
        assert report.statuses["port 33334/tcp"] == "warning"
    finally:
        COURSE_PORTS.pop()


def test_package_versions_are_compared_with_the_pins(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\n"
        "alpha==1.0\n    # via beta\n"
        "beta==2.0 ; sys_platform == 'no-such-platform'\n"
        "gamma==3.0\n",
        encoding="utf-8",
    )
    versions = {"alpha": "1.0", "gamma": "2.9"}.__getitem__
    finding = check_packages(requirements, installed=versions)
    assert finding.status == "problem"
    assert finding.found == "gamma 2.9 (wants 3.0)"
    assert "pip install -r requirements.txt" in finding.fix
    assert check_packages(tmp_path / "none.txt").status == "warning"


def test_old_python_and_missing_widgets_extension(tmp_path):
    assert check_python((3, 10, 4)).fix == "install Python 3.11 or newer"
    assert check_python((3, 12, 0)).status == "ok"
    finding = check_widgets(search_path=[str(tmp_path)])
    assert finding.status == "problem" and "jupyterlab_widgets" in finding.fix


def test_helpers_doctor_is_the_function_even_after_importing_its_module():
    script = (
        "from helpers.lessons.envcheck import COURSE_PORTS\n"
        "import helpers\n"
        "print(type(helpers.doctor(is_free=lambda port, protocol: True)).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert out == "DoctorReport\n"


def test_port_is_free_asks_a_real_loopback_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_is_free(port, "tcp")
    assert port_is_free(port, "tcp")  # closed: free again at once, as for the servers
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert not port_is_free(port, "udp")
