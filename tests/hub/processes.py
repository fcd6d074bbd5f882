"""A student's processes seen from outside: who they are, what they listen on, what they use.

With SimpleLocalProcessSpawner every student runs as the same Unix user, so a
process is told apart by the environment the hub gave its student's server
(``JUPYTERHUB_USER``), which the kernels and the programs they start inherit;
``JUPYTERHUB_API_URL`` ties it to one hub, so another hub on the machine is
never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil


@dataclass
class StudentProcesses:
    """One student's processes at one moment, by role."""

    user: str
    server: list[psutil.Process] = field(default_factory=list)  # jupyterhub-singleuser
    kernels: list[psutil.Process] = field(default_factory=list)  # ipykernel
    others: list[psutil.Process] = field(default_factory=list)  # the student's programs

    @property
    def all(self) -> list[psutil.Process]:
        return [*self.server, *self.kernels, *self.others]

    def listening_ports(self) -> dict[int, int]:
        """TCP port -> pid, for every socket of these processes in LISTEN state."""
        ports: dict[int, int] = {}
        for proc in self.all:
            try:
                connections = proc.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for conn in connections:
                if conn.status == psutil.CONN_LISTEN:
                    ports[conn.laddr.port] = proc.pid
        return ports


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def rss_mb(procs: list[psutil.Process]) -> float:
    """Resident memory of the processes, in MB (shared pages counted in each)."""
    return sum(_rss(p) for p in procs) / 1e6


def owner(proc: psutil.Process, hub_api_url: str) -> str | None:
    """The hub user whose server started ``proc`` (under the hub at ``hub_api_url``), or None."""
    try:
        env = proc.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return None
    if env.get("JUPYTERHUB_API_URL", "").rstrip("/") != hub_api_url.rstrip("/"):
        return None
    return env.get("JUPYTERHUB_USER")


def by_student(users: list[str], hub_api_url: str) -> dict[str, StudentProcesses]:
    """Every live process of each of ``users``, sorted into server, kernels and the rest."""
    found = {user: StudentProcesses(user) for user in users}
    for proc in psutil.process_iter():
        user = owner(proc, hub_api_url)
        if user not in found:
            continue
        try:
            cmdline = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if "jupyterhub-singleuser" in cmdline:
            found[user].server.append(proc)
        elif "ipykernel" in cmdline:
            found[user].kernels.append(proc)
        else:
            found[user].others.append(proc)
    return found


def kill_all(users: list[str], hub_api_url: str) -> None:
    """Clean-up after a failed run: kill what is left of these students, and nothing else."""
    for procs in by_student(users, hub_api_url).values():
        for proc in procs.all:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass


def service_running(name: str, hub_api_url: str) -> bool:
    """Whether the hub at ``hub_api_url`` runs its managed service ``name`` (the idle culler)."""
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        if env.get("JUPYTERHUB_SERVICE_NAME") == name and env.get("JUPYTERHUB_API_URL", "").rstrip(
            "/"
        ) == hub_api_url.rstrip("/"):
            return True
    return False
