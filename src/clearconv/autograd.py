"""One small reverse-mode tape.

A :class:`Tensor` wraps a NumPy array. An operation on tensors that need a
gradient records, on its output, the input tensors and a vector-Jacobian
product ``vjp(grad_output) -> (grad_input, ...)``. :meth:`Tensor.backward`
walks that graph once in reverse topological order, so a tensor used twice
(shared weights, branches that merge) gets the sum of both gradients.

Leaves (tensors that were not produced by an op, e.g. layer weights)
accumulate into ``.grad`` as PyTorch does; clear it with ``.grad = None``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Sequence

import numpy as np


class _GradMode(threading.local):
    """Whether operations are recorded, per thread (as torch's grad mode).

    One thread predicting under :func:`no_grad` must not stop another thread's
    training step from recording; a new thread starts with recording on.
    """

    enabled = True


_grad_mode = _GradMode()


@contextlib.contextmanager
def no_grad():
    """Run operations without recording them (inference), in the calling thread only.

    ``backward()`` called inside it still gives every gradient the graph recorded: whether an input
    takes a gradient is decided when its operation is recorded, as in torch.
    """
    previous, _grad_mode.enabled = _grad_mode.enabled, False
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def is_grad_enabled() -> bool:
    """Whether the calling thread records operations (False inside :func:`no_grad`)."""
    return _grad_mode.enabled


def needs_grad(*tensors) -> bool:
    """True when recording is on in this thread and some input is a tensor that needs a gradient."""
    return _grad_mode.enabled and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def data_of(value):
    """The array behind a tensor, or the value itself."""
    return value.data if isinstance(value, Tensor) else value


class Tensor:
    """An array that can record the operations applied to it.

    Attributes: ``data`` (np.ndarray), ``grad`` (np.ndarray or None),
    ``requires_grad`` (bool).
    """

    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False):
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._vjp: Callable | None = None

    # --- array protocol ------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        return self.data.item()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{flag})"

    # --- backward ------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = True) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` defaults to ones for a single-element tensor (a loss). With
        ``retain_graph=False`` (PyTorch's default) each op's record (its vjp and
        what it saved, its links to its inputs) is dropped as soon as its vjp has
        run, so the saved activations of the last layers are freed while the
        first layers' gradients are computed: a lower peak, and a graph that
        cannot be walked again (a second backward through it raises).
        """
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() needs `grad` for a non-scalar tensor of shape {self.shape}")
            grad = np.ones_like(self.data)
        # id(node) -> (gradient, owned): owned when no one else holds the array, so a leaf may keep it.
        grads = {id(self): (np.asarray(grad, dtype=self.dtype), False)}
        order = _topological_order(self)
        order.reverse()                       # children first
        if not retain_graph:
            order = _consumed(order)          # the walk then holds no node it has passed
        for node in order:
            g, owned = grads.pop(id(node), (None, False))
            if g is None:
                continue
            if node._vjp is None:
                if node.grad is None:
                    node.grad = g if owned else g.copy()
                else:
                    node.grad = node.grad + g
                continue
            parent_grads = node._vjp(g)
            for parent, parent_grad in zip(node._parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                key = id(parent)
                if key in grads:
                    grads[key] = (grads[key][0] + parent_grad, True)
                else:
                    grads[key] = (parent_grad, _is_fresh(parent_grad, g, parent_grads))
            if not retain_graph:
                node._vjp, node._parents = _freed_vjp, ()
            del g, parent_grads

    # --- arithmetic (broadcasting, with the inverse movement in each VJP) ----
    def __add__(self, other):
        return _binary(self, other, np.add, lambda g, a, b: (g, g))

    __radd__ = __add__

    def __sub__(self, other):
        return _binary(self, other, np.subtract, lambda g, a, b: (g, -g))

    def __rsub__(self, other):
        return _binary(other, self, np.subtract, lambda g, a, b: (g, -g))

    def __mul__(self, other):
        return _binary(self, other, np.multiply, lambda g, a, b: (g * b, g * a))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _binary(self, other, np.divide, lambda g, a, b: (g / b, -g * a / (b * b)))

    def __rtruediv__(self, other):
        return _binary(other, self, np.divide, lambda g, a, b: (g / b, -g * a / (b * b)))

    def __neg__(self):
        return record(-self.data, (self,), lambda g: (-g,))

    def __pow__(self, exponent: float):
        if isinstance(exponent, Tensor):
            raise TypeError("Tensor ** Tensor is not supported; the exponent must be a number")
        x = self.data
        return record(x ** exponent, (self,), lambda g: (g * exponent * x ** (exponent - 1),))

    def __abs__(self):
        x = self.data
        return record(np.abs(x), (self,), lambda g: (g * np.sign(x),))

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __getitem__(self, index):
        shape, dtype = self.shape, self.dtype

        def vjp(g):
            full = np.zeros(shape, dtype=dtype)
            if _is_basic_index(index):
                full[index] = g  # basic indexing: every selected cell appears once
            else:
                np.add.at(full, index, g)  # an index array may select a cell several times
            return (full,)
        return record(self.data[index], (self,), vjp)

    # --- reductions and shape movements --------------------------------------
    def sum(self, axis=None, keepdims: bool = False):
        shape = self.shape

        def vjp(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, shape).copy(),)
        return record(np.sum(self.data, axis=axis, keepdims=keepdims), (self,), vjp)

    def mean(self, axis=None, keepdims: bool = False):
        axes = range(self.ndim) if axis is None else np.atleast_1d(axis)
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        original = self.shape
        return record(self.data.reshape(shape), (self,), lambda g: (g.reshape(original),))

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        axes = tuple(axes) if axes else tuple(reversed(range(self.ndim)))
        inverse = tuple(np.argsort(axes))
        return record(self.data.transpose(axes), (self,), lambda g: (g.transpose(inverse),))

    def astype(self, dtype):
        source = self.dtype
        return record(self.data.astype(dtype), (self,), lambda g: (g.astype(source),))

    def exp(self):
        y = np.exp(self.data)
        return record(y, (self,), lambda g: (g * y,))

    def log(self):
        x = self.data
        return record(np.log(x), (self,), lambda g: (g / x,))

    def sqrt(self):
        y = np.sqrt(self.data)
        return record(y, (self,), lambda g: (g / (2 * y),))


def record(data: np.ndarray, parents: Sequence, vjp: Callable) -> Tensor:
    """Wrap ``data`` as the output of an op on ``parents``.

    ``vjp(grad)`` must return one gradient (or None) per parent, each of its
    parent's shape. A parent may be None (an absent bias) or a plain array (a
    constant); neither is kept. Nothing is recorded when no parent needs a
    gradient.
    """
    requires = needs_grad(*parents)
    out = Tensor(data, requires_grad=requires)
    if requires:
        out._parents = tuple(p if isinstance(p, Tensor) else _CONSTANT for p in parents)
        out._vjp = vjp
    return out


_CONSTANT = Tensor(np.zeros(()))  # stands for every parent that takes no gradient


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def _binary(a, b, forward, local_vjp) -> Tensor:
    a_data, b_data = data_of(a), data_of(b)
    a_shape, b_shape = np.shape(a_data), np.shape(b_data)

    def vjp(g):
        ga, gb = local_vjp(g, a_data, b_data)
        return unbroadcast(ga, a_shape), unbroadcast(gb, b_shape)
    return record(forward(a_data, b_data), (a, b), vjp)


def matmul(a, b) -> Tensor:
    """``a @ b`` for a of shape (..., m, k) and b of shape (k, n) or (..., k, n)."""
    a_data, b_data = data_of(a), data_of(b)

    def vjp(g):
        ga = g @ np.swapaxes(b_data, -1, -2)
        gb = np.swapaxes(a_data, -1, -2) @ g
        return unbroadcast(ga, a_data.shape), unbroadcast(gb, b_data.shape)
    return record(a_data @ b_data, (a, b), vjp)


def _is_basic_index(index) -> bool:
    """Whether ``index`` uses only integers, slices, Ellipsis and None (no index arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(part is None or part is Ellipsis or isinstance(part, (slice, int, np.integer)) for part in parts)


def _is_fresh(array: np.ndarray, grad: np.ndarray, outputs: Sequence) -> bool:
    """Whether a vjp built ``array`` for one parent alone: it owns its memory, is not the vjp's
    incoming ``grad`` passed through, and is not handed to another parent too.

    Such an array can become a leaf's ``.grad`` without a copy, as in PyTorch (the
    max-pool benchmark case, whose input gradient is 6 MiB: 6.4 -> 3.3-4.6 ms per
    forward+backward).
    """
    return (isinstance(array, np.ndarray) and array.flags.owndata and array is not grad
            and sum(output is array for output in outputs) == 1)


def _consumed(nodes: list):
    """Yield the nodes of ``nodes`` in order, dropping each from the list first, so that once the
    caller moves on, the list no longer keeps that node (and its array) alive."""
    nodes.reverse()
    while nodes:
        yield nodes.pop()


def _freed_vjp(grad):
    raise RuntimeError("backward() through an operation whose record a previous backward(retain_graph=False) "
                       "freed; pass retain_graph=True to the first backward to walk the graph twice")


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every node reachable from ``root``, parents before children (iterative DFS)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((parent, False) for parent in node._parents if id(parent) not in visited)
    return order


class Variable(Tensor):
    """A weight: a named leaf tensor, as Keras 3's ``keras.Variable``.

    ``Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``:
    ``initializer`` is an array (or number) or an initializer (a name such as
    ``"glorot_uniform"`` or an object) called with ``shape``. ``name`` is the
    short name (``"kernel"``); ``path`` is ``"<layer name>/<name>"`` for a
    layer's weight, as in Keras 3. ``trainable`` weights receive gradients; the
    others (BatchNormalization's moving statistics) are updated by their layer.
    Arithmetic on a variable reads its current value (and records a gradient
    when trainable).
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable: bool = True, name: str | None = None,
                 constraint=None, path: str | None = None, autocast=True, aggregation="none"):
        if isinstance(initializer, (np.ndarray, Tensor, int, float, list, tuple, np.generic)):
            value = np.array(initializer.data if isinstance(initializer, Tensor) else initializer,
                             dtype=dtype)
            if value.dtype.kind == "f" and dtype is None and value.dtype != np.float32 \
                    and not isinstance(initializer, (np.ndarray, Tensor, np.generic)):
                value = value.astype(np.float32)  # Python numbers and lists give Keras's default float32
            if shape is not None and tuple(shape) != value.shape:
                raise ValueError(f"Variable {name!r}: the initial value has shape {value.shape}, but `shape` is "
                                 f"{tuple(shape)}")
        else:
            if shape is None:
                raise ValueError(f"Variable {name!r}: an initializer ({initializer!r}) needs a `shape`")
            from . import initializers
            value = np.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype or "float32"))
        super().__init__(value, requires_grad=trainable)
        self.name = name if name is not None else "variable"
        self.path = path if path is not None else self.name
        self.constraint = constraint

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.requires_grad = bool(value)

    @property
    def value(self) -> np.ndarray:
        return self.data

    def assign(self, value):
        """Overwrite the values in place (shape must match), keeping the dtype; returns ``value``."""
        value = np.asarray(data_of(value))
        if value.shape != self.data.shape:
            raise ValueError(f"Variable '{self.path}': cannot assign a value of shape {value.shape} "
                             f"to a variable of shape {self.data.shape}")
        self.data[...] = value
        return value

    def assign_add(self, value):
        """``variable += value`` in place (no gradient recorded)."""
        return self.assign(self.data + np.asarray(data_of(value), dtype=self.dtype))

    def assign_sub(self, value):
        """``variable -= value`` in place (no gradient recorded)."""
        return self.assign(self.data - np.asarray(data_of(value), dtype=self.dtype))

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.data!r}>"
