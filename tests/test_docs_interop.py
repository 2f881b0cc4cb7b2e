"""docs/interop.md's Python examples run as written (each in a fresh namespace, in a temporary folder), and
their printed differences are as small as the page says."""

import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "interop.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
# The page opens with two lines naming a file of the reader's own ("model.keras"); the others run as written.
RUNNABLE = [index for index, block in enumerate(BLOCKS) if 'load_model("model.keras")' not in block]
NEEDS = {"keras": "keras", "onnxruntime": "onnxruntime", "torch": "torch"}


@pytest.mark.parametrize("index", RUNNABLE)
def test_example_runs(index, tmp_path, monkeypatch, capsys):
    code = BLOCKS[index]
    for module, package in NEEDS.items():
        if re.search(rf"^import {module}\b", code, flags=re.M):
            if module == "keras":
                from keras_oracle import import_keras
                import_keras()          # skips without Keras; selects the jax backend
            else:
                pytest.importorskip(package)
    pytest.importorskip("h5py")
    pytest.importorskip("onnx")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"docs/interop.md block {index}", "exec"), {"__name__": "__doc_example__"})
    for line in capsys.readouterr().out.split():
        assert float(line) < 1e-5, f"block {index} printed a difference of {line}"


def test_the_examples_use_only_what_their_imports_give():
    """Each block runs in this process, where earlier tests imported submodules: check separately that every
    `clearconv.<module>.` a block uses is imported by the block or by `import clearconv` itself."""
    import subprocess
    import sys
    loaded = subprocess.run([sys.executable, "-c", "import clearconv, types; print(' '.join(n for n, v in "
                             "vars(clearconv).items() if isinstance(v, types.ModuleType)))"],
                            capture_output=True, text=True, check=True).stdout.split()
    for index, code in enumerate(BLOCKS):
        code = re.sub(r"#.*", "", code)     # names in comments are not run
        for module in set(re.findall(r"(?<![\w.])clearconv\.(\w+)\.", code)):
            imported = re.search(rf"^(import|from) clearconv\.{module}\b", code, flags=re.M)
            assert module in loaded or imported, f"block {index} uses clearconv.{module} without importing it"


def test_every_block_is_run():
    assert len(BLOCKS) == 5 and RUNNABLE == [1, 2, 3, 4]
    assert np.all([bool(block.strip()) for block in BLOCKS])
