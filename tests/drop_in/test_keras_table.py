"""docs/keras.md, the table of Keras 3 names, checked against real Keras 3 and clearconv.

The page has one section per Keras module (heading ``## `keras.layers```) or per
class whose methods and attributes it lists (heading ``## Methods and attributes
of `keras.Model```). Each section holds a table ``| Name | Status | Note |``:

* Name: the names, as code spans (```Conv1D`, `Conv2D```); a cell without code
  spans ("Every layer") is a remark on the whole section and is not checked;
* Status: ``supported``, ``difference`` or ``refused``;
* Note: for ``refused``, it starts with the error as a code span, ```AttributeError```
  or ```AttributeError: message```, where ``…`` in the message stands for any text.

The checks:

* every public name of each covered Keras module (and of the listed classes) is in
  its section, and every name listed exists in Keras: a new Keras name fails until
  the table has it;
* a supported or differing name exists in the matching clearconv module
  (``keras.layers`` -> ``clearconv.layers``) or on a clearconv object;
* a refused name raises the stated error when accessed, so a name added to
  clearconv fails until the table says so;
* a supported callable accepts every named argument of Keras's signature; a
  differing one may lack some, and its note must name each of them (```renorm```).

Run as a script (``python tests/drop_in/test_keras_table.py``) it prints the
Keras names missing from the page as draft rows, with their status guessed from
whether clearconv has them.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import clearconv

DOC = Path(__file__).resolve().parents[2] / "docs" / "keras.md"
STATUSES = ("supported", "difference", "refused")
# Every Keras module and class the page must cover.
MODULES = ("keras", "keras.layers", "keras.models", "keras.ops", "keras.ops.image", "keras.activations",
           "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics", "keras.callbacks",
           "keras.initializers", "keras.regularizers", "keras.constraints", "keras.utils", "keras.datasets",
           "keras.random", "keras.backend", "keras.config", "keras.saving")
# A class's section lists the public names of the class, less those of its base's section.
CLASSES = {"keras.layers.Layer": None, "keras.Model": "keras.layers.Layer", "keras.Sequential": "keras.Model",
           "keras.Variable": None}
# Attributes that Keras sets on instances (so they are not in dir() of the class) and that a section may list.
INSTANCE_ATTRIBUTES = {"name", "built", "inputs", "outputs", "input_shape", "output_shape", "optimizer", "loss",
                       "history", "stop_training", "compiled", "steps_per_execution"}
# The namespaces of keras.ops whose names are also at the top level of keras.ops (as in clearconv.ops).
OPS_NAMESPACES = ("numpy", "nn", "linalg")

_CODE = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Row:
    names: list[str]
    status: str
    note: str
    line: int


@dataclass
class Section:
    target: str                       # "keras.layers" or "keras.Model"
    line: int
    rows: list[Row] = field(default_factory=list)

    def named_rows(self) -> list[Row]:
        return [row for row in self.rows if row.names]

    def status_of(self) -> dict[str, Row]:
        return {name: row for row in self.rows for name in row.names}


def parse(text: str) -> list[Section]:
    """The sections of the page with their table rows; a malformed row raises ValueError."""
    sections: list[Section] = []
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            spans = _CODE.findall(line)
            current = Section(spans[0], number) if spans else None
            if current is not None:
                sections.append(current)
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells == ["Name", "Status", "Note"] or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != 3:
            raise ValueError(f"docs/keras.md:{number}: a row needs three cells (Name | Status | Note), found "
                             f"{len(cells)}: {line}")
        names_cell, status, note = cells
        if status not in STATUSES:
            raise ValueError(f"docs/keras.md:{number}: status {status!r} is not one of {STATUSES}")
        names = _CODE.findall(names_cell)
        for name in names:
            if not _NAME.fullmatch(name):
                raise ValueError(f"docs/keras.md:{number}: {name!r} is not a name")
        current.rows.append(Row(names, status, note, number))
    return sections


def public(obj) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def resolve(path: str):
    """A dotted path to a module, or to an attribute of one (``keras.layers.Layer``)."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module, _, attribute = path.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


def expected_error(row: Row) -> tuple[type, list[str]]:
    """The exception class and the message parts (in order) that a refused row's note states."""
    spans = _CODE.findall(row.note)
    if not spans or not row.note.startswith("`"):
        raise AssertionError(f"docs/keras.md:{row.line}: a refused row's note starts with the error, e.g. "
                             f"`AttributeError`; found {row.note!r}")
    kind, _, message = spans[0].partition(":")
    error = getattr(builtins, kind.strip(), None)
    if not (isinstance(error, type) and issubclass(error, BaseException)):
        raise AssertionError(f"docs/keras.md:{row.line}: {kind!r} is not a built-in exception")
    return error, [part for part in message.strip().split("…") if part]


def check_raises(access, row: Row, what: str) -> None:
    error, parts = expected_error(row)
    try:
        access()
    except error as raised:
        message, position = str(raised), 0
        for part in parts:
            found = message.find(part, position)
            assert found >= 0, f"docs/keras.md:{row.line}: {what} raised {message!r}, which lacks {part!r}"
            position = found + len(part)
    else:
        pytest.fail(f"docs/keras.md:{row.line}: {what} is marked refused but exists in clearconv; update the "
                    f"table (and check its arguments)")


def keras_arguments(obj) -> list[str] | None:
    """The named arguments of a Keras callable (a class: its constructor), None when unreadable."""
    function = obj.__init__ if inspect.isclass(obj) else obj
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def clearconv_accepts(obj):
    """A predicate: does clearconv's callable accept this keyword argument? A class accepts the
    arguments of every ``__init__`` along its MRO (layers pass their base's on through ``**kwargs``);
    a function with ``**kwargs`` accepts any."""
    if inspect.isclass(obj):
        names = set()
        for klass in obj.__mro__[:-1]:
            if "__init__" in klass.__dict__:
                try:
                    names |= set(inspect.signature(klass.__dict__["__init__"]).parameters)
                except (TypeError, ValueError):
                    return lambda name: True
        return names.__contains__
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return lambda name: True
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return lambda name: True
    return {p.name for p in parameters}.__contains__


def check_arguments(keras_object, clearconv_object, row: Row, what: str) -> None:
    """Every argument of Keras's signature is accepted, or (a difference) named in the note."""
    if inspect.ismodule(keras_object) or not callable(keras_object) or not callable(clearconv_object):
        return
    arguments = keras_arguments(keras_object)
    if arguments is None:
        return
    accepts = clearconv_accepts(clearconv_object)
    missing = [name for name in arguments if not accepts(name)]
    if row.status == "supported":
        assert not missing, (f"docs/keras.md:{row.line}: {what} is marked supported but does not take Keras's "
                             f"argument(s) {missing}; mark it 'difference' and name them in the note")
    else:
        unnamed = [name for name in missing if f"`{name}`" not in row.note and f"`{name}=" not in row.note]
        assert not unnamed, (f"docs/keras.md:{row.line}: {what} does not take Keras's argument(s) {unnamed}; "
                             f"the note must name each of them")


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------

if __name__ != "__main__":
    from keras_oracle import import_keras
    keras = import_keras()


@pytest.fixture(scope="module")
def sections() -> dict[str, Section]:
    found = {}
    for section in parse(DOC.read_text(encoding="utf-8")):
        assert section.target not in found, f"docs/keras.md:{section.line}: a second section for {section.target}"
        found[section.target] = section
    return found


@pytest.fixture(scope="module")
def objects() -> dict[str, object]:
    """clearconv objects whose methods and attributes the class sections list."""
    inputs = clearconv.Input((4,), name="table_input")    # explicit names leave the automatic ones as they are
    dense = clearconv.layers.Dense(3, name="table_dense")
    model = clearconv.Model(inputs, dense(inputs), name="table_model")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((2, 4), "float32"), np.zeros((2, 3), "float32"), verbose=0)
    sequential = clearconv.Sequential([clearconv.Input((4,), name="table_sequential_input"),
                                       clearconv.layers.Dense(3, name="table_sequential_dense")],
                                      name="table_sequential")
    variable = clearconv.Variable(np.zeros(3, "float32"), name="table_variable")
    return {"keras.layers.Layer": dense, "keras.Model": model, "keras.Sequential": sequential,
            "keras.Variable": variable}


def test_every_module_and_class_has_a_section(sections):
    missing = [target for target in (*MODULES, *CLASSES) if target not in sections]
    assert not missing, f"docs/keras.md has no section for {missing}"
    unknown = [target for target in sections if target not in MODULES and target not in CLASSES]
    assert not unknown, f"docs/keras.md has sections this test does not check: {unknown}; add them to MODULES"


def test_rows_list_each_name_once(sections):
    for section in sections.values():
        seen = {}
        for row in section.named_rows():
            for name in row.names:
                assert name not in seen, (f"docs/keras.md:{row.line}: {name} is listed twice in {section.target} "
                                          f"(also line {seen[name]})")
                seen[name] = row.line


@pytest.mark.parametrize("target", MODULES)
def test_module_table_lists_every_keras_name(sections, target):
    listed = set(sections[target].status_of())
    names = public(resolve(target))
    missing, stale = sorted(names - listed), sorted(listed - names)
    assert not missing, f"docs/keras.md: the section {target} lacks Keras's {missing}"
    assert not stale, f"docs/keras.md: the section {target} lists {stale}, which Keras does not have"


@pytest.mark.parametrize("target", MODULES)
def test_module_names_are_as_the_table_says(sections, target):
    keras_module = resolve(target)
    clearconv_module = importlib.import_module("clearconv" + target[len("keras"):])
    for row in sections[target].named_rows():
        for name in row.names:
            what = f"clearconv{target[len('keras'):]}.{name}"
            if row.status == "refused":
                check_raises(lambda: getattr(clearconv_module, name), row, what)
                continue
            assert hasattr(clearconv_module, name), f"docs/keras.md:{row.line}: {what} is marked {row.status} " \
                                                    f"but does not exist"
            check_arguments(getattr(keras_module, name), getattr(clearconv_module, name), row, what)


@pytest.mark.parametrize("namespace", OPS_NAMESPACES)
def test_ops_namespaces_follow_the_top_level_rows(sections, namespace):
    rows = sections["keras.ops"].status_of()
    clearconv_namespace = getattr(clearconv.ops, namespace)
    for name in sorted(public(getattr(keras.ops, namespace))):
        assert name in rows, f"docs/keras.md: keras.ops.{namespace}.{name} is not at the top level of keras.ops"
        row, what = rows[name], f"clearconv.ops.{namespace}.{name}"
        if row.status == "refused":
            check_raises(lambda: getattr(clearconv_namespace, name), row, what)
        else:
            assert getattr(clearconv_namespace, name, None) is getattr(clearconv.ops, name), \
                f"docs/keras.md:{row.line}: {what} should be clearconv.ops.{name}"


@pytest.mark.parametrize("target", CLASSES)
def test_class_table_lists_every_keras_name(sections, target):
    keras_class, base = resolve(target), CLASSES[target]
    names = public(keras_class) - (public(resolve(base)) if base else set())
    listed = set(sections[target].status_of())
    missing = sorted(names - listed)
    stale = sorted(name for name in listed - names if not hasattr(keras_class, name)
                   and name not in INSTANCE_ATTRIBUTES)
    assert not missing, f"docs/keras.md: the section {target} lacks Keras's {missing}"
    assert not stale, f"docs/keras.md: the section {target} lists {stale}, which Keras's {target} does not have"


@pytest.mark.parametrize("target", CLASSES)
def test_class_names_are_as_the_table_says(sections, objects, target):
    keras_class, instance = resolve(target), objects[target]
    for row in sections[target].named_rows():
        for name in row.names:
            what = f"{type(instance).__name__}.{name}"
            if row.status == "refused":
                check_raises(lambda: getattr(instance, name), row, what)
                continue
            assert hasattr(instance, name), f"docs/keras.md:{row.line}: {what} is marked {row.status} but " \
                                            f"does not exist"
            keras_attribute = inspect.getattr_static(keras_class, name, None)
            if inspect.isfunction(keras_attribute) or isinstance(keras_attribute, (classmethod, staticmethod)):
                check_arguments(getattr(keras_class, name), getattr(type(instance), name), row, what)


# --------------------------------------------------------------------------------------------------
# As a script: draft rows for the Keras names the page lacks
# --------------------------------------------------------------------------------------------------

def _draft() -> None:
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sections = {section.target: section for section in parse(DOC.read_text(encoding="utf-8"))}
    complete = True
    for target in MODULES:
        listed = set(sections[target].status_of()) if target in sections else set()
        clearconv_module = importlib.import_module("clearconv" + target[len("keras"):])
        missing = sorted(public(resolve(target)) - listed)
        if missing:
            complete = False
            print(f"## `{target}`: names the page lacks\n")
            for name in missing:
                status = "supported" if hasattr(clearconv_module, name) else "refused"
                print(f"| `{name}` | {status} | {'`AttributeError`.' if status == 'refused' else ''} |")
            print()
    if complete:
        print(f"{DOC} lists every public name of the Keras modules it covers")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    _draft()
