"""The package's public surface: every exported name resolves, and importing it stays light.

The import time itself is a speed target, so `make bench` prints it; here we check
the cause of a slow import instead: which heavy packages `import helpers` pulls in.
"""

import json
import pkgutil
import subprocess
import sys

import helpers

HEAVY = ("aiosmtpd", "dnslib", "dns", "ipywidgets", "cryptography", "trustme", "asyncio")


def test_every_exported_name_resolves():
    missing = [name for name in helpers.__all__ if getattr(helpers, name, None) is None]
    assert missing == []


def test_no_exported_name_is_also_a_submodule():
    # After `import helpers.x`, the attribute helpers.x is the module, hiding an export named x.
    submodules = {info.name for info in pkgutil.iter_modules(helpers.__path__)}
    assert sorted(set(helpers.__all__) & submodules) == []


def test_import_helpers_pulls_in_no_heavy_package():
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import helpers\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    loaded = json.loads(output)
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY]
    assert heavy == [], f"import helpers loads {heavy}"


def test_property_tests_run_under_the_load_proof_profile():
    """Every @given test must hold on a busy machine: no deadline, no too_slow check."""
    from hypothesis import HealthCheck, settings

    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check
    assert HealthCheck.data_too_large in settings.default.suppress_health_check
