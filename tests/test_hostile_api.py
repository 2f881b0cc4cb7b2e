"""Hostile inputs at the public API get a ValueError or TypeError that names the argument.

Each case passes something a user could plausibly get wrong (0, negative, float, NaN, inf,
bool, string, None, 2**63, wrong-length tuples, wrong-rank or non-numeric arrays, unknown
names) to a layer constructor or call, the model API (compile/fit/evaluate/predict),
an optimizer, a loss, an op or a utility, and checks the exception type and that the
message names the argument (``re.search``). Never a raw NumPy, IndexError, KeyError,
AttributeError or ZeroDivisionError traceback, never a hang, never silent acceptance.

``ACCEPTED`` lists the few values that look odd but that Keras 3 accepts too, with the
same meaning (``filters=None`` for a deferred size, ``Dropout(1.0)``, a one-input
``Concatenate``, ``num_classes=0`` meaning "infer", ...): they must keep working.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import clearconv as keras


def _cases():
    """(id, callable, regex the message must match) for every hostile input."""
    L = keras.layers
    ops = keras.ops
    C = []
    def add(cid, fn, arg):
        C.append((cid, fn, arg))

    BAD_INT = {"zero": 0, "neg": -1, "float": 2.5, "nan": float("nan"), "inf": float("inf"), "bool": True,
               "str": "3", "huge": 2**63, "none": None}
    # Conv family constructor args
    for cls, ks in [("Conv1D", 3), ("Conv2D", 3), ("Conv3D", 3), ("Conv2DTranspose", 3), ("SeparableConv2D", 3)]:
        for tag, v in BAD_INT.items():
            add(f"{cls}-filters-{tag}", lambda cls=cls, v=v: getattr(L, cls)(v, 3), "filters")
        for tag, v in [("zero", 0), ("neg", -2), ("float", 2.5), ("nan", float("nan")), ("bool", True), ("str", "3"),
                       ("none", None), ("huge", 2**63), ("badlen", (3, 3, 3, 3)), ("emptytuple", ())]:
            add(f"{cls}-kernel_size-{tag}", lambda cls=cls, v=v: getattr(L, cls)(4, v), "kernel_size")
    for cls in ["Conv2D", "Conv1D", "Conv3D", "DepthwiseConv2D", "Conv2DTranspose"]:
        first = (lambda cls: (lambda **kw: getattr(L, cls)(3, **kw))) if cls == "DepthwiseConv2D" else \
                (lambda cls: (lambda **kw: getattr(L, cls)(4, 3, **kw)))
        mk = first(cls)
        for tag, v in [("float", 1.5), ("nan", float("nan")), ("bool", True), ("str", "2"), ("badlen", (1, 1, 1, 1)),
                       ("none", None), ("neg", -1), ("huge", 2**63)]:
            add(f"{cls}-strides-{tag}", lambda mk=mk, v=v: mk(strides=v), "strides")
        for tag, v in [("zero", 0), ("float", 1.5), ("bool", True), ("badlen", (1, 1, 1, 1)), ("none", None), ("str", "1")]:
            add(f"{cls}-dilation_rate-{tag}", lambda mk=mk, v=v: mk(dilation_rate=v), "dilation_rate")
        for tag, v in [("int", 1), ("none", None), ("upper-bad", "VALIDX"), ("list", ["same"])]:
            add(f"{cls}-padding-{tag}", lambda mk=mk, v=v: mk(padding=v), "padding")
        for tag, v in [("int", 1), ("bad", "NCHW"), ("list", ["channels_last"])]:
            add(f"{cls}-data_format-{tag}", lambda mk=mk, v=v: mk(data_format=v), "data_format")
        for tag, v in [("int", 3), ("bad", "reluu"), ("list", ["relu"])]:
            add(f"{cls}-activation-{tag}", lambda mk=mk, v=v: mk(activation=v), "activation")
        add(f"{cls}-use_bias-str", lambda mk=mk: mk(use_bias="yes"), "use_bias")
    for tag, v in [("zero", 0), ("neg", -2), ("float", 1.5), ("bool", True), ("str", "2"), ("none", None), ("nan", float("nan"))]:
        add(f"Conv2D-groups-{tag}", lambda v=v: L.Conv2D(4, 3, groups=v), "groups")
    for tag, v in [("zero", 0), ("neg", -1), ("float", 1.5), ("bool", True), ("none", None)]:
        add(f"DepthwiseConv2D-depth_multiplier-{tag}", lambda v=v: L.DepthwiseConv2D(3, depth_multiplier=v), "depth_multiplier")
        add(f"SeparableConv2D-depth_multiplier-{tag}", lambda v=v: L.SeparableConv2D(4, 3, depth_multiplier=v), "depth_multiplier")
    for tag, v in [("neg", -1), ("float", 0.5), ("badlen", (1, 1, 1))]:
        add(f"Conv2DTranspose-output_padding-{tag}", lambda v=v: L.Conv2DTranspose(4, 3, strides=2, output_padding=v), "output_padding")
    for arg in ["kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint"]:
        add(f"Conv2D-{arg}-int", lambda arg=arg: L.Conv2D(4, 3, **{arg: 5}), arg)
        add(f"Conv2D-{arg}-list", lambda arg=arg: L.Conv2D(4, 3, **{arg: ["x"]}), arg)
        add(f"Dense-{arg}-bad", lambda arg=arg: L.Dense(4, **{arg: "nonsense_xyz"}), arg)
    # Dense
    for tag, v in BAD_INT.items():
        add(f"Dense-units-{tag}", lambda v=v: L.Dense(v), "units")
    add("Dense-activation-int", lambda: L.Dense(3, activation=7), "activation")
    add("Dense-use_bias-str", lambda: L.Dense(3, use_bias="no"), "use_bias")
    # Pooling
    for cls in ["MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling3D"]:
        for tag, v in [("zero", 0), ("neg", -1), ("float", 2.5), ("bool", True), ("str", "2"), ("badlen", (2, 2, 2, 2)), ("nan", float("nan"))]:
            add(f"{cls}-pool_size-{tag}", lambda cls=cls, v=v: getattr(L, cls)(pool_size=v), "pool_size")
        for tag, v in [("zero", 0), ("neg", -1), ("float", 1.5), ("str", "2")]:
            add(f"{cls}-strides-{tag}", lambda cls=cls, v=v: getattr(L, cls)(pool_size=2, strides=v), "strides")
        add(f"{cls}-padding-bad", lambda cls=cls: getattr(L, cls)(2, padding="full"), "padding")
        add(f"{cls}-padding-int", lambda cls=cls: getattr(L, cls)(2, padding=0), "padding")
        add(f"{cls}-data_format-bad", lambda cls=cls: getattr(L, cls)(2, data_format="NHWC"), "data_format")
    for cls in ["GlobalAveragePooling2D", "GlobalMaxPooling2D"]:
        add(f"{cls}-data_format-bad", lambda cls=cls: getattr(L, cls)(data_format="nhwc"), "data_format")
        add(f"{cls}-keepdims-str", lambda cls=cls: getattr(L, cls)(keepdims="yes"), "keepdims")
    # BatchNormalization
    for tag, v in [("float", 1.5), ("str", "-1"), ("huge", 2**63), ("bool", True)]:
        add(f"BatchNormalization-axis-{tag}", lambda v=v: L.BatchNormalization(axis=v), "axis")
    add("BatchNormalization-axis-outofrange", lambda: L.BatchNormalization(axis=5)(np.zeros((2, 3), np.float32)), "axis")
    for tag, v in [("neg", -0.1), ("gt1", 1.5), ("nan", float("nan")), ("str", "0.9"), ("none", None)]:
        add(f"BatchNormalization-momentum-{tag}", lambda v=v: L.BatchNormalization(momentum=v), "momentum")
    for tag, v in [("neg", -1e-3), ("zero", 0.0), ("nan", float("nan")), ("str", "eps"), ("none", None),
                   ("inf", float("inf"))]:
        add(f"BatchNormalization-epsilon-{tag}", lambda v=v: L.BatchNormalization(epsilon=v), "epsilon")
    add("BatchNormalization-center-str", lambda: L.BatchNormalization(center="yes"), "center")
    add("BatchNormalization-scale-int", lambda: L.BatchNormalization(scale=2), "scale")
    # Dropout
    for tag, v in [("neg", -0.1), ("one", 1.0), ("gt1", 2.0), ("nan", float("nan")), ("inf", float("inf")),
                   ("str", "0.5"), ("none", None), ("bool", True), ("list", [0.5])]:
        add(f"Dropout-rate-{tag}", lambda v=v: L.Dropout(v), "rate")
    add("Dropout-seed-str", lambda: L.Dropout(0.5, seed="abc"), "seed")
    add("Dropout-seed-float", lambda: L.Dropout(0.5, seed=1.5), "seed")
    add("Dropout-noise_shape-str", lambda: L.Dropout(0.5, noise_shape="abc"), "noise_shape")
    add("SpatialDropout2D-rate-neg", lambda: L.SpatialDropout2D(-0.5), "rate")
    add("GaussianNoise-stddev-neg", lambda: L.GaussianNoise(-1.0), "stddev")
    add("GaussianNoise-stddev-nan", lambda: L.GaussianNoise(float("nan")), "stddev")
    add("GaussianDropout-rate-gt1", lambda: L.GaussianDropout(1.5), "rate")
    # Reshape
    for tag, v in [("int", 5), ("str", "abc"), ("none", None), ("zero", (0, 4)), ("neg", (-2, 4)), ("two-neg1", (-1, -1)),
                   ("float", (2.5, 2)), ("nan", (float("nan"), 2)), ("bool", (True, 2))]:
        add(f"Reshape-target_shape-{tag}", lambda v=v: L.Reshape(v), "target_shape")
    add("Reshape-call-incompatible", lambda: L.Reshape((5, 5))(np.zeros((2, 12), np.float32)), "target_shape")
    add("Reshape-call-neg1-incompatible", lambda: L.Reshape((-1, 5))(np.zeros((2, 12), np.float32)), "target_shape")
    add("Flatten-data_format-bad", lambda: L.Flatten(data_format="NHWC"), "data_format")
    # ZeroPadding2D
    for tag, v in [("neg", -1), ("float", 1.5), ("str", "1"), ("badlen", (1, 1, 1)), ("nested-bad", ((1, 1), (1,))),
                   ("nested-neg", ((1, -1), (1, 1))), ("none", None), ("bool", True)]:
        add(f"ZeroPadding2D-padding-{tag}", lambda v=v: L.ZeroPadding2D(v), "padding")
    add("ZeroPadding2D-data_format-bad", lambda: L.ZeroPadding2D(1, data_format="x"), "data_format")
    for tag, v in [("neg", -1), ("float", 1.5), ("str", "1"), ("badlen", (1, 1, 1)), ("nested-neg", ((1, -1), (1, 1))), ("none", None)]:
        add(f"Cropping2D-cropping-{tag}", lambda v=v: L.Cropping2D(v), "cropping")
    add("Cropping2D-call-too-much", lambda: L.Cropping2D(((3, 3), (0, 0)))(np.zeros((1, 4, 4, 1), np.float32)), "cropping")
    for tag, v in [("zero", 0), ("neg", -2), ("float", 1.5), ("str", "2"), ("badlen", (2, 2, 2)), ("none", None), ("bool", True)]:
        add(f"UpSampling2D-size-{tag}", lambda v=v: L.UpSampling2D(v), "size")
    add("UpSampling2D-interpolation-bad", lambda: L.UpSampling2D(2, interpolation="cubicx"), "interpolation")
    add("UpSampling2D-interpolation-int", lambda: L.UpSampling2D(2, interpolation=1), "interpolation")
    add("UpSampling2D-data_format-bad", lambda: L.UpSampling2D(2, data_format="x"), "data_format")
    # Concatenate/Add
    for tag, v in [("float", 1.5), ("str", "x"), ("none", None), ("bool", True)]:
        add(f"Concatenate-axis-{tag}", lambda v=v: L.Concatenate(axis=v), "axis")
    add("Concatenate-axis-outofrange", lambda: L.Concatenate(axis=5)([np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)]), "axis")
    add("Concatenate-mismatch", lambda: L.Concatenate()([np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32)]), "shape")
    add("Concatenate-single", lambda: L.Concatenate()([np.zeros((2, 3), np.float32)]), "input")
    add("Concatenate-notlist", lambda: L.Concatenate()(np.zeros((2, 3), np.float32)), "input")
    add("Add-mismatch", lambda: L.Add()([np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)]), "shape")
    add("Add-single", lambda: L.Add()([np.zeros((2, 3), np.float32)]), "input")
    add("Add-notlist", lambda: L.Add()(np.zeros((2, 3), np.float32)), "input")
    if hasattr(L, "Embedding"):
        add("Embedding-input_dim-zero", lambda: L.Embedding(0, 4), "input_dim")
        add("Embedding-output_dim-neg", lambda: L.Embedding(10, -4), "output_dim")
    # Resizing
    for tag, v in [("zero", 0), ("neg", -3), ("float", 2.5), ("str", "4"), ("none", None), ("bool", True), ("huge", 2**63)]:
        add(f"Resizing-height-{tag}", lambda v=v: L.Resizing(v, 4), "height")
        add(f"Resizing-width-{tag}", lambda v=v: L.Resizing(4, v), "width")
    add("Resizing-interpolation-bad", lambda: L.Resizing(4, 4, interpolation="cubicx"), "interpolation")
    add("Resizing-crop_to_aspect_ratio-str", lambda: L.Resizing(4, 4, crop_to_aspect_ratio="yes"), "crop_to_aspect_ratio")
    add("Resizing-call-rank2", lambda: L.Resizing(4, 4)(np.zeros((4, 4), np.float32)), "rank|shape")
    # layer calls
    add("Conv2D-call-rank5", lambda: L.Conv2D(2, 3)(np.zeros((1, 2, 8, 8, 3), np.float32)), "rank")
    add("Conv1D-call-rank4", lambda: L.Conv1D(2, 3)(np.zeros((1, 8, 8, 3), np.float32)), "rank")
    add("Conv3D-call-rank4", lambda: L.Conv3D(2, 3)(np.zeros((1, 8, 8, 3), np.float32)), "rank")
    add("Conv2DTranspose-call-rank3", lambda: L.Conv2DTranspose(2, 3)(np.zeros((1, 8, 3), np.float32)), "rank")
    add("DepthwiseConv2D-call-rank3", lambda: L.DepthwiseConv2D(3)(np.zeros((1, 8, 3), np.float32)), "rank")
    add("SeparableConv2D-call-rank3", lambda: L.SeparableConv2D(2, 3)(np.zeros((1, 8, 3), np.float32)), "rank")
    add("MaxPooling2D-call-rank3", lambda: L.MaxPooling2D()(np.zeros((1, 8, 3), np.float32)), "rank")
    add("MaxPooling2D-call-too-small", lambda: L.MaxPooling2D(4)(np.zeros((1, 2, 2, 3), np.float32)), "pool_size|size")
    add("GlobalAveragePooling2D-call-rank3", lambda: L.GlobalAveragePooling2D()(np.zeros((1, 8, 3), np.float32)), "rank")
    add("UpSampling2D-call-rank3", lambda: L.UpSampling2D()(np.zeros((1, 8, 3), np.float32)), "rank")
    add("ZeroPadding2D-call-rank3", lambda: L.ZeroPadding2D()(np.zeros((1, 8, 3), np.float32)), "rank")
    add("Flatten-call-rank1", lambda: L.Flatten()(np.zeros((3,), np.float32)), "rank")
    add("Dense-call-rank1", lambda: L.Dense(2)(np.zeros((3,), np.float32)), "rank|shape")
    add("Dense-call-rank0", lambda: L.Dense(2)(np.float32(3.0)), "rank|shape")
    add("BatchNormalization-call-channel-mismatch", lambda: (lambda b: (b(np.zeros((2, 3), np.float32)), b(np.zeros((2, 4), np.float32))))(L.BatchNormalization()), "shape|channel|axis")
    add("Conv2D-call-str-array", lambda: L.Conv2D(2, 3)(np.full((1, 8, 8, 3), "a")), "inputs|dtype")
    add("Conv2D-call-object-array", lambda: L.Conv2D(2, 3)(np.empty((1, 8, 8, 3), dtype=object)), "inputs|dtype")
    add("Dense-call-str-array", lambda: L.Dense(2)(np.array([["a", "b"]])), "inputs|dtype")
    add("Dense-call-object-array", lambda: L.Dense(2)(np.array([[object(), object()]], dtype=object)), "inputs|dtype")
    add("Dense-call-str", lambda: L.Dense(2)("hello"), "inputs|dtype")
    add("Dense-call-none", lambda: L.Dense(2)(None), "inputs")
    add("Dense-call-ragged", lambda: L.Dense(2)([[1.0, 2.0], [3.0]]), "inputs")
    add("Dense-call-complex", lambda: L.Dense(2)(np.ones((2, 3), np.complex64)), "inputs|dtype")
    add("Conv2D-call-zero-batch-dim-channels", lambda: L.Conv2D(2, 3)(np.zeros((1, 8, 8, 0), np.float32)), "channel")
    add("Conv2D-call-training-str", lambda: L.Conv2D(2, 3)(np.zeros((1, 8, 8, 3), np.float32), training="yes"), "training")
    add("Dropout-call-training-str", lambda: L.Dropout(0.5)(np.zeros((2, 3), np.float32), training="no"), "training")
    # -------- model API
    def model():
        m = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="softmax")])
        return m
    def cmodel():
        m = model()
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        return m
    X = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    add("compile-optimizer-unknown", lambda: model().compile(optimizer="adamx", loss="mse"), "optimizer")
    add("compile-optimizer-int", lambda: model().compile(optimizer=3, loss="mse"), "optimizer")
    add("compile-optimizer-class", lambda: model().compile(optimizer=keras.optimizers.SGD, loss="mse"), "optimizer")
    add("compile-loss-unknown", lambda: model().compile(optimizer="sgd", loss="msee"), "loss")
    add("compile-loss-int", lambda: model().compile(optimizer="sgd", loss=3), "loss")
    add("compile-metric-unknown", lambda: model().compile(optimizer="sgd", loss="mse", metrics=["acuracy"]), "metric")
    add("compile-metric-int", lambda: model().compile(optimizer="sgd", loss="mse", metrics=[3]), "metric")
    add("compile-metrics-str", lambda: model().compile(optimizer="sgd", loss="mse", metrics="accuracy"), "metrics")
    add("compile-loss_weights-str", lambda: model().compile(optimizer="sgd", loss="mse", loss_weights="x"), "loss_weights")
    add("fit-uncompiled", lambda: model().fit(X, Y, verbose=0), "compile")
    add("fit-xy-length", lambda: cmodel().fit(X, Y[:5], verbose=0), "x|y")
    add("evaluate-xy-length", lambda: cmodel().evaluate(X, Y[:5], verbose=0), "x|y")
    add("fit-x-str", lambda: cmodel().fit(np.full((8, 4), "a"), Y, verbose=0), "x|dtype")
    add("fit-x-object", lambda: cmodel().fit(np.empty((8, 4), dtype=object), Y, verbose=0), "x|dtype")
    add("fit-y-str", lambda: cmodel().fit(X, np.full((8, 3), "a"), verbose=0), "y|dtype")
    add("predict-x-str", lambda: cmodel().predict(np.full((8, 4), "a"), verbose=0), "x|dtype")
    add("predict-x-none", lambda: cmodel().predict(None, verbose=0), "x")
    add("predict-wrong-features", lambda: cmodel().predict(np.zeros((8, 5), np.float32), verbose=0), "shape")
    for tag, v in [("zero", 0), ("neg", -4), ("float", 2.5), ("str", "4"), ("bool", True), ("nan", float("nan"))]:
        add(f"fit-batch_size-{tag}", lambda v=v: cmodel().fit(X, Y, batch_size=v, verbose=0), "batch_size")
        add(f"predict-batch_size-{tag}", lambda v=v: cmodel().predict(X, batch_size=v, verbose=0), "batch_size")
        add(f"evaluate-batch_size-{tag}", lambda v=v: cmodel().evaluate(X, Y, batch_size=v, verbose=0), "batch_size")
    for tag, v in [("float", 2.5), ("neg", -1), ("str", "2"), ("none", None), ("nan", float("nan")), ("bool", True)]:
        add(f"fit-epochs-{tag}", lambda v=v: cmodel().fit(X, Y, epochs=v, verbose=0), "epochs")
    for tag, v in [("neg", -0.1), ("one", 1.0), ("gt1", 1.5), ("nan", float("nan")), ("str", "0.2")]:
        add(f"fit-validation_split-{tag}", lambda v=v: cmodel().fit(X, Y, validation_split=v, verbose=0), "validation_split")
    add("fit-callbacks-str", lambda: cmodel().fit(X, Y, callbacks=["early_stopping"], verbose=0), "callbacks")
    add("fit-callbacks-int", lambda: cmodel().fit(X, Y, callbacks=3, verbose=0), "callbacks")
    add("fit-callbacks-func", lambda: cmodel().fit(X, Y, callbacks=[print], verbose=0), "callbacks")
    add("fit-shuffle-str", lambda: cmodel().fit(X, Y, shuffle="yes", verbose=0), "shuffle")
    add("fit-shuffle-int", lambda: cmodel().fit(X, Y, shuffle=2, verbose=0), "shuffle")
    add("fit-initial_epoch-gt", lambda: cmodel().fit(X, Y, epochs=2, initial_epoch=5, verbose=0), "initial_epoch")
    add("fit-initial_epoch-neg", lambda: cmodel().fit(X, Y, epochs=2, initial_epoch=-1, verbose=0), "initial_epoch")
    add("fit-initial_epoch-float", lambda: cmodel().fit(X, Y, epochs=2, initial_epoch=0.5, verbose=0), "initial_epoch")
    add("fit-verbose-str", lambda: cmodel().fit(X, Y, verbose="loud"), "verbose")
    add("fit-validation_data-badtuple", lambda: cmodel().fit(X, Y, validation_data=(X,), verbose=0), "validation_data")
    add("fit-validation_data-int", lambda: cmodel().fit(X, Y, validation_data=3, verbose=0), "validation_data")
    add("fit-class_weight-list", lambda: cmodel().fit(X, Y, class_weight=[1, 2, 3], verbose=0), "class_weight")
    add("fit-sample_weight-len", lambda: cmodel().fit(X, Y, sample_weight=np.ones(3), verbose=0), "sample_weight")
    add("fit-steps_per_epoch-neg", lambda: cmodel().fit(X, Y, steps_per_epoch=-1, verbose=0), "steps_per_epoch")
    add("fit-steps_per_epoch-float", lambda: cmodel().fit(X, Y, steps_per_epoch=1.5, verbose=0), "steps_per_epoch")
    add("predict-steps-neg", lambda: cmodel().predict(X, steps=-1, verbose=0), "steps")
    add("Sequential-layers-str", lambda: keras.Sequential("dense"), "layers")
    add("Sequential-layers-int-item", lambda: keras.Sequential([3]), "Layer")
    add("Sequential-add-int", lambda: keras.Sequential().add(3), "Layer")
    add("Input-shape-neg", lambda: keras.Input((-1, 4)), "shape")
    add("Input-shape-str", lambda: keras.Input("abc"), "shape")
    add("Input-shape-float", lambda: keras.Input((2.5,)), "shape")
    add("Input-shape-zero", lambda: keras.Input((0,)), "shape")
    # -------- optimizers
    O = keras.optimizers
    for cls in ["SGD", "Adam", "RMSprop", "AdamW", "Adagrad"]:
        for tag, v in [("neg", -0.1), ("nan", float("nan")), ("inf", float("inf")), ("str", "0.1"), ("none", None), ("bool", True)]:
            add(f"{cls}-learning_rate-{tag}", lambda cls=cls, v=v: getattr(O, cls)(learning_rate=v), "learning_rate")
        add(f"{cls}-clipnorm-neg", lambda cls=cls: getattr(O, cls)(clipnorm=-1.0), "clipnorm")
        add(f"{cls}-clipvalue-neg", lambda cls=cls: getattr(O, cls)(clipvalue=-1.0), "clipvalue")
        add(f"{cls}-global_clipnorm-neg", lambda cls=cls: getattr(O, cls)(global_clipnorm=-1.0), "global_clipnorm")
        add(f"{cls}-clipnorm-and-global", lambda cls=cls: getattr(O, cls)(clipnorm=1.0, global_clipnorm=1.0), "clipnorm")
        add(f"{cls}-weight_decay-neg", lambda cls=cls: getattr(O, cls)(weight_decay=-0.1), "weight_decay")
    for cls in ["Adam", "AdamW", "Nadam"]:
        for tag, v in [("neg", -0.1), ("one", 1.0), ("gt1", 1.5), ("nan", float("nan")), ("str", "0.9")]:
            add(f"{cls}-beta_1-{tag}", lambda cls=cls, v=v: getattr(O, cls)(beta_1=v), "beta_1")
        add(f"{cls}-beta_2-gt1", lambda cls=cls: getattr(O, cls)(beta_2=1.5), "beta_2")
        for tag, v in [("neg", -1e-7), ("nan", float("nan")), ("str", "1e-7")]:
            add(f"{cls}-epsilon-{tag}", lambda cls=cls, v=v: getattr(O, cls)(epsilon=v), "epsilon")
        add(f"{cls}-amsgrad-str", lambda cls=cls: getattr(O, cls)(amsgrad="yes"), "amsgrad")
    add("SGD-momentum-neg", lambda: O.SGD(momentum=-0.5), "momentum")
    add("SGD-momentum-gt1", lambda: O.SGD(momentum=1.5), "momentum")
    add("SGD-momentum-str", lambda: O.SGD(momentum="0.9"), "momentum")
    add("SGD-nesterov-str", lambda: O.SGD(nesterov="yes"), "nesterov")
    add("RMSprop-rho-gt1", lambda: O.RMSprop(rho=1.5), "rho")
    add("RMSprop-rho-neg", lambda: O.RMSprop(rho=-0.5), "rho")
    add("optimizers.get-unknown", lambda: O.get("adamx"), "adamx|identifier|optimizer")
    add("optimizers.get-int", lambda: O.get(3), "identifier|optimizer")
    # -------- losses
    LS = keras.losses
    for cls in ["CategoricalCrossentropy", "BinaryCrossentropy", "SparseCategoricalCrossentropy", "MeanSquaredError"]:
        add(f"{cls}-reduction-bad", lambda cls=cls: getattr(LS, cls)(reduction="average"), "reduction")
        add(f"{cls}-reduction-int", lambda cls=cls: getattr(LS, cls)(reduction=1), "reduction")
    for cls in ["CategoricalCrossentropy", "BinaryCrossentropy", "SparseCategoricalCrossentropy"]:
        for tag, v in [("str", "yes"), ("int", 2), ("none", None)]:
            add(f"{cls}-from_logits-{tag}", lambda cls=cls, v=v: getattr(LS, cls)(from_logits=v), "from_logits")
    for tag, v in [("neg", -0.1), ("gt1", 1.5), ("str", "0.1"), ("nan", float("nan"))]:
        add(f"CategoricalCrossentropy-label_smoothing-{tag}", lambda v=v: LS.CategoricalCrossentropy(label_smoothing=v), "label_smoothing")
    add("losses.get-unknown", lambda: LS.get("msee"), "msee|identifier|loss")
    add("losses.get-int", lambda: LS.get(3), "identifier|loss")
    add("loss-call-shape-mismatch", lambda: LS.MeanSquaredError()(np.zeros((4, 3)), np.zeros((5, 3))), "y_true|y_pred|shape")
    add("loss-call-str", lambda: LS.MeanSquaredError()(np.full((4, 3), "a"), np.zeros((4, 3))), "y_true|dtype")
    add("sparse-cce-neg-label", lambda: LS.SparseCategoricalCrossentropy()(np.array([-1, 0]), np.full((2, 3), 1 / 3)), "y_true|label")
    add("sparse-cce-label-too-big", lambda: LS.SparseCategoricalCrossentropy()(np.array([5, 0]), np.full((2, 3), 1 / 3)), "y_true|label")
    add("sparse-cce-float-label", lambda: LS.SparseCategoricalCrossentropy()(np.array([0.5, 0]), np.full((2, 3), 1 / 3)), "y_true|label")
    # metrics
    add("metrics.get-unknown", lambda: keras.metrics.get("acuracy"), "acuracy|identifier|metric")
    add("TopK-k-zero", lambda: keras.metrics.TopKCategoricalAccuracy(k=0), "k")
    # -------- ops
    add("ops.sum-axis-out", lambda: ops.sum(np.zeros((2, 3)), axis=2), "axis")
    add("ops.sum-axis-float", lambda: ops.sum(np.zeros((2, 3)), axis=1.5), "axis")
    add("ops.sum-axis-str", lambda: ops.sum(np.zeros((2, 3)), axis="x"), "axis")
    add("ops.mean-axis-repeat", lambda: ops.mean(np.zeros((2, 3)), axis=(0, 0)), "axis")
    add("ops.max-axis-out", lambda: ops.max(np.zeros((2, 3)), axis=-3), "axis")
    add("ops.argmax-axis-out", lambda: ops.argmax(np.zeros((2, 3)), axis=3), "axis")
    add("ops.softmax-axis-out", lambda: ops.softmax(np.zeros((2, 3)), axis=3), "axis")
    add("ops.concatenate-axis-out", lambda: ops.concatenate([np.zeros((2, 3)), np.zeros((2, 3))], axis=3), "axis")
    add("ops.concatenate-mismatch", lambda: ops.concatenate([np.zeros((2, 3)), np.zeros((3, 4))], axis=0), "shape|concatenate")
    add("ops.add-broadcast", lambda: ops.add(np.zeros((2, 3)), np.zeros((4,))), "`x1`.*`x2`.*broadcast")
    add("ops.multiply-broadcast", lambda: ops.multiply(np.zeros((2, 3)), np.zeros((2, 4))), "`x1`.*`x2`.*broadcast")
    add("ops.matmul-mismatch", lambda: ops.matmul(np.zeros((2, 3)), np.zeros((4, 5))), "`x1`.*`x2`")
    add("ops.reshape-bad", lambda: ops.reshape(np.zeros((2, 3)), (4, 2)), "shape|newshape")
    add("ops.reshape-two-neg", lambda: ops.reshape(np.zeros((2, 3)), (-1, -1)), "shape|newshape")
    add("ops.transpose-bad-axes", lambda: ops.transpose(np.zeros((2, 3)), axes=(0, 2)), "axes")
    add("ops.expand_dims-axis-out", lambda: ops.expand_dims(np.zeros((2, 3)), 5), "axis")
    add("ops.squeeze-nonunit", lambda: ops.squeeze(np.zeros((2, 3)), axis=0), "axis")
    add("ops.cast-bad-dtype", lambda: ops.cast(np.zeros(3), "floaty32"), "dtype")
    add("ops.cast-int-dtype", lambda: ops.cast(np.zeros(3), 5), "dtype")
    add("ops.zeros-bad-dtype", lambda: ops.zeros((2,), dtype="float65"), "dtype")
    add("ops.ones-neg-shape", lambda: ops.ones((-2, 3)), "shape")
    add("ops.zeros-float-shape", lambda: ops.zeros((2.5, 3)), "shape")
    add("ops.one_hot-neg-classes", lambda: ops.one_hot(np.array([0, 1]), -3), "num_classes")
    add("ops.one_hot-float-classes", lambda: ops.one_hot(np.array([0, 1]), 2.5), "num_classes")
    add("ops.take-axis-out", lambda: ops.take(np.zeros((2, 3)), np.array([0]), axis=4), "axis")
    add("ops.split-uneven", lambda: ops.split(np.zeros((5,)), 2), "indices_or_sections|split")
    add("ops.stack-mismatch", lambda: ops.stack([np.zeros((2,)), np.zeros((3,))]), "shape")
    add("ops.convert_to_tensor-bad-dtype", lambda: ops.convert_to_tensor([1, 2], dtype="floatx"), "dtype")
    add("ops.conv-bad-padding", lambda: ops.conv(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 3, 2)), padding="full"), "padding")
    add("ops.conv-bad-strides", lambda: ops.conv(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 3, 2)), strides=0), "strides")
    add("ops.conv-channel-mismatch", lambda: ops.conv(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 4, 2))), "kernel|channel")
    add("ops.max_pool-bad-pool", lambda: ops.max_pool(np.zeros((1, 8, 8, 3)), pool_size=0), "pool_size")
    add("ops.clip-str", lambda: ops.clip(np.zeros(3), "a", 1), "x_min|clip")
    # -------- utils
    U = keras.utils
    add("to_categorical-neg", lambda: U.to_categorical(np.array([0, -1, 2])), "`x`")
    add("to_categorical-too-small", lambda: U.to_categorical(np.array([0, 1, 5]), num_classes=3), "num_classes")
    add("to_categorical-num_classes-zero", lambda: U.to_categorical(np.array([0]), num_classes=0), "num_classes")
    add("to_categorical-num_classes-float", lambda: U.to_categorical(np.array([0]), num_classes=2.5), "num_classes")
    add("to_categorical-num_classes-str", lambda: U.to_categorical(np.array([0]), num_classes="3"), "num_classes")
    add("to_categorical-float-labels", lambda: U.to_categorical(np.array([0.5, 1.0])), "`x`")
    add("to_categorical-str-labels", lambda: U.to_categorical(np.array(["a", "b"])), "`x`")
    add("to_categorical-nan", lambda: U.to_categorical(np.array([0.0, np.nan])), "`x`")
    add("normalize-order-bad", lambda: U.normalize(np.ones((2, 3)), order=0), "order")
    add("normalize-axis-out", lambda: U.normalize(np.ones((2, 3)), axis=5), "axis")
    # activations / initializers / regularizers
    add("activations.get-unknown", lambda: keras.activations.get("reluu"), "reluu|activation|identifier")
    add("initializers.get-unknown", lambda: keras.initializers.get("glorot"), "glorot|initializer|identifier")
    add("regularizers.L2-neg", lambda: keras.regularizers.L2(-0.1), "l2")
    add("regularizers.L1-nan", lambda: keras.regularizers.L1(float("nan")), "l1")
    add("regularizers.L2-str", lambda: keras.regularizers.L2("a"), "l2")
    add("constraints.MaxNorm-neg", lambda: keras.constraints.MaxNorm(-1.0), "max_value")
    add("initializers.RandomNormal-stddev-neg", lambda: keras.initializers.RandomNormal(stddev=-1.0), "stddev")
    add("initializers.RandomUniform-minmax", lambda: keras.initializers.RandomUniform(minval=1.0, maxval=0.0), "minval|maxval")
    add("initializers.VarianceScaling-scale-neg", lambda: keras.initializers.VarianceScaling(scale=-1.0), "scale")
    add("initializers.VarianceScaling-mode-bad", lambda: keras.initializers.VarianceScaling(mode="fan_x"), "mode")
    add("initializers.VarianceScaling-distribution-bad", lambda: keras.initializers.VarianceScaling(distribution="x"), "distribution")
    # callbacks
    add("EarlyStopping-patience-neg", lambda: keras.callbacks.EarlyStopping(patience=-1), "patience")
    add("EarlyStopping-mode-bad", lambda: keras.callbacks.EarlyStopping(mode="up"), "mode")
    add("ReduceLROnPlateau-factor-gt1", lambda: keras.callbacks.ReduceLROnPlateau(factor=1.5), "factor")
    add("LearningRateScheduler-schedule-int", lambda: keras.callbacks.LearningRateScheduler(3), "schedule")
    return C


CASES = {cid: (fn, arg) for cid, fn, arg in _cases()}

# Odd-looking values that Keras 3 also accepts, with the same meaning.
ACCEPTED = frozenset({
    'Add-single', 'BatchNormalization-axis-huge', 'Concatenate-single', 'Conv1D-filters-none',
    'Conv2D-call-training-str', 'Conv2D-filters-none', 'Conv2DTranspose-filters-none', 'Conv3D-filters-none',
    'Dropout-call-training-str', 'Dropout-rate-one', 'EarlyStopping-mode-bad', 'EarlyStopping-patience-neg',
    'Flatten-call-rank1', 'Input-shape-zero', 'Reshape-target_shape-int', 'compile-optimizer-class',
    'constraints.MaxNorm-neg', 'fit-initial_epoch-gt', 'initializers.RandomNormal-stddev-neg',
    'initializers.RandomUniform-minmax', 'to_categorical-num_classes-zero',
})

# Every other case raises ValueError, except these (a wrong type rather than a wrong value).
TYPE_ERRORS = frozenset({
    'AveragePooling2D-pool_size-bool', 'AveragePooling2D-pool_size-float', 'AveragePooling2D-pool_size-nan',
    'AveragePooling2D-strides-float', 'AveragePooling3D-pool_size-bool', 'AveragePooling3D-pool_size-float',
    'AveragePooling3D-pool_size-nan', 'AveragePooling3D-strides-float', 'BatchNormalization-axis-bool',
    'BatchNormalization-axis-float', 'BatchNormalization-axis-str', 'BatchNormalization-center-str',
    'BatchNormalization-scale-int', 'BinaryCrossentropy-from_logits-int', 'BinaryCrossentropy-from_logits-none',
    'BinaryCrossentropy-from_logits-str', 'CategoricalCrossentropy-from_logits-int',
    'CategoricalCrossentropy-from_logits-none', 'CategoricalCrossentropy-from_logits-str', 'Concatenate-axis-bool',
    'Concatenate-axis-float', 'Concatenate-axis-none', 'Concatenate-axis-str', 'Conv1D-activation-int',
    'Conv1D-activation-list', 'Conv1D-dilation_rate-bool', 'Conv1D-dilation_rate-float', 'Conv1D-dilation_rate-none',
    'Conv1D-kernel_size-bool', 'Conv1D-kernel_size-float', 'Conv1D-kernel_size-nan', 'Conv1D-kernel_size-none',
    'Conv1D-strides-bool', 'Conv1D-strides-float', 'Conv1D-strides-nan', 'Conv1D-strides-none',
    'Conv1D-use_bias-str', 'Conv2D-activation-int', 'Conv2D-activation-list', 'Conv2D-call-object-array',
    'Conv2D-call-str-array', 'Conv2D-dilation_rate-bool', 'Conv2D-dilation_rate-float', 'Conv2D-dilation_rate-none',
    'Conv2D-kernel_size-bool', 'Conv2D-kernel_size-float', 'Conv2D-kernel_size-nan', 'Conv2D-kernel_size-none',
    'Conv2D-strides-bool', 'Conv2D-strides-float', 'Conv2D-strides-nan', 'Conv2D-strides-none',
    'Conv2D-use_bias-str', 'Conv2DTranspose-activation-int', 'Conv2DTranspose-activation-list',
    'Conv2DTranspose-dilation_rate-bool', 'Conv2DTranspose-dilation_rate-float',
    'Conv2DTranspose-dilation_rate-none', 'Conv2DTranspose-kernel_size-bool', 'Conv2DTranspose-kernel_size-float',
    'Conv2DTranspose-kernel_size-nan', 'Conv2DTranspose-kernel_size-none', 'Conv2DTranspose-output_padding-float',
    'Conv2DTranspose-strides-bool', 'Conv2DTranspose-strides-float', 'Conv2DTranspose-strides-nan',
    'Conv2DTranspose-strides-none', 'Conv2DTranspose-use_bias-str', 'Conv3D-activation-int',
    'Conv3D-activation-list', 'Conv3D-dilation_rate-bool', 'Conv3D-dilation_rate-float', 'Conv3D-dilation_rate-none',
    'Conv3D-kernel_size-bool', 'Conv3D-kernel_size-float', 'Conv3D-kernel_size-nan', 'Conv3D-kernel_size-none',
    'Conv3D-strides-bool', 'Conv3D-strides-float', 'Conv3D-strides-nan', 'Conv3D-strides-none',
    'Conv3D-use_bias-str', 'Dense-activation-int', 'Dense-call-complex', 'Dense-call-none',
    'Dense-call-object-array', 'Dense-call-ragged', 'Dense-call-str', 'Dense-call-str-array', 'Dense-use_bias-str',
    'DepthwiseConv2D-activation-int', 'DepthwiseConv2D-activation-list', 'DepthwiseConv2D-dilation_rate-bool',
    'DepthwiseConv2D-dilation_rate-float', 'DepthwiseConv2D-dilation_rate-none', 'DepthwiseConv2D-strides-bool',
    'DepthwiseConv2D-strides-float', 'DepthwiseConv2D-strides-nan', 'DepthwiseConv2D-strides-none',
    'DepthwiseConv2D-use_bias-str', 'GlobalAveragePooling2D-keepdims-str', 'GlobalMaxPooling2D-keepdims-str',
    'Input-shape-str', 'LearningRateScheduler-schedule-int', 'MaxPooling1D-pool_size-bool',
    'MaxPooling1D-pool_size-float', 'MaxPooling1D-pool_size-nan', 'MaxPooling1D-strides-float',
    'MaxPooling2D-pool_size-bool', 'MaxPooling2D-pool_size-float', 'MaxPooling2D-pool_size-nan',
    'MaxPooling2D-strides-float', 'Reshape-target_shape-bool', 'Reshape-target_shape-float',
    'Reshape-target_shape-nan', 'Reshape-target_shape-none', 'Reshape-target_shape-str',
    'Resizing-crop_to_aspect_ratio-str', 'SeparableConv2D-kernel_size-bool', 'SeparableConv2D-kernel_size-float',
    'SeparableConv2D-kernel_size-nan', 'SeparableConv2D-kernel_size-none', 'Sequential-add-int',
    'Sequential-layers-int-item', 'Sequential-layers-str', 'SparseCategoricalCrossentropy-from_logits-int',
    'SparseCategoricalCrossentropy-from_logits-none', 'SparseCategoricalCrossentropy-from_logits-str',
    'UpSampling2D-size-bool', 'UpSampling2D-size-float', 'UpSampling2D-size-none', 'fit-callbacks-func',
    'fit-callbacks-int', 'fit-callbacks-str', 'fit-validation_data-int', 'fit-x-object', 'fit-x-str', 'fit-y-str',
    'loss-call-str', 'ops.clip-str', 'ops.one_hot-float-classes', 'ops.sum-axis-float', 'ops.sum-axis-str',
    'ops.zeros-float-shape', 'predict-x-str',
})
# A flag of the wrong type (utils.check_flag) is a TypeError, for optimizers as for layers and losses.
TYPE_ERRORS |= {f"{cls}-amsgrad-str" for cls in ("Adam", "AdamW")} | {"SGD-nesterov-str"}


REFUSED = [cid for cid in CASES if cid not in ACCEPTED]


def test_the_table_is_large_and_consistent():
    assert len(REFUSED) >= 200
    assert ACCEPTED <= CASES.keys() and TYPE_ERRORS <= set(REFUSED)


@pytest.mark.parametrize("cid", REFUSED)
def test_hostile_input_is_refused_with_a_message_naming_the_argument(cid):
    fn, argument = CASES[cid]
    expected = TypeError if cid in TYPE_ERRORS else ValueError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(expected) as error:
            fn()
    assert re.search(argument, str(error.value)), (argument, str(error.value))


@pytest.mark.parametrize("cid", sorted(ACCEPTED))
def test_values_keras_accepts_are_accepted(cid):
    fn, _ = CASES[cid]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()


def test_numpy_scalars_and_0_or_1_flags_are_accepted_as_keras_accepts_them(tmp_path):
    """Keras converts integer arguments with int() and reads flags as truth values: NumPy integers and
    floats, and 0 or 1 for a flag, are valid arguments, stored as Python values (a model file is JSON)."""
    conv = keras.layers.Conv2D(np.int64(4), (np.int64(3), 3), strides=np.int32(1), use_bias=1)
    assert (conv.filters, conv.kernel_size, conv.strides, conv.use_bias) == (4, (3, 3), (1, 1), True)
    assert type(conv.filters) is int and all(type(k) is int for k in conv.kernel_size)
    assert keras.layers.Dropout(np.float32(0.5)).rate == 0.5
    assert keras.layers.BatchNormalization(axis=np.int64(-1), center=np.bool_(False)).center is False
    assert keras.losses.BinaryCrossentropy(from_logits=0).from_logits is False
    model = keras.Sequential([keras.layers.Input(shape=(np.int64(3),)), keras.layers.Dense(np.int64(2))])
    assert model.input_shape == (None, 3) and type(model.input_shape[1]) is int
    model.save(tmp_path / "numpy_sizes.clearconv")  # JSON-ready: no NumPy integers left in the config


@pytest.mark.parametrize("low,high", [(None, 1.0), (0.0, None)])
def test_clip_with_one_open_side_matches_numpy(low, high):
    x = np.array([-2.0, 0.5, 5.0], dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.clip(x, low, high)), np.clip(x, low, high))
