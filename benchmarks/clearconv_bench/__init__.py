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
- :mod:`.trainers`: one clearconv trainer and one PyTorch trainer, for every model trained;
- :mod:`.lenet`: LeNet-5's data (Fashion-MNIST) and epoch orders;
- :mod:`.epoch`: players training in turns (:func:`.epoch.race`) and the LeNet-5 epochs;
- :mod:`.model_twins`: the zoo's whole models in PyTorch, clearconv's weights copied in;
- :mod:`.model_parity`: a whole model against its twin, forward and one Adam step;
- :mod:`.whole_models`: the models compared, their training rows and inference units;
- :mod:`.step_split`: where clearconv's training step spends its time (diagnostic);
- :mod:`.model_memory`: peak memory of a training step and a predict, in fresh processes;
- :mod:`.model_tables`, :mod:`.model_section`: the whole-model tables and section.
- :mod:`.scaling_worker`, :mod:`.scaling_launch`, :mod:`.scaling_summary`: ``benchmarks/scaling.py``'s
  launches under mpirun (1 process x 2 threads against 2 x 1), taking turns, and their figures;
- :mod:`.scaling_model`: the ring all-reduce cost model for N machines (pure arithmetic).

PyTorch is needed by :mod:`.torch_twins`, :mod:`.units`, :mod:`.trainers`, :mod:`.lenet` (which
:func:`.epoch.compare` imports when it trains), :mod:`.model_twins`, :mod:`.model_parity`, :mod:`.whole_models`
and :mod:`.model_section` (and by :mod:`.model_memory`'s PyTorch process), and by nothing else; clearconv never
imports this package.
"""
