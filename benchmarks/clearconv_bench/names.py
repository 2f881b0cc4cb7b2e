"""Names shared by the modules: the cases ``--cases`` accepts, the implementations and the modes.

Importable before NumPy (the scripts parse their arguments first) and without PyTorch.
"""

EPOCH_CASE = "lenet-epoch"
# The standard cases, in table order; lenet-epoch is timed apart (:mod:`.epoch`).
CASE_NAMES = ("lenet-conv1", "lenet-conv2", "vgg-3x3", "deep-3x3", "pointwise", "strided", "conv1d",
              "transposed", "maxpool", EPOCH_CASE)
ZOO_NAMES = ("small_vgg", "small_resnet")      # zoo inference rows (:mod:`.zoo_inference`)
ALL_NAMES = CASE_NAMES + ZOO_NAMES

MAIN = "clearconv"                               # implementation key of a case's main row (the automatic choice)
MODES = ("forward", "forward+backward")          # what each case times
# Whole models compared in training, inference and memory (:mod:`.whole_models`), in table order.
MODEL_NAMES = ("lenet5", "small_vgg", "small_resnet", "unet", "signal1d")
