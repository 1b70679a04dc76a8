"""The digits CNN: deterministic numpy training, float vs int8 reference accuracy."""

import numpy as np
import pytest
from vta.compiler.frontend import interpreter as ref
from vta.compiler.frontend.digits import accuracy, load_digits_split, train_digits_cnn
from vta.compiler.frontend.quantize import quantize


@pytest.fixture(scope="module")
def data():
    return load_digits_split(0)


def test_split_is_fixed(data):
    assert data.x_train.shape == (1438, 1, 8, 8) and data.x_test.shape == (359, 1, 8, 8)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() <= data.x_train.max() <= 1
    again = load_digits_split(0)
    np.testing.assert_array_equal(again.y_test, data.y_test)


def test_training_is_deterministic(data):
    a = train_digits_cnn(data, epochs=1)
    b = train_digits_cnn(data, epochs=1)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])


@pytest.mark.slow
def test_int8_accuracy_within_one_point_of_float(data):
    net = train_digits_cnn(data)
    assert net.history[-1] < net.history[0]
    graph = net.graph()
    float_acc = accuracy(lambda x: ref.run(graph, x)["logits"], data.x_test, data.y_test)
    assert float_acc == pytest.approx((net.logits(data.x_test).argmax(1) == data.y_test).mean())
    assert float_acc > 0.95
    qgraph = quantize(graph, data.x_train[:64].reshape(64, 1, 1, 8, 8))
    int8_acc = accuracy(lambda x: ref.run(qgraph, x)["logits"], data.x_test, data.y_test)
    assert int8_acc >= float_acc - 0.01
