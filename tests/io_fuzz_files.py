"""Valid files of every model-file format clearconv reads, and the mutations that fuzz them.

One small model (conv, batch norm, ReLU, flatten, dense: (None, 6, 6, 2) -> (None, 3), 251 weights) is
written in each format: a Keras 3 ``.keras`` file, a Keras ``.weights.h5`` file, a legacy Keras ``.h5``
model file (written here with h5py in the layout tf.keras 2 writes), an ONNX file, a ``torch.save``
state_dict (written here, without torch, as the zip archive torch writes: the pickle is assembled opcode
by opcode, so its fields can be drawn) and a safetensors file (written here: 8-byte header length, JSON
header, data).

Mutations are drawn through hypothesis's ``data`` object: byte mutations (:func:`mutate_bytes`: flips,
truncation, runs inserted or deleted, two files spliced) apply to every format; structured ones go
inside a format (:func:`mutate_json` for the JSON members and the safetensors header,
:func:`mutate_hdf5` for HDF5 files, :func:`mutate_onnx` for the protobuf, :func:`torch_pickle` for a
state_dict pickle of drawn fields and globals).
"""

import io
import json
import math
import struct
import zipfile

import numpy as np
from hypothesis import strategies as st

import clearconv
from clearconv import layers as L

INPUT_SHAPE = (6, 6, 2)
CLASSES = 3
EPSILON = 1e-5   # PyTorch's BatchNorm2d default, so the state_dict files load into the same model


def build_model():
    """The fuzzed architecture: (None, 6, 6, 2) -> Conv2D(4, 3) (None, 4, 4, 4) -> BatchNormalization -> ReLU
    -> Flatten (None, 64) -> Dense(3) (None, 3). Weights: kernel (3, 3, 2, 4), bias (4,), four (4,) batch-norm
    vectors, kernel (64, 3), bias (3,)."""
    return clearconv.Sequential([
        L.Input(INPUT_SHAPE),
        L.Conv2D(4, 3, name="conv"),
        L.BatchNormalization(epsilon=EPSILON, name="norm"),
        L.ReLU(name="relu"),
        L.Flatten(name="flatten"),
        L.Dense(CLASSES, name="dense"),
    ], name="fuzzed")


def trained_like(seed: int = 0):
    """The model with weights drawn away from their initial values (moving statistics included), so a
    loaded file is told apart from a fresh model."""
    model = build_model()
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        value = rng.normal(0.0, 0.5, weight.shape).astype(np.float32)
        values.append(np.abs(value) + 0.5 if "variance" in weight.path else value)
    model.set_weights(values)
    return model


# ==================================================================================================
# Writers of the formats clearconv does not write itself
# ==================================================================================================

def legacy_h5_bytes(model) -> bytes:
    """A legacy Keras HDF5 model file of ``model``: root attributes ``model_config`` (the Keras JSON),
    ``training_config``, ``keras_version``, ``backend``; group ``model_weights`` with attribute
    ``layer_names``, one group per layer with attribute ``weight_names`` (``<layer>/<weight>:0``, trainable
    weights first) and a dataset at each of those names."""
    import h5py
    from clearconv.io.keras import config_to_keras
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        h5file.attrs["model_config"] = json.dumps(config_to_keras(model))
        h5file.attrs["training_config"] = json.dumps({
            "loss": "mse", "metrics": ["mae"],
            "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}})
        h5file.attrs["keras_version"] = "2.15.0"
        h5file.attrs["backend"] = "tensorflow"
        weights = h5file.create_group("model_weights")
        weights.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = weights.create_group(layer.name)
            variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
            names = [f"{layer.name}/{variable.name}:0" for variable in variables]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, variable in zip(names, variables):
                group.create_dataset(name, data=np.asarray(variable.data))
    return buffer.getvalue()


def torch_arrays(model) -> dict:
    """The PyTorch state_dict of ``model``'s twin ``nn.Sequential(Conv2d(2, 4, 3), BatchNorm2d(4), ReLU(),
    Flatten(), Linear(64, 3))``, as NumPy arrays in PyTorch's layouts."""
    conv, norm, dense = model.get_layer("conv"), model.get_layer("norm"), model.get_layer("dense")
    kernel, bias = (np.asarray(w.data) for w in conv.weights)
    gamma, beta, mean, variance = (np.asarray(w.data) for w in norm.weights)
    dense_kernel, dense_bias = (np.asarray(w.data) for w in dense.weights)
    # Keras's Flatten of (4, 4, 4) HWC runs over (h, w, c); PyTorch's over (c, h, w): permute the rows.
    rows = np.arange(64).reshape(4, 4, 4).transpose(2, 0, 1).reshape(-1)   # (c, h, w) order -> HWC row index
    return {
        "0.weight": kernel.transpose(3, 2, 0, 1).copy(),      # HWIO (3, 3, 2, 4) -> OIHW (4, 2, 3, 3)
        "0.bias": bias.copy(),
        "1.weight": gamma.copy(), "1.bias": beta.copy(),
        "1.running_mean": mean.copy(), "1.running_var": variance.copy(),
        "1.num_batches_tracked": np.array(7, np.int64),
        "4.weight": dense_kernel[rows].T.copy(),               # (64, 3) in, out -> (3, 64) out, in
        "4.bias": dense_bias.copy(),
    }


_SAFETENSORS_NAMES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16",
                      np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("u1"): "U8"}


def safetensors_bytes(arrays: dict, header_extra=None) -> bytes:
    """A safetensors file: little-endian u64 header length, the JSON header, then each array's bytes."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": _SAFETENSORS_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header.update(header_extra or {})
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


# --- a torch.save zip, its pickle assembled opcode by opcode ------------------------------------

def _p_int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])                          # BININT1
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)                # BININT
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data                # LONG1


def _p_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(data)) + data        # BINUNICODE


def _p_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"   # GLOBAL


def _p_tuple(items) -> bytes:
    return b"(" + b"".join(items) + b"t"                      # MARK ... TUPLE


def _p_call(module: str, name: str, args) -> bytes:
    return _p_global(module, name) + _p_tuple(args) + b"R"    # REDUCE


def _p_value(value) -> bytes:
    if isinstance(value, bool):
        return b"\x88" if value else b"\x89"
    if isinstance(value, int):
        return _p_int(value)
    if isinstance(value, str):
        return _p_str(value)
    if isinstance(value, float):
        return b"G" + struct.pack(">d", value)
    if value is None:
        return b"N"
    if isinstance(value, (tuple, list)):
        return _p_tuple([_p_value(v) for v in value])
    raise TypeError(value)


def tensor_pickle(spec: dict) -> bytes:
    """The pickle of ``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())``
    from ``spec``: storage (class name), key, numel, offset, size, stride, and optional ``rebuild``
    (module, name) in place of torch's rebuild function."""
    storage = _p_tuple([_p_str("storage"), _p_global("torch", spec["storage"]), _p_str(spec["key"]),
                        _p_str("cpu"), _p_value(spec["numel"])]) + b"Q"   # BINPERSID
    module, name = spec.get("rebuild", ("torch._utils", "_rebuild_tensor_v2"))
    return _p_call(module, name, [storage, _p_value(spec["offset"]), _p_value(tuple(spec["size"])),
                                  _p_value(tuple(spec["stride"])), b"\x89",
                                  _p_call("collections", "OrderedDict", [])])


def state_dict_pickle(entries) -> bytes:
    """A protocol-2 pickle of ``OrderedDict((key, tensor) ...)``; ``entries``: (key, bytes of the value's
    pickle) pairs."""
    body = b"".join(_p_str(key) + value for key, value in entries)
    return b"\x80\x02" + _p_call("collections", "OrderedDict", []) + b"(" + body + b"u."   # SETITEMS, STOP


def _strides(shape) -> list:
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return strides


_STORAGE_OF = {np.dtype("<f4"): "FloatStorage", np.dtype("<f8"): "DoubleStorage", np.dtype("<i8"): "LongStorage"}


def tensor_specs(arrays: dict) -> list:
    """[(key, spec, data)] for ``arrays``: one storage each, keyed "0", "1", ..."""
    return [(name, {"storage": _STORAGE_OF[array.dtype], "key": str(index), "numel": int(array.size), "offset": 0,
                    "size": list(array.shape), "stride": _strides(array.shape)},
             np.ascontiguousarray(array).tobytes())
            for index, (name, array) in enumerate(arrays.items())]


def torch_zip(pickle_bytes: bytes, storages: dict, prefix: str = "archive", byteorder: bytes = b"little") -> bytes:
    """The zip torch.save writes: <prefix>/data.pkl, <prefix>/byteorder, <prefix>/data/<key>, <prefix>/version
    (stored, uncompressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", pickle_bytes)
        if byteorder is not None:
            archive.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in storages.items():
            archive.writestr(f"{prefix}/data/{key}", data)
        archive.writestr(f"{prefix}/version", b"3\n")
    return buffer.getvalue()


def torch_bytes(arrays: dict) -> bytes:
    """A valid torch.save zip of the state_dict ``arrays``."""
    specs = tensor_specs(arrays)
    return torch_zip(state_dict_pickle([(key, tensor_pickle(spec)) for key, spec, _ in specs]),
                     {spec["key"]: data for _, spec, data in specs})


# ==================================================================================================
# Mutations
# ==================================================================================================

# Values a JSON field is replaced with: wrong types, boundary and absurd numbers, names that do not exist.
REPLACEMENTS = [2**31, 2**31 - 1, 2**63, 2**64 + 1, -2**63, 10**30, -1, 0, 1, 2, 3, 65536, 0.5, -0.5, 1e308,
                "", "x", "relu", "same", "valid", "channels_first", "float16", "int32", "F32", "F64", "I64", "BF16",
                "NoSuchLayer", "Dense", "Model", "Functional", "Sequential", "Lambda", "InputLayer", "Conv2D",
                "builtins.eval", "os.system", "keras.layers", "__main__", None, True, False, [], {}, [None], [1, 2],
                [0, 0], [2**40, 2**40], [-1, 3], [0, 2**63], {"class_name": "NoSuchLayer", "config": {}},
                {"class_name": "Lambda", "config": {"function": "exec"}},
                {"class_name": "Dense", "config": {"units": 2**40}}, {"module": "os", "class_name": "system"},
                "a" * 10_000, "__DEEP__", "__NAN__"]
DEEP = 50_000   # "__DEEP__" becomes this many nested lists in the JSON text


def _nodes(value, path=()):
    """Every (path, value) in a JSON tree, the root included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, path + (index,))


def _set(tree, path, value):
    if not path:
        return value
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return tree


JSON_KEYS = ["unknown", "name", "config", "class_name", "dtype", "shape", "data_offsets", "module",
             "registered_name"]


def mutate_json(data, raw: bytes, keys=JSON_KEYS, replacements=None) -> bytes:
    """One field of the JSON text ``raw`` replaced, deleted, added (under one of ``keys``), wrapped in a list
    or scaled; values drawn from ``replacements`` (default :data:`REPLACEMENTS`)."""
    replacements = REPLACEMENTS if replacements is None else replacements
    tree = json.loads(raw)
    path, node = data.draw(st.sampled_from(list(_nodes(tree))), label="json node")
    action = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "wrap", "scale"]),
                       label="json action")
    if action == "replace":
        tree = _set(tree, path, data.draw(st.sampled_from(replacements), label="value"))
    elif action == "delete" and path:
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
    elif action == "add" and isinstance(node, dict):
        node[data.draw(st.sampled_from(keys), label="key")] = data.draw(st.sampled_from(replacements), label="value")
    elif action == "wrap":
        tree = _set(tree, path, [node])
    elif action == "scale" and isinstance(node, (int, float)) and not isinstance(node, bool):
        tree = _set(tree, path, node * data.draw(st.sampled_from([-1, 2, 1000, 2**33]), label="factor"))
    text = json.dumps(tree)
    return text.replace('"__DEEP__"', "[" * DEEP + "]" * DEEP).replace('"__NAN__"', "NaN").encode()


def mutate_bytes(data, original: bytes, others: list) -> bytes:
    """Bytes flipped, the file truncated, a run inserted or deleted, or the file spliced with another."""
    action = data.draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "splice", "overwrite"]),
                       label="byte action")
    mutated = bytearray(original)
    if action == "flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            position = data.draw(st.integers(0, len(mutated) - 1), label="position")
            mutated[position] ^= data.draw(st.integers(1, 255), label="mask")
        return bytes(mutated)
    if action == "truncate":
        return original[:data.draw(st.integers(0, len(original) - 1), label="length")]
    position = data.draw(st.integers(0, len(original)), label="position")
    if action == "insert":
        run = data.draw(st.one_of(st.binary(min_size=1, max_size=64),
                                  st.builds(lambda b, n: bytes([b]) * n, st.integers(0, 255), st.integers(1, 4096))),
                        label="run")
        return original[:position] + run + original[position:]
    if action == "delete":
        return original[:position] + original[position + data.draw(st.integers(1, 256), label="run length"):]
    if action == "overwrite":   # numbers that often hold sizes: all ones, zero, a sign bit
        value = data.draw(st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"]),
                          label="value")
        mutated[position:position + len(value)] = value
        return bytes(mutated[:max(len(original), position + len(value))])
    other = data.draw(st.sampled_from(others), label="other file")
    cut = data.draw(st.integers(0, len(other)), label="cut in other")
    return original[:position] + other[cut:]


# --- HDF5 ---------------------------------------------------------------------------------------

def _h5_items(h5file):
    import h5py
    found = []
    h5file.visititems(lambda name, obj: found.append((name, obj)) if isinstance(obj, (h5py.Group, h5py.Dataset))
                      else None)
    return found


def _set_large_attribute(obj, key, values) -> None:
    """The first of ``values`` that HDF5 can store as the attribute ``key`` (an object header of a file in
    HDF5's earliest format holds less than 64 KiB of attributes)."""
    for value in values:
        try:
            obj.attrs[key] = value
            return
        except OSError:
            continue


def mutate_hdf5(data, original: bytes) -> bytes:
    """One dataset, group or attribute of the HDF5 file ``original`` changed through h5py: a dataset of another
    shape, dtype or storage (external raw data, compressed), removed or made a group, a link to elsewhere, a
    group removed, an attribute replaced (another type, a JSON field mutated)."""
    import h5py
    buffer = io.BytesIO(original)
    with h5py.File(buffer, "r+") as h5file:
        items = _h5_items(h5file)
        datasets = [(name, obj) for name, obj in items if isinstance(obj, h5py.Dataset)]
        groups = [(name, obj) for name, obj in items if isinstance(obj, h5py.Group)]
        attributes = [(obj, key) for obj in [h5file] + [obj for _, obj in items] for key in obj.attrs]
        kinds = ["dataset", "dataset", "group"] + (["attribute", "attribute"] if attributes else [])
        kind = data.draw(st.sampled_from(kinds), label="hdf5 kind")
        if kind == "dataset":
            name, dataset = data.draw(st.sampled_from(datasets), label="dataset")
            value = dataset[()]
            action = data.draw(st.sampled_from(["shape", "dtype", "fill", "delete", "group", "external", "gzip",
                                                "scalar", "huge", "softlink", "extlink", "string"]),
                               label="dataset action")
            del h5file[name]
            if action == "shape":
                shape = data.draw(st.sampled_from([(1,), (0,), (value.size + 1,), (*value.shape, 1), value.shape[:-1],
                                                   value.shape[::-1]]), label="shape")
                h5file.create_dataset(name, data=np.zeros(shape, value.dtype))
            elif action == "dtype":
                dtype = data.draw(st.sampled_from(["int32", "int64", "float16", "float64", "bool", "complex64",
                                                   "uint8", "S4"]), label="dtype")
                h5file.create_dataset(name, data=value.astype(dtype))
            elif action == "fill":
                h5file.create_dataset(name, data=np.full_like(value, data.draw(
                    st.sampled_from([math.nan, math.inf, -1.0, 1e30, 0.0]), label="fill")))
            elif action == "group":
                h5file.create_group(name)
            elif action == "external":   # raw data read from another file of the disk
                h5file.create_dataset(name, shape=value.shape, dtype=value.dtype,
                                      external=[("/etc/hostname", 0, value.nbytes)])
            elif action == "gzip":
                h5file.create_dataset(name, data=value, compression="gzip", chunks=True)
            elif action == "scalar":
                h5file.create_dataset(name, data=np.float32(1.0))
            elif action == "huge":   # declares far more than the file holds (chunked: no data written)
                h5file.create_dataset(name, shape=(2**20, 2**20), dtype="f4", chunks=(16, 16))
            elif action == "softlink":
                h5file[name] = h5py.SoftLink("/" + name + "_loop") if data.draw(st.booleans(), label="loop") \
                    else h5py.SoftLink("/")
                if not name.endswith("_loop"):
                    h5file[name + "_loop"] = h5py.SoftLink("/" + name)
            elif action == "extlink":
                h5file[name] = h5py.ExternalLink("/etc/hostname", "/x")
            elif action == "string":
                h5file.create_dataset(name, data="weights")
        elif kind == "group":
            name, group = data.draw(st.sampled_from(groups), label="group")
            action = data.draw(st.sampled_from(["delete", "empty", "dataset", "extra"]), label="group action")
            if action == "delete":
                del h5file[name]
            elif action == "empty":
                for key in list(group):
                    del group[key]
            elif action == "dataset":
                del h5file[name]
                h5file.create_dataset(name, data=np.zeros(3, np.float32))
            elif action == "extra":
                group.create_dataset("extra", data=np.zeros(3, np.float32))
        else:
            obj, key = data.draw(st.sampled_from(attributes), label="attribute")
            value = obj.attrs[key]
            text = value.decode() if isinstance(value, bytes) else value
            action = data.draw(st.sampled_from(["json", "json", "int", "array", "delete", "long", "names",
                                                "float"]), label="attribute action")
            if action == "json" and isinstance(text, str) and text[:1] in "{[":
                obj.attrs[key] = mutate_json(data, text.encode()).decode()
            elif action == "int":
                obj.attrs[key] = np.int64(data.draw(st.sampled_from([-1, 0, 2**40]), label="int"))
            elif action == "array":
                obj.attrs[key] = np.arange(5, dtype=np.int32)
            elif action == "delete":
                del obj.attrs[key]
            elif action == "long":
                _set_large_attribute(obj, key, ["x" * 60_000, "x" * 30_000, "x" * 4000])
            elif action == "names":
                _set_large_attribute(obj, key, data.draw(st.sampled_from(
                    [[[b"nosuch", b"../..", b""]], [[b"n"] * 5000, [b"n"] * 2000, [b"n"] * 500]]), label="names"))
            elif action == "float":
                obj.attrs[key] = np.float32(math.nan)
    return buffer.getvalue()


def zip_members(raw: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return [(info.filename, archive.read(info.filename)) for info in archive.infolist()]


def zip_bytes(members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, value in members:
            archive.writestr(zipfile.ZipInfo(name), value)
    return buffer.getvalue()


# --- ONNX ---------------------------------------------------------------------------------------

_OP_TYPES = ["Conv", "Relu", "Gemm", "MatMul", "Add", "Flatten", "Reshape", "Transpose", "Identity", "Loop", "If",
             "Scan", "Einsum", "NoSuchOp", "Constant", "Shape", "Gather", "BatchNormalization", "ConvTranspose",
             "MaxPool", "Concat", "Resize", ""]


def mutate_onnx(data, original: bytes) -> bytes:
    """One field of the ONNX model changed through the onnx API, then serialized: a node's op_type, domain,
    inputs (dangling, a self-loop, a cycle, none) or attributes; an initializer's dims, data type, raw_data
    length or external location; the opset version; the graph's inputs or outputs."""
    import onnx
    from onnx import helper
    model = onnx.load_from_string(original)
    graph = model.graph
    action = data.draw(st.sampled_from(["op_type", "domain", "dangle", "self_loop", "cycle", "no_inputs",
                                        "attribute", "attribute", "dims", "dims", "data_type", "raw_data",
                                        "external", "opset", "graph_output", "graph_input", "reverse",
                                        "duplicate_output", "initializer_drop"]), label="onnx action")
    nodes = list(graph.node)
    index = data.draw(st.integers(0, len(nodes) - 1), label="node")
    node = graph.node[index]
    initializers = list(graph.initializer)
    if action == "op_type":
        node.op_type = data.draw(st.sampled_from(_OP_TYPES), label="op_type")
    elif action == "domain":
        node.domain = data.draw(st.sampled_from(["com.microsoft", "ai.onnx.ml", "custom", "ai.onnx"]), label="domain")
    elif action == "dangle" and node.input:
        node.input[data.draw(st.integers(0, len(node.input) - 1), label="input")] = "nowhere"
    elif action == "self_loop" and node.input and node.output:
        node.input[0] = node.output[0]
    elif action == "cycle" and index > 0 and node.output and graph.node[0].input:
        graph.node[0].input[0] = node.output[0]   # the first node reads what a later one computes
    elif action == "no_inputs":
        del node.input[:]
    elif action == "attribute":
        what = data.draw(st.sampled_from(["remove", "int", "ints", "float", "string", "graph", "tensor", "type"]),
                         label="attribute action")
        if what == "remove" and node.attribute:
            del node.attribute[data.draw(st.integers(0, len(node.attribute) - 1), label="attribute")]
        else:
            name = data.draw(st.sampled_from(["kernel_shape", "strides", "pads", "dilations", "group", "axis",
                                              "perm", "alpha", "epsilon", "transA", "transB", "auto_pad", "value",
                                              "mode", "allowzero"]), label="attribute name")
            for position, attribute in enumerate(node.attribute):
                if attribute.name == name:
                    del node.attribute[position]
                    break
            if what == "int":
                attribute = helper.make_attribute(name, data.draw(st.sampled_from([-1, 0, 2**31, 2**62, 3]),
                                                                  label="int"))
            elif what == "ints":
                attribute = helper.make_attribute(name, data.draw(st.sampled_from(
                    [[0, 0], [-1, -1], [2**40, 1], [1] * 40, [3, 3, 3]]), label="ints"))
            elif what == "float":
                attribute = helper.make_attribute(name, data.draw(st.sampled_from([math.nan, math.inf, -1.0, 0.0,
                                                                                   1e30]), label="float"))
            elif what == "string":
                attribute = helper.make_attribute(name, data.draw(st.sampled_from(["SAME_UPPER", "VALID", "x",
                                                                                   "NOTSET"]), label="string"))
            elif what == "graph":
                attribute = helper.make_attribute(name, helper.make_graph([], "g", [], []))
            elif what == "tensor":   # declares 2**40 elements and holds none
                huge = onnx.TensorProto(name="t", data_type=onnx.TensorProto.FLOAT, dims=[2**20, 2**20])
                attribute = helper.make_attribute(name, huge)
            else:
                attribute = helper.make_attribute(name, [1.5, 2.5])   # floats where ints are due
            node.attribute.append(attribute)
    elif action in ("dims", "data_type", "raw_data", "external", "initializer_drop") and initializers:
        tensor = graph.initializer[data.draw(st.integers(0, len(initializers) - 1), label="initializer")]
        if action == "dims":
            del tensor.dims[:]
            tensor.dims.extend(data.draw(st.sampled_from([[], [0], [-1], [2**40], [2**31, 2**31], [1] * 40, [7],
                                                          [3, 3, 3, 3]]), label="dims"))
        elif action == "data_type":
            tensor.data_type = data.draw(st.sampled_from([0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 14, 16, 17, 99]),
                                         label="data_type")
        elif action == "raw_data":
            tensor.raw_data = tensor.raw_data[:data.draw(st.integers(0, len(tensor.raw_data)), label="raw length")] \
                + b"\0" * data.draw(st.sampled_from([0, 0, 4, 1]), label="extra bytes")
        elif action == "external":
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            location = data.draw(st.sampled_from(["../../etc/hostname", "/etc/hostname", "missing.bin", "",
                                                  "sub/../../x", "\\etc\\hostname", "."]), label="location")
            del tensor.external_data[:]
            for key, value in (("location", location), ("offset", data.draw(st.sampled_from(["0", "-5", "x",
                                                                                           str(2**62)]),
                                                                          label="offset"))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
        else:
            graph.initializer.remove(tensor)
    elif action == "opset":
        model.opset_import[0].version = data.draw(st.sampled_from([1, 6, 10, 25, 99, 2**40, -1]), label="opset")
    elif action == "graph_output":
        if data.draw(st.booleans(), label="drop output"):
            del graph.output[:]
        else:
            graph.output[0].name = "nowhere"
    elif action == "graph_input":
        graph.input[0].type.tensor_type.shape.dim[data.draw(st.integers(1, 3), label="dim")].dim_value = \
            data.draw(st.sampled_from([0, 1, 2**40]), label="size")
    elif action == "reverse":
        reordered = list(reversed(nodes))
        del graph.node[:]
        graph.node.extend(reordered)
    elif action == "duplicate_output" and len(nodes) > 1 and node.output:
        graph.node[(index + 1) % len(nodes)].output[0] = node.output[0]
    return model.SerializeToString()
