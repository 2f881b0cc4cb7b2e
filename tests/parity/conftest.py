"""PyTorch parity tests: skipped, with the reason shown, when torch is not installed."""

import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: the parity tests compare clearconv with torch "
                    "(pip install 'clearconv[test]' to run them)")

# Small tensors: extra threads only add start-up cost and make timings noisy.
torch.set_num_threads(1)
