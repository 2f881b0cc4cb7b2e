"""clearconv.optimizers: Keras 3 update rules, checked three ways.

1. Against a NumPy transcription of each Keras ``update_step``
   (keras/src/optimizers/*.py), written here without reusing clearconv code.
2. Against torch.optim, step for step, on random float64 quadratic problems
   (gradient = a*(w - c) + fresh noise each step, two variables of different
   shapes). Where the two frameworks agree mathematically the tolerance is
   1e-12; where Keras differs (epsilon placement, Nadam's momentum schedule)
   the test either maps torch's argument onto Keras's formula exactly, or
   bounds the difference by the epsilon term alone and shows it is non-zero.
3. Hand values: clipping, weight decay, schedules, constraints, state resume.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings

import numpy as np
import pytest

from clearconv import Variable
from clearconv import constraints
from clearconv import optimizers as O

try:
    import torch
except ImportError:  # the torch comparisons skip, the other tests run
    torch = None

requires_torch = pytest.mark.skipif(
    torch is None, reason="PyTorch is not installed: torch.optim comparisons skipped "
                          "(pip install 'clearconv[test]' to run them)")

STEPS = 6
EXACT = 1e-12  # float64 agreement of two evaluations of the same formula


# ----------------------------------------------------------------------------
# Problems and runners
# ----------------------------------------------------------------------------

class Quadratic:
    """loss = sum 0.5 * a * (w - c)^2 over two variables, plus fresh noise in each step's gradient.

    coupled=False drops the curvature: gradients are then pure random draws, independent
    of the weights, with |g| in [0.5, 1.5] (used where a bound needs v away from 0).
    """

    shapes = ((3, 4), (5,))

    def __init__(self, seed: int, coupled: bool = True):
        rng = np.random.default_rng(seed)
        self.start = [rng.normal(size=s) for s in self.shapes]
        self.curvature = [rng.uniform(0.5, 2.0, size=s) * coupled for s in self.shapes]
        self.center = [rng.normal(size=s) for s in self.shapes]
        if coupled:
            self.noise = [[rng.normal(scale=0.3, size=s) for s in self.shapes] for _ in range(STEPS)]
        else:
            self.noise = [[rng.choice([-1.0, 1.0], size=s) * rng.uniform(0.5, 1.5, size=s) for s in self.shapes]
                          for _ in range(STEPS)]

    def gradients(self, step: int, weights):
        return [a * (w - c) + n for a, w, c, n in zip(self.curvature, weights, self.center, self.noise[step])]


def run_clearconv(optimizer, problem, steps=STEPS, dtype=np.float64):
    """Weights after each step: a list (steps) of lists (variables) of arrays."""
    variables = [Variable(w.astype(dtype), name=f"w{i}") for i, w in enumerate(problem.start)]
    trajectory = []
    for step in range(steps):
        for variable, g in zip(variables, problem.gradients(step, [v.data for v in variables])):
            variable.grad = g
        optimizer.step(variables)
        trajectory.append([v.data.copy() for v in variables])
    return trajectory


def run_reference(make_update, problem, steps=STEPS):
    """Same as run_clearconv for a transcription ``update(w, g, state, t) -> new w`` (t from 1)."""
    weights = [w.copy() for w in problem.start]
    updates = [make_update() for _ in weights]
    trajectory = []
    for step in range(steps):
        grads = problem.gradients(step, weights)
        weights = [update(w, g, step + 1) for update, w, g in zip(updates, weights, grads)]
        trajectory.append([w.copy() for w in weights])
    return trajectory


def run_torch(make_optimizer, problem, steps=STEPS, before_step=None):
    params = [torch.tensor(w.copy(), requires_grad=True) for w in problem.start]
    optimizer = make_optimizer(params)
    trajectory = []
    for step in range(steps):
        grads = problem.gradients(step, [p.detach().numpy() for p in params])
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        if before_step is not None:
            before_step(optimizer, step + 1)
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


def max_difference(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for xs, ys in zip(a, b) for x, y in zip(xs, ys))


def assert_same_trajectory(actual, expected, tolerance=EXACT, context=""):
    """Every step, every variable: |actual - expected| <= tolerance * max(1, |expected|)."""
    for step, (xs, ys) in enumerate(zip(actual, expected)):
        for index, (x, y) in enumerate(zip(xs, ys)):
            bound = tolerance * max(1.0, float(np.max(np.abs(y))))
            error = float(np.max(np.abs(x - y)))
            assert error <= bound, f"{context}: step {step + 1}, variable {index}: max error {error:.3e} > {bound:.3e}"


# ----------------------------------------------------------------------------
# NumPy transcriptions of Keras's update_step (one state per variable)
# ----------------------------------------------------------------------------

def keras_sgd(lr, momentum=0.0, nesterov=False):
    def make():
        state = {}

        def update(w, g, t):
            if momentum == 0:
                return w - g * lr
            m = state.get("m", np.zeros_like(w)) * momentum - g * lr
            state["m"] = m
            return w + (m * momentum - g * lr if nesterov else m)
        return update
    return make


def keras_rmsprop(lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def make():
        state = {}

        def update(w, g, t):
            v = rho * state.get("v", np.zeros_like(w)) + (1 - rho) * g ** 2
            state["v"] = v
            if centered:
                a = rho * state.get("a", np.zeros_like(w)) + (1 - rho) * g
                state["a"] = a
                denominator = v - a ** 2 + epsilon
            else:
                denominator = v + epsilon
            increment = lr * g / np.sqrt(denominator)
            if momentum > 0:
                state["b"] = momentum * state.get("b", np.zeros_like(w)) + increment
                return w - state["b"]
            return w - increment
        return update
    return make


def keras_adagrad(lr, initial_accumulator_value=0.1, epsilon=1e-7):
    def make():
        state = {}

        def update(w, g, t):
            state["acc"] = state.get("acc", np.full_like(w, initial_accumulator_value)) + g ** 2
            return w - lr * g / np.sqrt(state["acc"] + epsilon)
        return update
    return make


def keras_adadelta(lr, rho=0.95, epsilon=1e-7):
    def make():
        state = {}

        def update(w, g, t):
            eg = rho * state.get("eg", np.zeros_like(w)) + (1 - rho) * g ** 2
            edx = state.get("edx", np.zeros_like(w))
            delta = -np.sqrt(edx + epsilon) * g / np.sqrt(eg + epsilon)
            state["eg"], state["edx"] = eg, rho * edx + (1 - rho) * delta ** 2
            return w + lr * delta
        return update
    return make


def keras_adam(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None, record=None):
    """record: an optional list receiving (m, v_used, g, t) after each update of the first variable."""
    def make():
        state = {}

        def update(w, g, t):
            if weight_decay is not None:
                w = w - w * weight_decay * lr
            alpha = lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            m = state.get("m", np.zeros_like(w)) + (g - state.get("m", np.zeros_like(w))) * (1 - beta_1)
            v = state.get("v", np.zeros_like(w)) + (g ** 2 - state.get("v", np.zeros_like(w))) * (1 - beta_2)
            state["m"], state["v"] = m, v
            if amsgrad:
                v = state["v_hat"] = np.maximum(state.get("v_hat", np.zeros_like(w)), v)
            if record is not None:
                record.append((m, v, g, t))
            return w - m * alpha / (np.sqrt(v) + epsilon)
        return update
    return make


def keras_nadam(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def make():
        state = {"u_product": 1.0}

        def update(w, g, t):
            u_t = beta_1 * (1 - 0.5 * 0.96 ** t)
            u_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
            state["u_product"] *= u_t
            u_product, u_product_next = state["u_product"], state["u_product"] * u_next
            m = state.get("m", np.zeros_like(w))
            v = state.get("v", np.zeros_like(w))
            m = m + (g - m) * (1 - beta_1)
            v = v + (g ** 2 - v) * (1 - beta_2)
            state["m"], state["v"] = m, v
            m_hat = u_next * m / (1 - u_product_next) + (1 - u_t) * g / (1 - u_product)
            v_hat = v / (1 - beta_2 ** t)
            return w - m_hat * lr / (np.sqrt(v_hat) + epsilon)
        return update
    return make


# ----------------------------------------------------------------------------
# 1. clearconv == Keras transcription
# ----------------------------------------------------------------------------

KERAS_CASES = [
    ("sgd", lambda: O.SGD(0.1), keras_sgd(0.1)),
    ("sgd-momentum", lambda: O.SGD(0.1, momentum=0.9), keras_sgd(0.1, 0.9)),
    ("sgd-nesterov", lambda: O.SGD(0.05, momentum=0.7, nesterov=True), keras_sgd(0.05, 0.7, True)),
    ("rmsprop", lambda: O.RMSprop(0.01), keras_rmsprop(0.01)),
    ("rmsprop-momentum", lambda: O.RMSprop(0.01, momentum=0.8), keras_rmsprop(0.01, momentum=0.8)),
    ("rmsprop-centered", lambda: O.RMSprop(0.01, rho=0.8, centered=True), keras_rmsprop(0.01, 0.8, centered=True)),
    ("rmsprop-centered-momentum", lambda: O.RMSprop(0.01, momentum=0.5, epsilon=1e-3, centered=True),
     keras_rmsprop(0.01, momentum=0.5, epsilon=1e-3, centered=True)),
    ("adagrad", lambda: O.Adagrad(0.1), keras_adagrad(0.1)),
    ("adagrad-acc0.5", lambda: O.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-3),
     keras_adagrad(0.1, 0.5, 1e-3)),
    ("adadelta", lambda: O.Adadelta(1.0), keras_adadelta(1.0)),
    ("adadelta-default", lambda: O.Adadelta(), keras_adadelta(0.001)),
    ("adam", lambda: O.Adam(0.01), keras_adam(0.01)),
    ("adam-eps1e-3", lambda: O.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
     keras_adam(0.01, 0.8, 0.99, 1e-3)),
    ("adam-amsgrad", lambda: O.Adam(0.01, amsgrad=True), keras_adam(0.01, amsgrad=True)),
    ("adamw", lambda: O.AdamW(0.01, weight_decay=0.1), keras_adam(0.01, weight_decay=0.1)),
    ("nadam", lambda: O.Nadam(0.01), keras_nadam(0.01)),
    ("nadam-eps1e-3", lambda: O.Nadam(0.02, beta_1=0.8, epsilon=1e-3), keras_nadam(0.02, 0.8, epsilon=1e-3)),
]


@pytest.mark.parametrize("label, make_optimizer, keras_update", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_matches_keras_transcription(label, make_optimizer, keras_update):
    problem = Quadratic(seed=1)
    assert_same_trajectory(run_clearconv(make_optimizer(), problem), run_reference(keras_update, problem),
                           context=label)


# ----------------------------------------------------------------------------
# 2. clearconv vs torch.optim
# ----------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.6, True)])
@pytest.mark.parametrize("seed", [0, 1])
def test_sgd_matches_torch(momentum, nesterov, seed):
    problem = Quadratic(seed)
    ours = run_clearconv(O.SGD(0.05, momentum=momentum, nesterov=nesterov), problem)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.05, momentum=momentum, nesterov=nesterov), problem)
    assert_same_trajectory(ours, theirs, context=f"SGD momentum={momentum} nesterov={nesterov} seed={seed}")


@requires_torch
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_velocity_is_minus_lr_times_torch_buffer(nesterov):
    """Keras m = mom*m - lr*g, torch b = mom*b + g: by induction m = -lr*b for a constant lr."""
    lr, momentum = 0.05, 0.9
    problem = Quadratic(3)
    optimizer = O.SGD(lr, momentum=momentum, nesterov=nesterov)
    run_clearconv(optimizer, problem)
    params = [torch.tensor(w.copy(), requires_grad=True) for w in problem.start]
    torch_opt = torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov)
    for step in range(STEPS):
        for p, g in zip(params, problem.gradients(step, [p.detach().numpy() for p in params])):
            p.grad = torch.from_numpy(g.copy())
        torch_opt.step()
    state = optimizer.get_state()
    for index, p in enumerate(params):
        buffer = torch_opt.state[p]["momentum_buffer"].numpy()
        np.testing.assert_allclose(state[f"sgd/momentum/{index}"], -lr * buffer, rtol=0, atol=EXACT)


@requires_torch
def test_sgd_momentum_with_changing_lr_follows_keras_not_torch():
    """With a schedule the two momentum forms part: Keras's velocity keeps the old rates."""
    problem = Quadratic(4)
    schedule = O.PiecewiseConstantDecay([1, 3], [0.1, 0.03, 0.01])  # lr at iterations 0..5
    ours = run_clearconv(O.SGD(schedule, momentum=0.9), problem)
    keras = run_reference(_scheduled_keras_sgd(schedule, 0.9), problem)
    assert_same_trajectory(ours, keras, context="SGD momentum with schedule vs Keras")

    def set_lr(optimizer, t):
        optimizer.param_groups[0]["lr"] = schedule(t - 1)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), problem, before_step=set_lr)
    assert max_difference(ours, theirs) > 1e-4  # a real, documented difference


def _scheduled_keras_sgd(schedule, momentum):
    def make():
        state = {}

        def update(w, g, t):
            lr = schedule(t - 1)
            state["m"] = state.get("m", np.zeros_like(w)) * momentum - g * lr
            return w + state["m"]
        return update
    return make


def _keras_adam_eps_in_torch_units(epsilon, beta_2):
    """Keras's w -= lr/(1-b1^t) * m * sqrt(1-b2^t)/(sqrt(v) + eps) is torch's step with
    eps_torch = eps/sqrt(1-b2^t) (divide numerator and denominator by sqrt(1-b2^t))."""
    def before_step(optimizer, t):
        optimizer.param_groups[0]["eps"] = epsilon / math.sqrt(1 - beta_2 ** t)
    return before_step


@requires_torch
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("epsilon, beta_1, beta_2", [(1e-7, 0.9, 0.999), (1e-2, 0.8, 0.99)])
def test_adam_matches_torch_with_epsilon_mapped(amsgrad, epsilon, beta_1, beta_2):
    problem = Quadratic(5)
    ours = run_clearconv(O.Adam(0.01, beta_1, beta_2, epsilon, amsgrad), problem)
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=0.01, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad),
                       problem, before_step=_keras_adam_eps_in_torch_units(epsilon, beta_2))
    assert_same_trajectory(ours, theirs, context=f"Adam eps={epsilon} amsgrad={amsgrad} (eps mapped)")


@requires_torch
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_torch_with_zero_epsilon(amsgrad):
    problem = Quadratic(6)
    ours = run_clearconv(O.Adam(0.01, epsilon=0.0, amsgrad=amsgrad), problem)
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0, amsgrad=amsgrad), problem)
    assert_same_trajectory(ours, theirs, context=f"Adam eps=0 amsgrad={amsgrad}")


@requires_torch
def test_adam_same_epsilon_differs_from_torch_only_by_the_epsilon_term():
    """Same eps in both: per element and step the updates differ by
    lr/(1-b1^t) * |m| * c * eps*(1-c) / ((s+eps)(s+eps*c)) <= lr/(1-b1^t) * |m| * c * eps / s^2,
    with s = sqrt(v), c = sqrt(1-b2^t). With gradients independent of w (coupled=False) m and v are
    the same in both runs, so the weights differ by at most the sum of these bounds."""
    lr, epsilon, beta_1, beta_2 = 0.01, 1e-7, 0.9, 0.999
    problem = Quadratic(7, coupled=False)
    record = []
    keras = run_reference(keras_adam(lr, beta_1, beta_2, epsilon, record=record), problem)
    ours = run_clearconv(O.Adam(lr, beta_1, beta_2, epsilon), problem)
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=lr, betas=(beta_1, beta_2), eps=epsilon), problem)
    assert_same_trajectory(ours, keras, context="Adam vs Keras transcription")
    bound = sum(lr / (1 - beta_1 ** t) * np.abs(m) * math.sqrt(1 - beta_2 ** t) * epsilon / v
                for m, v, _, t in record if m.shape == Quadratic.shapes[0])
    difference = np.abs(ours[-1][0] - theirs[-1][0])
    assert np.all(difference <= bound * (1 + 1e-6) + 1e-15)
    assert difference.max() > 1e-10  # the epsilon placement is really Keras's


@requires_torch
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.004, 0.1])
def test_adamw_matches_torch(amsgrad, weight_decay):
    """Both decay w *= (1 - lr*wd) before the Adam step (decoupled); eps mapped as for Adam."""
    problem = Quadratic(8)
    ours = run_clearconv(O.AdamW(0.01, weight_decay=weight_decay, amsgrad=amsgrad), problem)
    theirs = run_torch(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=weight_decay, eps=1e-7, amsgrad=amsgrad),
                       problem, before_step=_keras_adam_eps_in_torch_units(1e-7, 0.999))
    assert_same_trajectory(ours, theirs, context=f"AdamW wd={weight_decay} amsgrad={amsgrad}")


RMSPROP_CONFIGS = [dict(), dict(momentum=0.8), dict(centered=True), dict(centered=True, momentum=0.5)]


@requires_torch
@pytest.mark.parametrize("config", RMSPROP_CONFIGS, ids=str)
def test_rmsprop_matches_torch_with_zero_epsilon(config):
    """Keras sqrt(v + eps) and torch sqrt(v) + eps coincide at eps = 0; rho is torch's alpha;
    Keras's buffer b = mom*b + lr*g/d is lr times torch's (constant lr)."""
    problem = Quadratic(9)
    ours = run_clearconv(O.RMSprop(0.01, rho=0.85, epsilon=0.0, **config), problem)
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.85, eps=0.0, **config), problem)
    assert_same_trajectory(ours, theirs, context=f"RMSprop eps=0 {config}")


def _epsilon_placement_bound(lr, record, epsilon):
    """|lr*g/sqrt(v+eps) - lr*g/(sqrt(v)+eps)| <= lr*|g|*max(eps/(2 v^1.5), eps/v), summed over steps:
    both lie below lr*|g|/sqrt(v), by at most eps/(2 v^1.5) (mean value theorem) and eps/v resp."""
    return sum(lr * np.abs(g) * np.maximum(epsilon / (2 * v ** 1.5), epsilon / v) for v, g in record)


@requires_torch
def test_rmsprop_same_epsilon_differs_from_torch_only_by_the_epsilon_term():
    lr, rho, epsilon = 0.01, 0.9, 1e-7
    problem = Quadratic(10, coupled=False)
    ours = run_clearconv(O.RMSprop(lr, rho=rho, epsilon=epsilon), problem)
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, lr=lr, alpha=rho, eps=epsilon), problem)
    v, record = np.zeros(Quadratic.shapes[0]), []
    for step in range(STEPS):
        g = problem.noise[step][0]
        v = rho * v + (1 - rho) * g ** 2
        record.append((v, g))
    difference = np.abs(ours[-1][0] - theirs[-1][0])
    assert np.all(difference <= _epsilon_placement_bound(lr, record, epsilon) * (1 + 1e-6) + 1e-15)
    assert difference.max() > 1e-12


@requires_torch
@pytest.mark.parametrize("initial_accumulator_value", [0.1, 0.0, 0.7])
def test_adagrad_matches_torch_with_zero_epsilon(initial_accumulator_value):
    problem = Quadratic(11)
    ours = run_clearconv(O.Adagrad(0.1, initial_accumulator_value, epsilon=0.0), problem)
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=initial_accumulator_value,
                                                     eps=0.0), problem)
    assert_same_trajectory(ours, theirs, context=f"Adagrad acc0={initial_accumulator_value} eps=0")


@requires_torch
def test_adagrad_same_epsilon_differs_from_torch_only_by_the_epsilon_term():
    lr, epsilon = 0.1, 1e-7
    problem = Quadratic(12, coupled=False)
    ours = run_clearconv(O.Adagrad(lr, 0.1, epsilon), problem)
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=lr, initial_accumulator_value=0.1, eps=epsilon), problem)
    accumulator, record = np.full(Quadratic.shapes[0], 0.1), []
    for step in range(STEPS):
        g = problem.noise[step][0]
        accumulator = accumulator + g ** 2
        record.append((accumulator, g))
    difference = np.abs(ours[-1][0] - theirs[-1][0])
    assert np.all(difference <= _epsilon_placement_bound(lr, record, epsilon) * (1 + 1e-6) + 1e-15)
    assert difference.max() > 1e-12


@requires_torch
@pytest.mark.parametrize("lr, rho, epsilon", [(1.0, 0.95, 1e-7), (0.3, 0.9, 1e-6), (0.001, 0.95, 1e-7)])
def test_adadelta_matches_torch(lr, rho, epsilon):
    """Same formula in both (eps inside both square roots); only the default lr differs (0.001 vs 1.0)."""
    problem = Quadratic(13)
    ours = run_clearconv(O.Adadelta(lr, rho, epsilon), problem)
    theirs = run_torch(lambda p: torch.optim.Adadelta(p, lr=lr, rho=rho, eps=epsilon), problem)
    assert_same_trajectory(ours, theirs, context=f"Adadelta lr={lr} rho={rho} eps={epsilon}")


@contextlib.contextmanager
def _torch_default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@requires_torch
@pytest.mark.parametrize("epsilon", [1e-7, 1e-3])
def test_nadam_matches_torch_with_keras_momentum_schedule(epsilon):
    """Keras's u_t = b1*(1 - 0.5*0.96^t) is torch's with momentum_decay=1.0; torch keeps its
    momentum product in the default dtype, so float64 is set for the comparison."""
    problem = Quadratic(14)
    ours = run_clearconv(O.Nadam(0.01, epsilon=epsilon), problem)
    with _torch_default_dtype(torch.float64):
        theirs = run_torch(lambda p: torch.optim.NAdam(p, lr=0.01, eps=epsilon, momentum_decay=1.0), problem)
    assert_same_trajectory(ours, theirs, context=f"Nadam eps={epsilon} vs NAdam(momentum_decay=1)")


@requires_torch
def test_nadam_differs_from_torch_default_momentum_decay():
    """torch.optim.NAdam's default momentum_decay=0.004 uses 0.96^(0.004 t): a different method."""
    problem = Quadratic(15)
    ours = run_clearconv(O.Nadam(0.01), problem)
    with _torch_default_dtype(torch.float64):
        theirs = run_torch(lambda p: torch.optim.NAdam(p, lr=0.01, eps=1e-7), problem)
    assert max_difference(ours, theirs) > 1e-4


# ----------------------------------------------------------------------------
# 3. Base-class semantics: weight decay, clipping, constraints
# ----------------------------------------------------------------------------

def _one_step(optimizer, weights, grads):
    variables = [Variable(np.array(w, dtype=np.float64), name=f"v{i}") for i, w in enumerate(weights)]
    optimizer.apply(grads=[np.array(g, dtype=np.float64) for g in grads], variables=variables)
    return [v.data for v in variables]


def test_weight_decay_is_decoupled_and_uses_current_lr():
    w, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0])
    (result,) = _one_step(O.SGD(0.1, weight_decay=0.2), [w], [g])
    np.testing.assert_allclose(result, w - w * 0.2 * 0.1 - 0.1 * g, rtol=1e-15)
    # Second step of a schedule: the decay uses lr(iterations=1).
    schedule = O.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer = O.SGD(schedule, weight_decay=0.2)
    variable = Variable(w.copy(), name="w")
    for _ in range(2):
        optimizer.apply([g], [variable])
    after_one = w - w * 0.2 * 0.1 - 0.1 * g
    np.testing.assert_allclose(variable.data, after_one - after_one * 0.2 * 0.05 - 0.05 * g, rtol=1e-15)


def test_exclude_from_weight_decay():
    optimizer = O.SGD(0.1, weight_decay=0.5)
    kernel, bias = Variable(np.ones(2), name="dense/kernel"), Variable(np.ones(2), name="dense/bias")
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.apply([np.zeros(2), np.zeros(2)], [kernel, bias])
    np.testing.assert_allclose(kernel.data, 1 - 0.05)
    np.testing.assert_allclose(bias.data, 1.0)


def test_clipnorm_is_per_variable():
    grads = [np.array([3.0, 4.0]), np.array([0.3, 0.4])]  # norms 5 and 0.5
    result = _one_step(O.SGD(1.0, clipnorm=1.0), [np.zeros(2), np.zeros(2)], grads)
    np.testing.assert_allclose(result[0], -np.array([0.6, 0.8]), rtol=1e-15)
    np.testing.assert_allclose(result[1], -grads[1], rtol=1e-15)  # below the norm: unchanged


def test_global_clipnorm_scales_all_gradients_together():
    grads = [np.array([3.0, 0.0]), np.array([0.0, 4.0])]  # global norm 5
    result = _one_step(O.SGD(1.0, global_clipnorm=2.5), [np.zeros(2), np.zeros(2)], grads)
    np.testing.assert_allclose(result[0], -np.array([1.5, 0.0]), rtol=1e-15)
    np.testing.assert_allclose(result[1], -np.array([0.0, 2.0]), rtol=1e-15)
    result = _one_step(O.SGD(1.0, global_clipnorm=10.0), [np.zeros(2), np.zeros(2)], grads)
    np.testing.assert_allclose(result[0], -grads[0], rtol=1e-15)


def test_clipvalue_is_elementwise():
    (result,) = _one_step(O.SGD(1.0, clipvalue=0.5), [np.zeros(4)], [np.array([-2.0, -0.2, 0.3, 7.0])])
    np.testing.assert_allclose(result, -np.array([-0.5, -0.2, 0.3, 0.5]), rtol=1e-15)


def test_clipping_acts_before_the_update_rule():
    """Adam sees the clipped gradient: one step equals one step on g * c/||g||."""
    g = np.array([3.0, 4.0])
    (clipped,) = _one_step(O.Adam(0.1, clipnorm=1.0), [np.ones(2)], [g])
    (reference,) = _one_step(O.Adam(0.1), [np.ones(2)], [g / 5.0])
    np.testing.assert_array_equal(clipped, reference)


def test_gradients_are_not_modified():
    g = np.array([3.0, 4.0])
    _one_step(O.Adam(0.1, clipnorm=1.0), [np.ones(2)], [g])
    np.testing.assert_array_equal(g, [3.0, 4.0])


class _RecordingConstraint:
    def __init__(self):
        self.seen = []

    def __call__(self, w):
        self.seen.append(w.copy())
        return np.maximum(w, 0.0)


def test_constraint_applied_after_update():
    constraint = _RecordingConstraint()
    variable = Variable(np.array([0.05, 1.0, -1.0]), name="w", constraint=constraint)
    variable.grad = np.array([1.0, 1.0, -1.0])
    optimizer = O.SGD(0.1, weight_decay=0.5)
    optimizer.step([variable])
    updated = np.array([0.05, 1.0, -1.0]) * (1 - 0.05) - 0.1 * variable.grad
    np.testing.assert_allclose(constraint.seen[0], updated, rtol=1e-15)  # it saw the updated value
    np.testing.assert_allclose(variable.data, np.maximum(updated, 0.0), rtol=1e-15)


def test_library_constraint_after_adam_update():
    variable = Variable(np.array([[3.0], [4.0]]), name="kernel", constraint=constraints.MaxNorm(2.0))
    variable.grad = np.array([[-1.0], [-1.0]])
    O.Adam(0.1).step([variable])
    np.testing.assert_allclose(np.linalg.norm(variable.data), 2.0, rtol=1e-6)


# ----------------------------------------------------------------------------
# step / apply / apply_gradients
# ----------------------------------------------------------------------------

def test_step_uses_grad_and_skips_none():
    a, b = Variable(np.ones(3), name="a"), Variable(np.ones(2), name="b")
    a.grad = np.array([1.0, 2.0, 3.0])
    optimizer = O.SGD(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # step() skips silently
        optimizer.step([a, b])
    np.testing.assert_allclose(a.data, [0.5, 0.0, -0.5])
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert optimizer.iterations == 1


def test_apply_warns_for_missing_gradients_and_raises_when_none_at_all():
    a, b = Variable(np.ones(2), name="a"), Variable(np.ones(2), name="b")
    optimizer = O.SGD(0.5)
    with pytest.warns(UserWarning, match="'b'"):
        optimizer.apply([np.ones(2), None], [a, b])
    with pytest.raises(ValueError, match="no gradients"):
        optimizer.apply([None, None], [a, b])
    optimizer.apply([], [])  # nothing to do, as in Keras
    assert optimizer.iterations == 1


def test_apply_gradients_equals_apply_and_step():
    problem = Quadratic(16)
    grads = problem.gradients(0, problem.start)
    results = []
    for how in ("apply_gradients", "apply", "step"):
        variables = [Variable(w.copy(), name=f"w{i}") for i, w in enumerate(problem.start)]
        optimizer = O.Adam(0.01)
        if how == "apply_gradients":
            assert optimizer.apply_gradients(list(zip(grads, variables))) == 1
        elif how == "apply":
            optimizer.apply(grads, variables)
        else:
            for v, g in zip(variables, grads):
                v.grad = g
            optimizer.step(variables)
        results.append([v.data.copy() for v in variables])
    for other in results[1:]:
        for x, y in zip(results[0], other):
            np.testing.assert_array_equal(x, y)


def test_apply_without_variables_uses_registered_ones():
    a = Variable(np.ones(2), name="a")
    optimizer = O.SGD(0.5)
    optimizer.apply([np.ones(2)], [a])
    optimizer.apply([np.ones(2)])
    np.testing.assert_allclose(a.data, [0.0, 0.0])
    with pytest.raises(ValueError, match="registered"):
        optimizer.apply([np.ones(2), np.ones(2)])


def test_gradient_shape_mismatch_names_the_variable():
    with pytest.raises(ValueError, match=r"'kernel'.*\(3,\).*\(2,\)"):
        O.SGD().apply([np.ones(3)], [Variable(np.ones(2), name="kernel")])


# ----------------------------------------------------------------------------
# learning rate and schedules
# ----------------------------------------------------------------------------

def test_learning_rate_is_settable_and_used():
    optimizer = O.SGD(0.1)
    assert optimizer.learning_rate == 0.1 and optimizer.current_learning_rate() == 0.1
    optimizer.learning_rate = 0.01  # what ReduceLROnPlateau does
    (result,) = _one_step(optimizer, [np.zeros(1)], [np.ones(1)])
    np.testing.assert_allclose(result, [-0.01])
    with pytest.raises(ValueError, match=r"SGD.*learning_rate.*-1"):
        optimizer.learning_rate = -1.0


def test_schedule_learning_rate_is_evaluated_at_iterations():
    schedule = O.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    optimizer = O.SGD(schedule)
    assert optimizer.learning_rate is schedule
    variable = Variable(np.zeros(1), name="w")
    expected = 0.0
    for step in range(4):
        assert optimizer.current_learning_rate() == pytest.approx(0.1 * 0.5 ** (step / 2), rel=1e-15)
        expected -= 0.1 * 0.5 ** (step / 2)
        optimizer.apply([np.ones(1)], [variable])
    np.testing.assert_allclose(variable.data, [expected], rtol=1e-15)
    assert optimizer.iterations == 4
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        optimizer.learning_rate = 0.5
    optimizer.learning_rate = O.PiecewiseConstantDecay([0], [1.0, 2.0])  # a schedule may replace a schedule
    assert optimizer.current_learning_rate() == 2.0


def test_exponential_decay_hand_values():
    smooth = O.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    stairs = O.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    for step, smooth_value, stairs_value in [(0, 0.1, 0.1), (5, 0.1 * 0.5 ** 0.5, 0.1), (10, 0.05, 0.05),
                                             (25, 0.1 * 0.5 ** 2.5, 0.025)]:
        assert smooth(step) == pytest.approx(smooth_value, rel=1e-15)
        assert stairs(step) == pytest.approx(stairs_value, rel=1e-15)


def test_piecewise_constant_hand_values():
    schedule = O.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in (0, 10, 11, 20, 21, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_cosine_decay_hand_values():
    schedule = O.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    for step, value in [(0, 1.0), (5, 0.55), (10, 0.1), (20, 0.1)]:
        assert schedule(step) == pytest.approx(value, rel=1e-14, abs=1e-15)
    warm = O.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    for step, value in [(0, 0.0), (2, 0.5), (4, 1.0), (9, 0.5), (14, 0.0), (100, 0.0)]:
        assert warm(step) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("make, message", [
    (lambda: O.ExponentialDecay(0.1, 0, 0.5), r"ExponentialDecay.*decay_steps=0"),
    (lambda: O.CosineDecay(0.1, -3), r"CosineDecay.*decay_steps=-3"),
    (lambda: O.CosineDecay(0.1, 3, warmup_steps=-1), r"CosineDecay.*warmup_steps=-1"),
    (lambda: O.PiecewiseConstantDecay([1, 2], [1.0, 0.5]), r"boundaries.*values"),
    (lambda: O.PiecewiseConstantDecay([2, 1], [1.0, 0.5, 0.1]), r"strictly increasing"),
])
def test_bad_schedule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedule_serialization_round_trip():
    for schedule in (O.ExponentialDecay(0.1, 7, 0.9, staircase=True), O.PiecewiseConstantDecay([3], [0.1, 0.01]),
                     O.CosineDecay(0.0, 10, alpha=0.2, warmup_target=0.1, warmup_steps=3)):
        config = json.loads(json.dumps(O.schedules.serialize(schedule)))
        assert config["class_name"] == type(schedule).__name__
        restored = O.schedules.deserialize(config)
        assert restored.get_config() == schedule.get_config()
        assert [restored(s) for s in range(15)] == [schedule(s) for s in range(15)]


# ----------------------------------------------------------------------------
# State: get_state / set_state resume, dtype
# ----------------------------------------------------------------------------

STATE_CASES = [
    ("sgd", lambda: O.SGD(0.05)),
    ("sgd-nesterov", lambda: O.SGD(0.05, momentum=0.9, nesterov=True)),
    ("rmsprop-centered-momentum", lambda: O.RMSprop(0.01, momentum=0.5, centered=True)),
    ("adagrad", lambda: O.Adagrad(0.1)),
    ("adadelta", lambda: O.Adadelta(1.0)),
    ("adam-amsgrad", lambda: O.Adam(0.01, amsgrad=True)),
    ("adamw-clip", lambda: O.AdamW(0.01, global_clipnorm=1.0)),
    ("nadam", lambda: O.Nadam(0.01)),
    ("adam-schedule", lambda: O.Adam(O.CosineDecay(0.01, 5, warmup_target=0.02, warmup_steps=2))),
]


@pytest.mark.parametrize("label, make_optimizer", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_resume_from_state_is_bit_identical(label, make_optimizer):
    problem = Quadratic(17)
    optimizer = make_optimizer()
    variables = [Variable(w.copy(), name=f"w{i}") for i, w in enumerate(problem.start)]

    def train(opt, vs, steps):
        for step in steps:
            for v, g in zip(vs, problem.gradients(step, [v.data for v in vs])):
                v.grad = g
            if step == 0:
                vs[1].grad = None  # registered anyway: indices follow the list order
            opt.step(vs)

    train(optimizer, variables, range(3))
    saved_state = optimizer.get_state()
    saved_weights = [v.data.copy() for v in variables]
    saved_config = json.loads(json.dumps(optimizer.get_config()))
    train(optimizer, variables, range(3, STEPS))

    resumed = type(optimizer).from_config(saved_config)
    resumed_variables = [Variable(w, name=f"w{i}") for i, w in enumerate(saved_weights)]
    resumed.set_state(saved_state, resumed_variables)
    train(resumed, resumed_variables, range(3, STEPS))
    assert resumed.iterations == optimizer.iterations == STEPS
    for original, copy in zip(variables, resumed_variables):
        np.testing.assert_array_equal(copy.data, original.data)
    for key, value in optimizer.get_state().items():
        np.testing.assert_array_equal(resumed.get_state()[key], value, err_msg=key)


def test_state_names_are_deterministic():
    optimizer = O.Adam(0.01)
    a, b = Variable(np.ones((2, 3)), name="a"), Variable(np.ones(4), name="b")
    optimizer.apply([np.ones(4), np.ones((2, 3))], [b, a])  # b first: b gets index 0
    state = optimizer.get_state()
    assert list(state) == ["iterations", "learning_rate", "adam/m/0", "adam/m/1", "adam/v/0", "adam/v/1"]
    assert state["adam/m/0"].shape == (4,) and state["adam/m/1"].shape == (2, 3)
    assert int(state["iterations"]) == 1
    assert "nadam/u_product" in O.Nadam().get_state()
    assert list(O.SGD().get_state()) == ["iterations", "learning_rate"]
    assert len(optimizer.variables) == 6


def test_state_is_a_copy():
    optimizer = O.SGD(0.1, momentum=0.9)
    variable = Variable(np.ones(2), name="w")
    optimizer.apply([np.ones(2)], [variable])
    state = optimizer.get_state()
    state["sgd/momentum/0"][...] = 99.0
    assert np.all(optimizer.get_state()["sgd/momentum/0"] != 99.0)


def test_set_state_mismatch_raises_and_leaves_optimizer_unchanged():
    optimizer = O.Adam(0.01)
    a, b = Variable(np.ones(3), name="a"), Variable(np.ones(2), name="b")
    optimizer.apply([np.ones(3), np.ones(2)], [a, b])
    state = optimizer.get_state()
    fresh = O.Adam(0.01)
    with pytest.raises(ValueError, match=r"missing keys.*adam/m/2"):
        fresh.set_state(state, [a, b, Variable(np.ones(1), name="c")])
    with pytest.raises(ValueError, match=r"unexpected keys.*adam/m/1"):
        fresh.set_state(state, [a])
    with pytest.raises(ValueError, match=r"'adam/m/0' has shape \(3,\).*'b'"):
        fresh.set_state(state, [b, a])
    assert fresh.iterations == 0 and fresh.get_state() == {"iterations": 0, "learning_rate": 0.01}


@pytest.mark.parametrize("make_optimizer", [
    lambda: O.SGD(0.1, momentum=0.9, nesterov=True), lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: O.Adagrad(0.1), lambda: O.Adadelta(1.0), lambda: O.Adam(0.01, amsgrad=True),
    lambda: O.AdamW(0.01, clipnorm=1.0), lambda: O.Nadam(0.01)],
    ids=["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamw", "nadam"])
def test_float32_stays_float32(make_optimizer):
    problem = Quadratic(18)
    optimizer = make_optimizer()
    ours = run_clearconv(optimizer, problem, dtype=np.float32)  # float64 gradients are cast down
    reference = run_clearconv(make_optimizer(), problem)
    for xs, ys in zip(ours, reference):
        for x, y in zip(xs, ys):
            assert x.dtype == np.float32
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    for key, value in optimizer.get_state().items():
        if "/" in key and not key.endswith("u_product"):
            assert value.dtype == np.float32, key


def test_integer_variables_are_rejected():
    with pytest.raises(ValueError, match="floating-point.*'steps'.*int"):
        O.SGD().apply([np.ones(2)], [Variable(np.array([1, 2]), name="steps")])


# ----------------------------------------------------------------------------
# Config, lookup, argument checks
# ----------------------------------------------------------------------------

CONFIG_CASES = [
    O.SGD(0.02, momentum=0.5, nesterov=True, clipnorm=1.0, name="my_sgd"),
    O.RMSprop(0.003, rho=0.8, momentum=0.1, epsilon=1e-6, centered=True, weight_decay=0.01),
    O.Adagrad(0.2, initial_accumulator_value=0.3, epsilon=1e-5, clipvalue=0.5),
    O.Adadelta(1.0, rho=0.9, epsilon=1e-6, global_clipnorm=2.0),
    O.Adam(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-8, amsgrad=True),
    O.AdamW(O.ExponentialDecay(0.01, 100, 0.9), weight_decay=0.01),
    O.Nadam(0.004, beta_1=0.85, epsilon=1e-6),
]


@pytest.mark.parametrize("optimizer", CONFIG_CASES, ids=lambda o: type(o).__name__)
def test_config_round_trip(optimizer):
    config = json.loads(json.dumps(optimizer.get_config()))
    restored = type(optimizer).from_config(config)
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()
    again = O.deserialize(json.loads(json.dumps(O.serialize(optimizer))))
    assert again.get_config() == optimizer.get_config()


def test_keras_defaults():
    assert O.SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "weight_decay": None, "clipnorm": None,
                                    "global_clipnorm": None, "clipvalue": None, "momentum": 0.0,
                                    "nesterov": False}
    adam = O.Adam().get_config()
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"], adam["amsgrad"]) == \
        (0.001, 0.9, 0.999, 1e-7, False)
    adamw = O.AdamW().get_config()
    assert (adamw["weight_decay"], adamw["epsilon"], adamw["name"]) == (0.004, 1e-7, "adamw")
    rmsprop = O.RMSprop().get_config()
    assert (rmsprop["learning_rate"], rmsprop["rho"], rmsprop["momentum"], rmsprop["epsilon"],
            rmsprop["centered"]) == (0.001, 0.9, 0.0, 1e-7, False)
    adagrad = O.Adagrad().get_config()
    assert (adagrad["learning_rate"], adagrad["initial_accumulator_value"], adagrad["epsilon"], adagrad["name"]) == \
        (0.001, 0.1, 1e-7, "adagrad")
    adadelta = O.Adadelta().get_config()
    assert (adadelta["learning_rate"], adadelta["rho"], adadelta["epsilon"]) == (0.001, 0.95, 1e-7)
    nadam = O.Nadam().get_config()
    assert (nadam["learning_rate"], nadam["beta_1"], nadam["beta_2"], nadam["epsilon"]) == (0.001, 0.9, 0.999, 1e-7)


def test_keras_only_arguments_accepted_when_off():
    config = {**O.Adam().get_config(), "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
              "loss_scale_factor": None, "gradient_accumulation_steps": None}
    assert O.Adam.from_config(config).get_config() == O.Adam().get_config()
    with pytest.raises(ValueError, match="use_ema"):
        O.Adam(use_ema=True)
    with pytest.raises(ValueError, match="not recognized.*bogus"):
        O.SGD(bogus=1)


@pytest.mark.parametrize("identifier, cls", [
    ("sgd", O.SGD), ("SGD", O.SGD), ("adam", O.Adam), ("Adam", O.Adam), ("adamw", O.AdamW), ("AdamW", O.AdamW),
    ("rmsprop", O.RMSprop), ("RMSprop", O.RMSprop), ("adagrad", O.Adagrad), ("adadelta", O.Adadelta),
    ("nadam", O.Nadam), ("Nadam", O.Nadam), (O.Adam, O.Adam),
    ({"class_name": "RMSprop", "config": {"learning_rate": 0.1}}, O.RMSprop)])
def test_get(identifier, cls):
    optimizer = O.get(identifier)
    assert type(optimizer) is cls


def test_get_passes_instances_through_and_rejects_unknown_names():
    instance = O.Adam(0.5)
    assert O.get(instance) is instance
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamax'.*adadelta.*adam.*sgd"):
        O.get("adamax")
    with pytest.raises(ValueError, match="Could not interpret"):
        O.get(3)


@pytest.mark.parametrize("make, pattern", [
    (lambda: O.SGD(learning_rate=-0.1), r"SGD: `learning_rate`.*>= 0.*learning_rate=-0.1"),
    (lambda: O.Adam(learning_rate=float("nan")), r"Adam: `learning_rate`.*learning_rate=nan"),
    (lambda: O.SGD(momentum=1.5), r"SGD: `momentum`.*\[0, 1\].*momentum=1.5"),
    (lambda: O.SGD(momentum=-0.1), r"SGD: `momentum`.*momentum=-0.1"),
    (lambda: O.SGD(nesterov="yes"), r"SGD: `nesterov`.*nesterov='yes'"),
    (lambda: O.RMSprop(momentum=2.0), r"RMSprop: `momentum`.*momentum=2.0"),
    (lambda: O.RMSprop(rho=1.5), r"RMSprop: `rho`.*rho=1.5"),
    (lambda: O.Adadelta(rho=-1), r"Adadelta: `rho`.*rho=-1"),
    (lambda: O.Adam(beta_1=1.0), r"Adam: `beta_1`.*\[0, 1\).*beta_1=1.0"),
    (lambda: O.Nadam(beta_2=-0.5), r"Nadam: `beta_2`.*beta_2=-0.5"),
    (lambda: O.AdamW(beta_2=1.2), r"AdamW: `beta_2`.*beta_2=1.2"),
    (lambda: O.Adam(epsilon=-1e-7), r"Adam: `epsilon`.*epsilon=-1e-07"),
    (lambda: O.Adagrad(initial_accumulator_value=-1.0), r"Adagrad: `initial_accumulator_value`.*=-1.0"),
    (lambda: O.SGD(clipnorm=0.0), r"SGD: `clipnorm`.*> 0.*clipnorm=0.0"),
    (lambda: O.Adam(clipvalue=-1.0), r"Adam: `clipvalue`.*clipvalue=-1.0"),
    (lambda: O.RMSprop(global_clipnorm=0), r"RMSprop: `global_clipnorm`.*global_clipnorm=0"),
    (lambda: O.SGD(clipnorm=1.0, clipvalue=1.0), r"SGD: only one of .*clipnorm=1.0, clipvalue=1.0"),
    (lambda: O.Adam(weight_decay=-0.1), r"Adam: `weight_decay`.*weight_decay=-0.1"),
    (lambda: O.AdamW(weight_decay=None), r"AdamW: `weight_decay`.*weight_decay=None"),
    (lambda: O.Adam(amsgrad=2), r"Adam: `amsgrad`.*amsgrad=2"),
])
def test_bad_arguments_name_optimizer_argument_and_value(make, pattern):
    # A flag of the wrong type is a TypeError (clearconv.utils.check_flag); a wrong value a ValueError.
    with pytest.raises(TypeError if "amsgrad" in pattern or "nesterov" in pattern else ValueError, match=pattern):
        make()


def test_a_state_saved_before_the_first_update_resets_a_stepped_optimizer():
    """set_state of a never-built optimizer's state (iterations 0, no slots) gives the initial slots and
    iterations 0, whatever the optimizer held before, as a fresh optimizer would have."""
    variables = [Variable(np.ones(3, np.float32))]
    stepped = O.Adam()
    variables[0].grad = np.ones(3, np.float32)
    stepped.step(variables)
    stepped.set_state(O.Adam().get_state(), variables)
    fresh = O.Adam()
    fresh.build(variables)
    assert stepped.iterations == 0
    for key, value in fresh.get_state().items():
        np.testing.assert_array_equal(stepped.get_state()[key], value, err_msg=key)
