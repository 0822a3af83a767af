"""The README's Python examples run as written (from the repository root)."""

import os
import re

import pytest

from conftest import REPO


@pytest.mark.slow
def test_readme_python_blocks_run(datasets_dir, tmp_path, monkeypatch):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(REPO)
    for block in blocks:
        # write the example's files into a temporary folder, not the checkout
        code = block.replace('"chinchilla_py.nc"', repr(str(tmp_path / "chinchilla_py.nc")))
        exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "chinchilla_py.nc").exists()
