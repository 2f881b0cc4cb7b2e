"""PyTorch parity tests: they skip, with the reason shown, when torch is not installed.

The skip itself is raised by ``parity/helpers.py`` (``pytest.importorskip``),
which every test module here imports first: a skip raised while this conftest
loads would abort ``pytest tests/parity`` instead of skipping it.
"""

try:
    import torch
except ImportError:  # reported as a skip by every parity test module
    torch = None
else:
    # Small tensors: extra threads only add start-up cost and make timings noisy.
    torch.set_num_threads(1)
