"""What reading a model file may cost: bounded memory, no endless reads, no blocking.

Peak memory is measured with tracemalloc, which sees every NumPy and Python
allocation; a file that would make the old loader allocate hundreds of MiB
must be refused within a few MiB. Files that could hang the reader run in a
subprocess under a timeout.
"""

import json
import os
import subprocess
import sys
import tracemalloc
import zipfile

import pytest

from clearconv.io import ModelFileError, load_model, load_weights

MiB = 1 << 20


def _peak_of(function):
    """(result or exception, peak bytes allocated while ``function`` ran)."""
    tracemalloc.start()
    try:
        try:
            outcome = function()
        except Exception as error:  # the caller checks which
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rewrite(source, target, replace: dict, compress=(), level=1):
    """Copy the archive ``source`` to ``target`` with members replaced: name -> bytes, or name -> a list of
    byte chunks streamed in (so a large member is never held whole); members in ``compress`` are deflated."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            method = zipfile.ZIP_DEFLATED if name in compress else zipfile.ZIP_STORED
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            value = replace.get(name, old.read(name))
            if isinstance(value, bytes):
                new.writestr(info, value, compress_type=method, compresslevel=level)
                continue
            with new.open(info, "w", force_zip64=True) as member:
                for chunk in value:
                    member.write(chunk)
    return target


def test_a_zip_bomb_is_refused_before_it_is_inflated(model_files, tmp_path):
    # 256 MiB of zeros deflate to about 1 MiB: the old loader read all of it into memory.
    bomb = _rewrite(model_files["sequential"], tmp_path / "bomb.clearconv",
                    {"weights.npz": [bytes(MiB)] * 256}, compress={"weights.npz"})
    assert os.path.getsize(bomb) < 2 * MiB
    outcome, peak = _peak_of(lambda: load_model(bomb))
    assert isinstance(outcome, ModelFileError), outcome
    assert "weights.npz" in str(outcome) and "bomb.clearconv" in str(outcome)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_zip_bomb_within_what_the_config_declares_is_refused_by_its_compression_ratio(model_files, tmp_path):
    """A config can declare a large model for free (its weights are placeholders until read): the member's
    declared size is also held to 64 times its compressed size, which float weights never approach."""
    with zipfile.ZipFile(model_files["sequential"]) as archive:
        config = json.loads(archive.read("config.json"))
    config["model"]["config"]["layers"][-1]["config"]["units"] = 1_000_000   # 96 x 1e6 float32: 366 MiB allowed
    bomb = _rewrite(model_files["sequential"], tmp_path / "declared.clearconv",
                    {"config.json": json.dumps(config).encode(), "weights.npz": [bytes(MiB)] * 128},
                    compress={"weights.npz"})
    outcome, peak = _peak_of(lambda: load_model(bomb))
    assert isinstance(outcome, ModelFileError), outcome
    assert "zip bomb" in str(outcome) and "weights.npz" in str(outcome)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_an_oversized_json_member_is_refused_before_it_is_read(model_files, tmp_path):
    with zipfile.ZipFile(model_files["sequential"]) as archive:
        config = archive.read("config.json")
    # Valid JSON padded with 64 MiB of spaces.
    padded = _rewrite(model_files["sequential"], tmp_path / "padded.clearconv",
                      {"config.json": [config] + [b" " * MiB] * 64}, compress={"config.json"})
    outcome, peak = _peak_of(lambda: load_model(padded))
    assert isinstance(outcome, ModelFileError), outcome
    assert "config.json" in str(outcome)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_config_declaring_huge_weights_is_refused_before_they_are_allocated(model_files, tmp_path):
    with zipfile.ZipFile(model_files["sequential"]) as archive:
        config = json.loads(archive.read("config.json"))
    dense = config["model"]["config"]["layers"][-1]
    assert dense["class_name"] == "Dense"
    dense["config"]["units"] = 200_000           # 96 x 200,000 float32: 73 MiB, the file holds 96 x 3
    path = _rewrite(model_files["sequential"], tmp_path / "units.clearconv",
                    {"config.json": json.dumps(config).encode()})
    outcome, peak = _peak_of(lambda: load_model(path))
    assert isinstance(outcome, ModelFileError), outcome
    assert "(96, 200000)" in str(outcome) and "(96, 3)" in str(outcome)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_config_of_more_layers_than_any_model_has_is_refused_before_building(model_files, tmp_path):
    """Building a Sequential model takes time quadratic in its layers (each add rebuilds the graph): a
    16 MiB config of 50,000 layers would load for hours. 4096 layer entries at most are read."""
    with zipfile.ZipFile(model_files["sequential"]) as archive:
        config = json.loads(archive.read("config.json"))
    identity = {"class_name": "Identity", "config": {"name": "identity", "trainable": True, "dtype": "float32"}}
    layers = config["model"]["config"]["layers"]
    layers[1:1] = [{**identity, "config": {**identity["config"], "name": f"identity_{i}"}} for i in range(5000)]
    path = _rewrite(model_files["sequential"], tmp_path / "long.clearconv",
                    {"config.json": json.dumps(config).encode()})
    with pytest.raises(ModelFileError, match="more than 4096 layers"):
        load_model(path)


def test_an_op_node_on_a_huge_declared_input_is_refused_before_its_trial_run(tmp_path):
    """An op node learns its output shape by running on zeros of its inputs' shapes: a 2 KB file declaring
    a (None, 2048, 2048, 64) input would make loading allocate gigabytes of zeros."""
    import clearconv
    small = tmp_path / "small.clearconv"
    inputs = clearconv.Input((8, 8, 64))
    clearconv.Model(inputs, inputs * 2.0).save(small)
    with zipfile.ZipFile(small) as archive:
        config = json.loads(archive.read("config.json"))
    config["model"]["config"]["layers"][0]["config"]["batch_shape"] = [None, 2048, 2048, 64]
    path = _rewrite(small, tmp_path / "huge.clearconv", {"config.json": json.dumps(config).encode()})
    assert os.path.getsize(path) < 4096
    outcome, peak = _peak_of(lambda: load_model(path))
    assert isinstance(outcome, ModelFileError), outcome
    assert "trial run" in str(outcome)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def _load_in_subprocess(path, function="load_model"):
    """Run the loader on ``path`` in a fresh interpreter, killed after 60 s; returns its stderr."""
    model = "clearconv.Sequential([clearconv.layers.Dense(1)]), " if function == "load_weights" else ""
    code = (f"import sys, clearconv\nfrom clearconv.io import ModelFileError\n"
            f"try:\n    clearconv.io.{function}({model}sys.argv[1])\n"
            f"except ModelFileError as error:\n    sys.exit(f'ModelFileError: {{error}}')\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code, os.fspath(path)], capture_output=True, text=True,
                            timeout=60, env=environment)
    return result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
@pytest.mark.parametrize("function", ["load_model", "load_weights"])
def test_a_fifo_is_refused_without_blocking(tmp_path, function):
    fifo = tmp_path / "model.clearconv"
    os.mkfifo(fifo)
    stderr = _load_in_subprocess(fifo, function)   # a blocking open would run into the timeout
    assert "ModelFileError" in stderr and "not a regular file" in stderr and "model.clearconv" in stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("function", ["load_model", "load_weights"])
def test_a_device_is_refused_without_reading_it(function):
    stderr = _load_in_subprocess("/dev/zero", function)
    assert "ModelFileError" in stderr and "not a regular file" in stderr and "/dev/zero" in stderr


def test_os_errors_are_the_operating_systems(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.clearconv"):
        load_model(tmp_path / "missing.clearconv")
    with pytest.raises(IsADirectoryError, match=str(tmp_path.name)):
        load_model(tmp_path)
    if os.name == "posix" and os.geteuid() != 0:   # root reads any file
        locked = tmp_path / "locked.clearconv"
        locked.write_bytes(b"")
        locked.chmod(0)
        with pytest.raises(PermissionError, match="locked.clearconv"):
            load_model(locked)


def test_a_symbolic_link_to_a_model_file_loads(model_files, tmp_path):
    link = tmp_path / "link.clearconv"
    link.symlink_to(model_files["sequential"])
    assert len(load_model(link).weights) == len(load_model(model_files["sequential"]).weights)


def test_load_weights_is_bounded_as_load_model_is(model_files, tmp_path, build):
    bomb = _rewrite(model_files["weights"], tmp_path / "bomb.clearconv",
                    {"weights.npz": [bytes(MiB)] * 256}, compress={"weights.npz"})
    model = build.sequential_cnn()
    outcome, peak = _peak_of(lambda: load_weights(model, bomb))
    assert isinstance(outcome, ModelFileError), outcome
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
