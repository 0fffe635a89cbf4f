"""Post-training quantization of a trained MLP on the bundled digits."""
import numpy as np
import pytest

from mini_accel import SystolicArray
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.nn import Dense, ReLU, Sequential, Sigmoid, accuracy, train_mlp
from mini_accel.ptq import ptq_report, quantize_mlp
from mini_accel.quantizers import quantize


@pytest.fixture(scope="module")
def trained():
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = holdout_split(X / 16.0, y, test_fraction=0.25, seed=0)
    model = train_mlp(X_tr, y_tr, hidden=(64,), epochs=20, lr=0.1, batch_size=32, seed=0)
    calib = X_tr[np.random.default_rng(0).choice(len(X_tr), 256, replace=False)]
    return model, calib, X_te, y_te


@pytest.fixture(scope="module")
def report():
    return ptq_report(seed=0)


def test_report_table_shape_and_accuracy(report):
    configs = [(r["config"], r["method"]) for r in report.rows]
    assert configs == [("FP32", "-")] + [(f"INT{b}", m) for b in (8, 4)
                                          for m in ("minmax", "percentile", "mse", "entropy")]
    assert report.fp32_accuracy >= 0.95                       # the MLP really learned
    for r in report.rows[1:]:
        tolerance = 0.02 if r["bits"] == 8 else 0.05
        assert abs(r["accuracy"] - report.fp32_accuracy) <= tolerance, r
        assert r["array_macs"] == report.n_test * (64 * 64 + 64 * 10)
    assert report.n_test == 450 and report.n_calib == 256
    text = report.table()
    assert "INT4" in text and "entropy" in text and "accuracy (%)" in text
    assert f"{100 * report.fp32_accuracy:.2f}".rstrip("0").rstrip(".") in text
    assert "<th>accuracy (%)</th>" in report._repr_html_()


def test_report_is_reproducible(report):
    again = ptq_report(seed=0)
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in report.rows]
    assert [r.get("hidden_ranges") for r in again.rows] == [r.get("hidden_ranges") for r in report.rows]


def test_calibrators_clip_differently(report):
    by = {(r["config"], r["method"]): r for r in report.rows}
    mm = by[("INT8", "minmax")]["hidden_ranges"][0]
    assert by[("INT8", "entropy")]["hidden_ranges"][0] < mm        # KL clips the ReLU tail
    assert by[("INT8", "percentile")]["hidden_ranges"][0] <= mm


def test_two_bits_really_hurt(trained):
    # sanity check that the table measures quantization: 4 levels lose a lot
    model, calib, X_te, y_te = trained
    q = quantize_mlp(model, calib, bits=2, method="minmax")
    assert accuracy(model, X_te, y_te) - np.mean(q.predict(X_te) == y_te) > 0.1


@pytest.mark.parametrize("bits, method", [(8, "entropy"), (4, "mse"), (8, "minmax")])
def test_integer_path_matches_fake_quant_simulation(trained, bits, method):
    model, calib, X_te, y_te = trained
    q = quantize_mlp(model, calib, bits=bits, method=method)
    logits, counts = q.logits(X_te, SystolicArray(32, 32))
    fq = q.fake_quant_logits(X_te)
    assert np.mean(np.argmax(logits, 1) == np.argmax(fq, 1)) >= 0.99
    # hidden integers: the requantized layer is within one step of its float reference
    qx = q.quantize_input(X_te)
    q_hidden, _ = q.layers[0].forward(qx)
    assert np.max(np.abs(q_hidden - q.layers[0].reference(qx))) <= 1.0
    # logits: the last layer's accumulators are exact, so the only difference from the
    # simulation is the hidden rounding (at most one step per hidden unit)
    hidden_step = float(q.layers[0].output_qparams.scale)
    W_real = q.layers[1].weight_scale * np.abs(q.layers[1].weight_q)
    assert np.all(np.abs(logits - fq) <= hidden_step * W_real.sum(axis=0) + 1e-9)
    assert counts["macs"] == len(X_te) * (64 * 64 + 64 * 10)


def test_quantized_weights_and_ranges(trained):
    model, calib, _, _ = trained
    q = quantize_mlp(model, calib, bits=4, method="minmax")
    for layer in q.layers:
        assert layer.weight_q.min() >= -7 and layer.weight_q.max() <= 7      # narrow int4
        assert np.all(np.abs(layer.weight_q).max(axis=0) == 7)              # per-channel max
    qin = q.input_qparams
    assert (qin.qmin, qin.qmax, int(qin.zero_point)) == (-8, 7, -8)       # unsigned range in int4
    assert float(qin.scale) == float(np.float32(1.0) / np.float32(15))    # pixels/16 max 1
    assert quantize(calib, qin).dtype == np.int8


def test_quantize_mlp_rejects_what_it_cannot_do(trained):
    model, calib, _, _ = trained
    with pytest.raises(ValueError, match="Sigmoid"):
        quantize_mlp(Sequential([Dense(64, 8, rng=0), Sigmoid(), Dense(8, 2, rng=1)]), calib)
    with pytest.raises(ValueError, match="last Dense"):
        quantize_mlp(Sequential([Dense(64, 8, rng=0), ReLU()]), calib)
    with pytest.raises(TypeError, match="Sequential"):
        quantize_mlp([Dense(64, 8)], calib)
    with pytest.raises(ValueError, match="X_calib"):
        quantize_mlp(model, calib[:, :10])
    bad = calib.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quantize_mlp(model, bad)
    with pytest.raises(ValueError, match="8-bit"):
        quantize_mlp(model, calib, bits=12)
    with pytest.raises(ValueError, match="bits"):
        quantize_mlp(model, calib, bits=1)
    with pytest.raises(ValueError, match="method"):
        quantize_mlp(model, calib, method="kl")
    with pytest.raises(ValueError, match="methods"):
        ptq_report(methods=("minmax", "nope"))
