"""The class hub: JupyterHub on one machine, as a teacher runs it for a class.

Started by ``make hub`` (``sh deploy/hub.sh``), which sets the two folders this
file reads from the environment:

- ``COURSE_ENV``: the Python environment with the course installed (the
  students' servers and kernels run from it; ``deploy/install.sh`` makes it);
- ``COURSE_HUB_STATE``: where the hub keeps its database, cookie secret and
  the proxy's pid file (private to the hub's user).

What a class needs, and why:

- **Logins**: NativeAuthenticator. Students sign up with a name and password on
  the hub itself and the teacher (``COURSE_HUB_TEACHER``, an admin) authorizes
  each sign-up at ``/hub/authorize``: no school identity provider and no Unix
  accounts are needed, and it works on a machine that is offline like the course.
  A school with single sign-on uses an OAuthenticator class instead (README).
- **Limits**: SystemdSpawner runs each student's server as a systemd unit with a
  dynamic Unix user, a private /tmp (so Maildirs and temporary files are
  private), and cgroup limits on memory (``MemoryMax``) and CPU (``CPUQuota``).
  Local-process spawners would only *announce* ``mem_limit`` and ``cpu_limit``.
  The figures come from the class test (tests/test_hub.py prints them).
- **Freeing the machine**: a server stops when its student logs out, and the
  idle culler stops one that has been idle for an hour (a lesson and its break).
- **Offline**: the students' JupyterLab asks nobody for news, updates or
  extensions.

tests/test_hub.py runs a class of five students through this very file, with
deploy/jupyterhub_config_test.py swapping only the login and the spawner.
"""

import os
import sys
from pathlib import Path

import nativeauthenticator

c = get_config()  # noqa: F821 (given by JupyterHub's config loader)

DEPLOY = Path(__file__).resolve().parent
COURSE_ENV = Path(os.environ.get("COURSE_ENV", sys.prefix))
STATE = Path(os.environ.get("COURSE_HUB_STATE", DEPLOY / "state"))

# --- where the hub listens ----------------------------------------------------------------------
# Loopback by default, as everything in the course. For a class, put a TLS reverse proxy
# (nginx, Caddy) in front of this address, or give another, e.g.
# sh deploy/hub.sh --JupyterHub.bind_url=http://10.0.0.5:8000 (behind a firewall, with TLS).
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = 8081
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
# The proxy from npm, pinned in deploy/package.json and installed by `make hub-install`.
_proxy = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(_proxy) if _proxy.exists() else "configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# --- logins -------------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "native"
c.Authenticator.admin_users = {os.environ.get("COURSE_HUB_TEACHER", "teacher")}
# Every user the authenticator lets in may start a server; NativeAuthenticator lets in only
# the sign-ups the teacher authorized.
c.Authenticator.allow_all = True
c.NativeAuthenticator.open_signup = False
c.NativeAuthenticator.minimum_password_length = 8
c.NativeAuthenticator.check_common_password = True
c.NativeAuthenticator.allowed_failed_logins = 5
c.NativeAuthenticator.seconds_before_next_try = 60
# Its sign-up, authorization and password pages.
c.JupyterHub.template_paths = [str(Path(nativeauthenticator.__file__).parent / "templates")]

# --- the students' servers ----------------------------------------------------------------------
c.JupyterHub.spawner_class = "systemd"
c.Spawner.cmd = [str(COURSE_ENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A class logs in at once: thirty servers starting together on a busy machine take a while.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 180
c.Spawner.args = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
]
# Per student, from the class test's figures (README, "Sizing"): a student's JupyterLab
# server with the two kernels of a lesson open, their programs and services.
c.Spawner.mem_guarantee = "512M"
c.Spawner.mem_limit = "1G"
c.Spawner.cpu_guarantee = 0.25
c.Spawner.cpu_limit = 1.0
c.SystemdSpawner.dynamic_users = True
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.isolate_devices = True
c.SystemdSpawner.disable_user_sudo = True
c.SystemdSpawner.unit_name_template = "course-student-{USERNAME}"

# --- freeing the machine ------------------------------------------------------------------------
c.JupyterHub.shutdown_on_logout = True
IDLE_SECONDS = 3600
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={IDLE_SECONDS}",
            "--cull-every=300",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
