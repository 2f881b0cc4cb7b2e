"""The tutorials' Conv + BatchNormalization folding check (docs/explain.md), traced before and after
fold_batchnorm(): both traces give the model's own output, and the folded kernel and bias are the conv's
scaled by the batch-norm's per-channel scale, as the folding formula says."""

import numpy as np

import clearconv as keras
from clearconv import layers as L
from clearconv.explain import trace


def test_conv_and_batch_norm_traced_before_and_after_folding():
    rng = np.random.default_rng(0)
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, L.BatchNormalization(name="bn")(L.Conv2D(8, 3, padding="same", name="conv")(inputs)))
    gamma, beta, mean = (rng.normal(size=8).astype("float32") for _ in range(3))
    variance = rng.uniform(0.5, 2.0, 8).astype("float32")
    model.get_layer("bn").set_weights([gamma, beta, mean, variance])
    x = rng.random((1, 64, 64, 3)).astype("float32")
    folded = model.fold_batchnorm()
    assert [type(layer).__name__ for layer in folded.layers] == ["InputLayer", "Conv2D"]

    index = (10, 20, 3)
    conv, bn = trace(model, x, "conv", index), trace(model, x, "bn", index)
    after = trace(folded, x, folded.layers[-1], index)
    assert bn.value == np.asarray(model.predict(x, verbose=0))[(0, *index)]
    assert after.value == np.asarray(folded.predict(x, verbose=0))[(0, *index)]
    assert np.isclose(after.value, bn.value, rtol=1e-5, atol=1e-6)

    # the folding formula, from the batch-norm's weights: scale = gamma / sqrt(var + eps), shift = beta - mean * scale
    scale = gamma[3] / np.sqrt(np.float64(variance[3]) + model.get_layer("bn").epsilon)
    np.testing.assert_allclose(after.kernel, conv.kernel * scale, rtol=1e-6)
    assert np.isclose(after.bias, (conv.bias - mean[3]) * scale + beta[3], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(after.patch, conv.patch)      # the same input window, padding included
    assert np.isclose(after.pre_activation, conv.pre_activation * scale + (beta[3] - mean[3] * scale), rtol=1e-5)
