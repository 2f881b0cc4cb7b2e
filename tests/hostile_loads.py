"""Loading hostile model files in a child process, one file after another, each timed and measured.

The child's address space is capped (``limit`` bytes), so a reader that would allocate what a file
merely declares fails there instead of taking the test machine with it. Each outcome is a dict:
``error`` (None, "ModelFileError" or another exception's name), ``member`` and ``reason`` for a
ModelFileError, ``seconds``, ``grown_mib`` (the memory the load added) and ``file_mib``.
"""

import json
import subprocess
import sys

# memory: "traced" counts allocations with tracemalloc (NumPy reports its arrays to it), "resident" the
# growth of the resident peak (for readers that tracemalloc would slow tenfold, such as an unpickler).
_MEASURE = {
    "traced": ("import tracemalloc\ntracemalloc.start()\n",
               "tracemalloc.reset_peak()\nbefore = tracemalloc.get_traced_memory()[0]\n",
               "(tracemalloc.get_traced_memory()[1] - before) / 2**20"),
    "resident": ("def resident_kib():   # (peak, current) resident size in KiB, as Linux counts them\n"
                 "    with open('/proc/self/status') as status:\n"
                 "        fields = dict(line.split(':', 1) for line in status)\n"
                 "    return int(fields['VmHWM'].split()[0]), int(fields['VmRSS'].split()[0])\n",
                 "with open('/proc/self/clear_refs', 'w') as clear:   # 5 resets the peak to the current size\n"
                 "    clear.write('5')\nbefore = resident_kib()[1]\n",
                 "(resident_kib()[0] - before) / 1024"),
}

_CHILD = """
import json, os, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from clearconv.io import ModelFileError
from {module} import {function} as load
paths = json.loads(sys.argv[1])
for path in json.loads(sys.argv[2]):   # warm-up loads: the modules a load imports, imported before timing
    load(path)
{setup}
results = {{}}
for name, path in paths.items():
{reset}    start = time.perf_counter()
    try:
        load(path)
        outcome = {{"error": None}}
    except ModelFileError as error:
        outcome = {{"error": "ModelFileError", "member": error.member, "reason": error.reason}}
    except BaseException as error:
        outcome = {{"error": type(error).__name__, "reason": str(error)[:300]}}
    outcome["seconds"] = time.perf_counter() - start
    outcome["grown_mib"] = {grown}
    outcome["file_mib"] = os.path.getsize(path) / 2**20
    results[name] = outcome
print(json.dumps(results))
"""


def load_in_child(loader: str, paths: dict, limit: int, memory: str = "traced", warm_up=(), timeout=300) -> dict:
    """{name: outcome} of ``loader`` ("module.function", such as "clearconv.io.onnx.import_onnx") on each of
    ``paths`` ({name: path}), after loading ``warm_up`` (paths of valid files) untimed."""
    module, function = loader.rsplit(".", 1)
    setup, reset, grown = _MEASURE[memory]
    reset = "".join(f"    {line}\n" for line in reset.splitlines())
    code = _CHILD.format(limit=limit, module=module, function=function, setup=setup, reset=reset, grown=grown)
    result = subprocess.run([sys.executable, "-c", code, json.dumps(paths), json.dumps(list(warm_up))],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
