"""Reading and writing models: clearconv's own format, Keras 3 and legacy HDF5 files, ONNX, PyTorch
state_dicts and safetensors, one module each, over one loader contract.

:mod:`.formats` picks the format (by content when reading, by extension when writing); every reader keeps
the contract of :mod:`.errors` (a working model or a :class:`ModelFileError`), reads through the bounded
readers of :mod:`.archive` and writes through :mod:`.writing` (never a half-written file). ``io`` sits above
``models``: the models reach it only through ``save``/``save_weights``/``load_weights`` and ``load_model``.
"""

from .errors import ModelFileError
from .formats import file_format, load_model, load_weights, save_model, save_weights
from .keras import load_keras, model_from_keras_json, save_keras
from .native import restore_global_rng
from .onnx import export_onnx, import_onnx
from .torch import load_torch_state_dict, read_safetensors, read_state_dict

__all__ = ["ModelFileError", "export_onnx", "file_format", "import_onnx", "load_keras", "load_model",
           "load_torch_state_dict", "load_weights", "model_from_keras_json", "read_safetensors", "read_state_dict",
           "restore_global_rng", "save_keras", "save_model", "save_weights"]
