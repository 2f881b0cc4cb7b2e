"""The malloc setting: never applied by importing clearconv, applied by an explicit call, and its opt-out.

Each check runs in a fresh interpreter, since the setting is process-wide and cannot be undone.
The oracle is the process's resident memory (/proc/self/statm) after allocating and freeing a
64 MiB array: glibc's defaults serve it with mmap and return it on free, so the resident size
drops back; with freed memory kept, it stays.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/statm"),
                           reason="mallopt settings are glibc's; the probe reads Linux's /proc/self/statm")

PROBE = """
import json, os, sys
import numpy as np

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

import clearconv
from clearconv import allocator
result = {"applied_after_import": allocator.is_applied()}
if sys.argv[1] == "call":
    result["returned"] = allocator.keep_freed_memory()
    result["applied_after_call"] = allocator.is_applied()
result["description"] = allocator.describe()
before = resident_mib()
array = np.ones(64 * 2**20 // 8)          # 64 MiB, every page touched
during = resident_mib()
del array
result["held_mib"] = during - before
result["kept_after_free_mib"] = resident_mib() - before
print(json.dumps(result))
"""


def probe(action: str, **environment) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "CLEARCONV_KEEP_FREED_MEMORY"}
    env.update(environment)
    completed = subprocess.run([sys.executable, "-c", PROBE, action], env=env, capture_output=True, text=True,
                               check=True)
    return json.loads(completed.stdout)


@glibc
def test_importing_clearconv_leaves_the_allocator_alone():
    result = probe("import")
    assert result["applied_after_import"] is False
    assert result["held_mib"] > 60
    assert result["kept_after_free_mib"] < 8, result     # glibc's default returns the freed 64 MiB at once
    assert "not applied" in result["description"]


@glibc
def test_keep_freed_memory_keeps_freed_memory():
    result = probe("call")
    assert result["returned"] is True and result["applied_after_call"] is True
    assert result["held_mib"] > 60
    assert result["kept_after_free_mib"] > 56, result    # the freed 64 MiB stay resident for reuse
    assert "keeps freed memory" in result["description"]


@glibc
def test_the_environment_variable_turns_the_explicit_call_off():
    result = probe("call", CLEARCONV_KEEP_FREED_MEMORY="0")
    assert result["returned"] is False and result["applied_after_call"] is False
    assert result["kept_after_free_mib"] < 8, result
    assert "CLEARCONV_KEEP_FREED_MEMORY=0" in result["description"]


@pytest.mark.parametrize("value", ["1", ""])
@glibc
def test_only_zero_opts_out(value):
    assert probe("call", CLEARCONV_KEEP_FREED_MEMORY=value)["returned"] is True
