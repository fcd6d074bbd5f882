"""The class hub for a test on any machine: the shipped configuration, two things swapped.

Loads deploy/jupyterhub_config.py whole, then replaces only

- the login: DummyAuthenticator (any name, one password) instead of
  NativeAuthenticator, so a test can log five students in without sign-ups;
- the spawner: SimpleLocalProcessSpawner instead of SystemdSpawner, so it runs
  without systemd and without root. It gives each student a home folder of
  their own under the hub's state folder and, since every student is then the
  same Unix user, a TMPDIR of their own there (what SystemdSpawner's private
  /tmp gives in class). It enforces no limits.

Everything else (proxy, timeouts, JupyterLab's offline settings, limits as
announced, logout and idle culling) is the shipped configuration;
tests/test_hub.py checks that nothing else differs. Started as
``COURSE_HUB_CONFIG=deploy/jupyterhub_config_test.py sh deploy/hub.sh``.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (given by JupyterHub's config loader)
load_subconfig(str(Path(__file__).resolve().parent / "jupyterhub_config.py"))  # noqa: F821

STATE = Path(os.environ.get("COURSE_HUB_STATE", Path(__file__).resolve().parent / "state"))

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("COURSE_HUB_TEST_PASSWORD", "course-hub-test")


def private_tmp(spawner) -> str:
    """The student's own TMPDIR, made when their server starts (tempfile skips a missing one)."""
    folder = Path(spawner.home_dir) / "tmp"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(folder)


c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "homes" / "{username}")
c.SimpleLocalProcessSpawner.environment = {"TMPDIR": private_tmp}
# Jupyter refuses to run as root unless told; CI and containers run as root.
_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
c.SimpleLocalProcessSpawner.args = [*c.Spawner.args, *_root]
