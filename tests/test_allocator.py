"""The malloc setting applied at import, and its opt-out."""

import os
import platform
import subprocess
import sys

import pytest

from clearconv import allocator

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")


def applied_in_fresh_process(**environment) -> str:
    code = "import clearconv.allocator as a; print(a.APPLIED)"
    env = {**os.environ, **environment}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@glibc
def test_glibc_accepts_the_settings():
    assert allocator.keep_freed_memory() is True
    assert applied_in_fresh_process(CLEARCONV_KEEP_FREED_MEMORY="1") == "True"


def test_the_environment_variable_leaves_the_allocator_alone():
    assert applied_in_fresh_process(CLEARCONV_KEEP_FREED_MEMORY="0") == "False"
