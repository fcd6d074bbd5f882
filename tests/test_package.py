"""The package's public surface: every exported name resolves, and importing it stays light.

The import time itself is a speed target, so `make bench` prints it; here we check
the cause of a slow import instead: which heavy packages `import helpers` pulls in.
"""

import ast
import doctest
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import frontdoor
import pytest

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
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    loaded = json.loads(output)
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY]
    assert heavy == [], f"import helpers loads {heavy}"


def test_property_tests_run_under_the_load_proof_profile():
    """Every @given test must hold on a busy machine: no deadline, no too_slow check."""
    from hypothesis import HealthCheck, settings

    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check
    assert HealthCheck.data_too_large in settings.default.suppress_health_check


# -- the layers and the front door ---------------------------------------------------

PACKAGE = Path(helpers.__file__).resolve().parent
ROOT = PACKAGE.parent
LAYERS = ("wire", "show", "run", "services", "lessons")  # bottom to top


def helper_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_front_door_holds_at_most_30_names():
    assert len(helpers.__all__) <= 30, sorted(helpers.__all__)


def test_the_front_door_map_is_generated_from_the_core_modules_all():
    expected = frontdoor.exports(helpers.CORE_MODULES)
    assert helpers._EXPORTS == expected, "run: python tools/frontdoor.py"
    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert frontdoor.updated(source) == source, "run: python tools/frontdoor.py"


def test_at_most_six_modules_beside_the_layer_folders():
    beside = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(beside) <= 6, beside
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert folders == sorted(LAYERS)


def test_no_module_inside_helpers_imports_the_package_root():
    """Every import names its module, so the layer contract sees every edge."""
    offenders = []
    for path in helper_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
                if "helpers" in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: import helpers")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "helpers":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: from helpers import")
    assert offenders == []


def lint_imports(cwd: Path, package_parent: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(command), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contract_is_kept():
    result = lint_imports(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layer_contract(tmp_path):
    """The contract is real: wire importing from lessons, in a copy, makes lint-imports fail."""
    shutil.copytree(PACKAGE, tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    text = tmp_path / "helpers" / "wire" / "text.py"
    source = text.read_text(encoding="utf-8")
    marker = "from __future__ import annotations\n"
    text.write_text(
        source.replace(marker, marker + "\nfrom helpers.lessons import checks  # noqa: F401\n", 1),
        encoding="utf-8",
    )
    result = lint_imports(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "helpers.wire.text -> helpers.lessons.checks" in result.stdout


PURE_MODULES = sorted(
    f"helpers.{path.parent.name}.{path.stem}"
    for layer in ("wire", "show")
    for path in (PACKAGE / layer).glob("*.py")
    if path.stem != "__init__"
)


@pytest.mark.parametrize("name", PURE_MODULES)
def test_the_pure_layers_examples_run_as_doctests(name):
    """wire and show do no I/O, so their docstrings' examples are run and must hold."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_the_pure_layers_have_examples_and_the_others_none():
    """Examples with >>> outside the pure layers would never run: they are written plain."""
    with_examples = [p for p in helper_modules() if ">>> " in p.read_text(encoding="utf-8")]
    layers = {p.relative_to(PACKAGE).parts[0] for p in with_examples}
    assert layers == {"wire", "show"}
