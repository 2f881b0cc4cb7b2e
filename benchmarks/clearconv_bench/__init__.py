"""The pieces of ``benchmarks/run.py`` and ``benchmarks/lenet_epoch.py``, one concept per module.

- :mod:`.names`: case, implementation and mode names (no NumPy, no PyTorch);
- :mod:`.threads`: the thread settings both libraries share (set before NumPy loads its BLAS);
- :mod:`.checkout`: time the checkout the scripts belong to;
- :mod:`.turns`: turn order and the headline figures (total time over every turn, the faster
  PyTorch memory format, the per-turn ratios as a noise diagnostic); pure logic;
- :mod:`.load`: CPU used by other processes while a block runs;
- :mod:`.timing`: timed blocks, rounds of turns, re-measuring contended ones;
- :mod:`.peak`: the NumPy GEMM peak, yardstick of the "% peak" columns;
- :mod:`.cases`: the standard cases, clearconv's side and a description of PyTorch's;
- :mod:`.torch_twins`: the PyTorch side of a case, in each memory format;
- :mod:`.parity`: do both sides compute the same thing;
- :mod:`.accounting`: multiply-adds, the memory floor, tracemalloc's peak;
- :mod:`.units`: a case made ready to time (both sides, every clearconv algorithm);
- :mod:`.summary`: a case's rows and the machine-load note;
- :mod:`.targets`: the performance targets and their verdicts;
- :mod:`.table`: the Markdown tables;
- :mod:`.zoo_inference`: zoo models predicting, as built and folded;
- :mod:`.header`: what changes timings (versions, CPU, threads, compiled kernels, malloc);
- :mod:`.lenet`: LeNet-5 trainers in both libraries;
- :mod:`.epoch`: the LeNet-5 training epochs, taking turns.

PyTorch is needed by :mod:`.torch_twins`, :mod:`.units` and :mod:`.lenet` (which :func:`.epoch.compare`
imports when it trains), and by nothing else; clearconv never imports this package.
"""
