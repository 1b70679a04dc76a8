"""The graph IR: builder, shape inference, immutability, passes."""

import numpy as np
import pytest
from vta.compiler.frontend.errors import ModelError
from vta.compiler.frontend.graph import Graph, GraphBuilder, Node, TensorType
from vta.compiler.frontend.interpreter import run
from vta.compiler.frontend.passes import fold_affine, fold_batch_norm, remove_dead


def _small(rng: np.random.Generator) -> GraphBuilder:
    b = GraphBuilder("small")
    x = b.input("x", (1, 3, 9, 11))
    w = b.param("w", rng.normal(size=(8, 3, 3, 3)))
    y = b.conv2d(x, w, strides=2, pads=(1, 0, 2, 1), name="conv")
    y = b.relu(y, name="relu")
    p = b.max_pool(y, 2, name="pool")
    b.output(b.flatten(p, name="flat"))
    return b


def test_builder_infers_shapes():
    b = _small(np.random.default_rng(0))
    assert b.type_of("conv").shape == (1, 8, 5, 5)  # (9+1+2-3)//2+1, (11+0+1-3)//2+1
    assert b.type_of("pool").shape == (1, 8, 2, 2)
    assert b.type_of("flat").shape == (1, 32)
    g = b.build()
    assert g.outputs == ("flat",) and g.op_counts() == {"conv2d": 1, "relu": 1,
                                                        "max_pool": 1, "flatten": 1}
    assert g.producer("relu").op == "relu" and [n.name for n in g.consumers("relu")] == ["pool"]
    assert "flat = flatten(pool)" in g.summary()


def test_graph_is_immutable():
    g = _small(np.random.default_rng(0)).build()
    with pytest.raises(ValueError):
        g.params["w"][0, 0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        g.nodes = ()
    n = g.node("pool")
    assert n.attr("kernel") == 2 and isinstance(n.attr("strides"), int)
    with pytest.raises(TypeError):
        n.attrs["kernel"] = 3


@pytest.mark.parametrize("make, message", [
    (lambda b: b.conv2d("x", b.param("w", np.zeros((4, 5, 3, 3)))), "input channels"),
    (lambda b: b.node("frobnicate", ["x"]), "unknown op"),
    (lambda b: b.relu("nope"), "not defined"),
    (lambda b: b.max_pool("x", 3, 1, 3), "smaller than the kernel"),
    (lambda b: b.reshape("x", (5, 5)), "cannot reshape"),
    (lambda b: b.concat(["x", b.input("y", (1, 3, 4, 4))]), "do not concatenate"),
    (lambda b: b.add("x", b.input("z", (1, 2, 8, 8))), "do not broadcast"),
])
def test_shape_errors_name_the_node(make, message):
    b = GraphBuilder("bad")
    b.input("x", (1, 3, 8, 8))
    with pytest.raises(ModelError, match=message):
        make(b)


def test_validation_rejects_bad_order():
    t = TensorType((1, 4))
    with pytest.raises(ModelError, match="not defined before"):
        Graph("g", ("x",), ("b",), (Node("relu", "b", ("a",), "b"), Node("relu", "a", ("x",),
                                                                         "a")),
              {}, {"x": t, "a": t, "b": t})
    with pytest.raises(ModelError, match="dtype"):
        TensorType((1,), "float16")


def test_fold_batch_norm_is_exact_enough():
    rng = np.random.default_rng(1)
    b = GraphBuilder("bn")
    x = b.input("x", (1, 4, 6, 6))
    y = b.conv2d(x, b.param("w", rng.normal(size=(5, 4, 3, 3))), b.param("b", rng.normal(size=5)),
                 pads=1)
    y = b.batch_norm(y, *(b.param(n, v) for n, v in (
        ("g", rng.uniform(0.5, 2, 5)), ("be", rng.normal(size=5)), ("m", rng.normal(size=5)),
        ("v", rng.uniform(0.5, 2, 5)))), epsilon=1e-3, name="bn")
    b.output(y)
    g = b.build()
    folded = fold_batch_norm(g)
    assert folded.op_counts() == {"conv2d": 1}
    assert folded.outputs == g.outputs
    x = rng.normal(size=(1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(run(folded, x)["bn"], run(g, x)["bn"], rtol=1e-4, atol=1e-4)


def test_fold_affine_merges_scale_and_bias():
    rng = np.random.default_rng(2)
    b = GraphBuilder("aff")
    x = b.input("x", (2, 6))
    y = b.dense(x, b.param("w", rng.normal(size=(3, 6))))
    y = b.node("mul", [y, b.param("s", np.float32([2.0]))])
    y = b.add(y, b.param("c", rng.normal(size=(1, 3))))
    b.output(y)
    g = b.build()
    f = fold_affine(g)
    assert f.op_counts() == {"dense": 1}
    xv = rng.normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_allclose(run(f, xv)[f.outputs[0]], run(g, xv)[g.outputs[0]], rtol=1e-5)


def test_remove_dead_and_rename():
    b = GraphBuilder("dead")
    x = b.input("x", (1, 4))
    b.relu(x, name="unused")
    b.output(b.clip(x, -1, 1, name="c"))
    g = remove_dead(b.build())
    assert [n.name for n in g.nodes] == ["c"]
    r = g.renamed({"c": "out"})
    assert r.outputs == ("out",) and r.nodes[0].output == "out"
    with pytest.raises(ModelError, match="existing"):
        g.renamed({"c": "x"})
