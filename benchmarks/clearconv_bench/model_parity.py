"""Do a zoo model and its PyTorch twin compute the same thing? Checked before any whole-model row is timed.

On one batch, from the same weights (dropout off on both sides, so both
draw nothing):

- **forward** (inference mode, moving statistics): clearconv's ``predict``
  and each timed PyTorch twin (every memory format) against the twin run in
  float64, the exact result here;
- **one training step** (Adam, lr 1e-3): the loss and every trainable
  weight's gradient, clearconv and each float32 twin against the float64
  twin; and clearconv's weights after the step against Keras's Adam update
  (``w - lr sqrt(1 - b2) / (1 - b1) m / (sqrt(v) + eps)`` at step 1, the
  formula clearconv and Keras state) applied to the float64 gradients.

Bounds, each justified:

- a float32 forward through L layers with weights carries at most L times
  one layer's float32 bound (``parity.tolerance`` of "auto", whose
  TORCH_ROUNDING_FACTOR of 2 covers PyTorch's float32 side): errors of
  successive layers add to first order, the later layers being normalized
  (BatchNormalization) or bounded (softmax, sigmoid);
- gradients and the loss: a whole network's float32 gradient sums tens of
  thousands of terms per channel (BatchNormalization's reductions over
  N x H x W), with cancellation. PyTorch's own float32 gradient misses the
  float64 one by up to a few 1e-2 of the largest value on small_vgg, so
  clearconv must be at least as close as TORCH_ROUNDING_FACTOR times the
  worse float32 twin, and never needs to be closer than the forward's bound.
  The float32 twins themselves must stay within TWIN_GRADIENT_LIMIT: a wrong
  padding, layout or flatten order misses by far more (order 1);
- weights after the step: Adam's first update ``lr g / (|g| + e)`` (``e`` =
  eps / sqrt(1 - b2), Keras's convention) moves by at most
  ``lr |dg| / (min(|g|, |g'|) + e)`` when the gradient moves from g to g' of
  the same sign, by at most ``lr |dg| / e`` when the sign differs; the
  measured gradient difference ``dg`` thus bounds each element's update
  difference, plus the float32 rounding of the weight and of the update
  (4 and 8 float32 epsilons of their magnitudes). The worst
  element's difference divided by its bound is reported; above 1 fails.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from clearconv import optimizers, utils

from .model_twins import copy_weights, from_channels_first, make_twin, paired_parameters
from .parity import relative_error, tolerance
from .trainers import ADAM_EPSILON, LEARNING_RATE, TorchTrainer

TORCH_ROUNDING_FACTOR = 2
TWIN_GRADIENT_LIMIT = 0.1
BETA_1, BETA_2 = 0.9, 0.999
FLOAT32_EPSILON = float(np.finfo(np.float32).eps)


def without_dropout(model) -> None:
    """Dropout rates set to 0 in a clearconv model or a PyTorch module (parity draws no mask)."""
    if isinstance(model, torch.nn.Module):
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0


def keras_adam_first_update(weight: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """The weight after Adam's first step, Keras's formula in float64 (m = (1-b1) g, v = (1-b2) g^2)."""
    m, v = (1 - BETA_1) * gradient, (1 - BETA_2) * gradient ** 2
    alpha = LEARNING_RATE * math.sqrt(1 - BETA_2) / (1 - BETA_1)
    return weight - alpha * m / (np.sqrt(v) + ADAM_EPSILON)


def update_bound_ratio(before, after, reference_after, gradient, reference_gradient) -> float:
    """Worst |after - reference_after| / its bound (module docstring) over the elements; <= 1 passes."""
    e = ADAM_EPSILON / math.sqrt(1 - BETA_2)
    g, r = gradient.astype(np.float64), reference_gradient.astype(np.float64)
    dg = np.abs(g - r)
    same_sign = np.sign(g) == np.sign(r)
    smaller = np.minimum(np.abs(g), np.abs(r))
    bound = LEARNING_RATE * np.minimum(2.0, np.where(same_sign, dg / (smaller + e), dg / e))
    bound = (bound + 4 * FLOAT32_EPSILON * np.maximum(np.abs(before), np.abs(reference_after))
             + 8 * FLOAT32_EPSILON * np.abs(reference_after - before))
    difference = np.abs(after.astype(np.float64) - reference_after)
    ratios = np.divide(difference, bound, out=np.zeros_like(difference), where=difference > 0)
    return float(np.max(ratios))


def _torch_output(module, images) -> np.ndarray:
    module.eval()
    with torch.no_grad():
        out = module.predict(images).double().numpy()
    module.train()
    return from_channels_first(out) if out.ndim > 2 else out


def check(spec, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Forward and one training step of ``spec``'s model against its twins on the batch ``x``, ``y``.

    ``spec``: a :class:`.whole_models.ModelSpec`. Returns every error, its bound and ``ok``.
    """
    utils.set_seed(seed)
    model = spec.make_model()
    without_dropout(model)
    model.compile(optimizer=optimizers.Adam(LEARNING_RATE), loss=spec.loss)
    depth = sum(1 for layer in model.layers if layer.weights and type(layer).__name__ != "BatchNormalization")
    forward_bound = depth * tolerance("auto", spec.rank)

    def twin_trainer(dtype, memory_format_name):
        module = make_twin(spec.name)
        copy_weights(model, module)
        without_dropout(module)
        trainer = TorchTrainer(x, y, module.to(dtype), spec.loss, len(x), seed, memory_format_name)
        trainer.images = trainer.images.to(dtype)
        if trainer.labels.is_floating_point():
            trainer.labels = trainer.labels.to(dtype)
        return trainer

    exact = twin_trainer(torch.float64, "contiguous")
    twins = {name: twin_trainer(torch.float32, name) for name in spec.torch_formats}
    reference = _torch_output(exact.model, exact.images)
    ours = model.predict(x, batch_size=len(x), verbose=0)
    forward = {"clearconv": relative_error(ours, reference)}
    forward.update({f"torch:{name}": relative_error(_torch_output(t.model, t.images), reference)
                    for name, t in twins.items()})

    pairs = paired_parameters(model, exact.model)
    before = [variable.data.astype(np.float64) for variable, _, _ in pairs]
    loss_ours = float(model.train_on_batch(x, y))
    loss_exact = exact.step(exact.images, exact.labels).item()
    reference_grads = [to_keras(parameter.grad.numpy()) for _, parameter, to_keras in pairs]
    grad_ours = max(relative_error(variable.grad, g) for (variable, _, _), g in zip(pairs, reference_grads))
    loss_errors = {"clearconv": abs(loss_ours - loss_exact) / abs(loss_exact)}
    grad_errors = {"clearconv": grad_ours}
    for name, trainer in twins.items():
        loss = trainer.step(trainer.images, trainer.labels).item()
        loss_errors[f"torch:{name}"] = abs(loss - loss_exact) / abs(loss_exact)
        theirs = paired_parameters(model, trainer.model)
        grad_errors[f"torch:{name}"] = max(relative_error(to_keras(parameter.grad.numpy()), g)
                                           for (_, parameter, to_keras), g in zip(theirs, reference_grads))
    update = max(update_bound_ratio(b, variable.data, keras_adam_first_update(b, g), variable.grad, g)
                 for (variable, _, _), b, g in zip(pairs, before, reference_grads))

    torch_names = [f"torch:{name}" for name in spec.torch_formats]

    def step_bound(errors):
        return max(forward_bound, TORCH_ROUNDING_FACTOR * max(errors[name] for name in torch_names))

    result = {"forward": forward, "forward_bound": forward_bound, "loss": loss_errors,
              "loss_bound": step_bound(loss_errors), "gradients": grad_errors,
              "gradient_bound": step_bound(grad_errors), "twin_gradient_limit": TWIN_GRADIENT_LIMIT,
              "update_bound_ratio": update}
    failures = [f"forward {name} {error:.1e} > {forward_bound:.1e}" for name, error in forward.items()
                if not error <= forward_bound]
    if not loss_errors["clearconv"] <= result["loss_bound"]:
        failures.append(f"loss {loss_errors['clearconv']:.1e} > {result['loss_bound']:.1e}")
    if not grad_errors["clearconv"] <= result["gradient_bound"]:
        failures.append(f"gradients {grad_errors['clearconv']:.1e} > {result['gradient_bound']:.1e}")
    failures += [f"gradients {name} {grad_errors[name]:.1e} > {TWIN_GRADIENT_LIMIT:g}" for name in torch_names
                 if not grad_errors[name] <= TWIN_GRADIENT_LIMIT]
    if not update <= 1.0:
        failures.append(f"weights after one Adam step: {update:.2f}x their bound")
    result.update(failures=failures, ok=not failures)
    return result


def summary_text(name: str, result: dict) -> str:
    """One line: the errors of clearconv (and the twins' worst) against the float64 twin, and the bounds."""
    twin = [key for key in result["forward"] if key != "clearconv"]
    return (f"{name}: forward {result['forward']['clearconv']:.1e} (twins "
            f"{max(result['forward'][k] for k in twin):.1e}; <= {result['forward_bound']:.1e}), loss "
            f"{result['loss']['clearconv']:.1e} (<= {result['loss_bound']:.1e}), gradients "
            f"{result['gradients']['clearconv']:.1e} (twins {max(result['gradients'][k] for k in twin):.1e}; "
            f"<= {result['gradient_bound']:.1e}), weights after one Adam step {result['update_bound_ratio']:.2f}x "
            f"their bound" + ("" if result["ok"] else " PARITY MISMATCH: " + "; ".join(result["failures"])))
