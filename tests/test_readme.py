"""The README's first example runs as it stands, and prints what its comments say."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_helpers_example_runs_as_written(tmp_path):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)[:1]
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"reverse server on 127\.0\.0\.1:\d+( \(33333 was busy\))?", lines[0])
    assert lines[1] == "b'olleh'"
    assert [line.split()[3] for line in lines[5:]] == [
        "socket",
        "bind",
        "listen",
        "accept",
        "recv",
        "send",
        "close",
    ]
    assert result.stderr == ""
