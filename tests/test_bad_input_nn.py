"""Bad input to the "nn" group's public API is refused with TypeError/ValueError naming the argument.

Issue 13's fuzzing classes, closed in mini_accel.nn (nn_layers, nn_activations,
nn_counting, nn_training), datasets, workloads, energy and the viz modules
viz / viz_energy / viz_systolic:

* a truthy string, 0 or 1 where a bool belongs -> TypeError;
* fractional, NaN or bool sizes where ints belong -> TypeError (0 or negative -> ValueError);
* impossibly large sizes (a 1e12-element broadcast view, a 1e12-weight layer) ->
  ValueError before any allocation (never MemoryError, never a hang);
* an unknown option string or catalog name -> ValueError (UnknownName is also a KeyError);
* non-finite or out-of-range numbers -> ValueError, non-numbers -> TypeError.

Each case runs through ``strategies.check_refused``, which fails on any other
exception type and on a message that does not name the argument.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bad_bools, bad_ints, bad_numbers, bad_options, check_refused, huge_broadcast

from mini_accel._checks import UnknownName
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.energy import EnergyModel, load_table
from mini_accel.nn import (
    Conv2d,
    Dense,
    GemmShape,
    LeakyReLU,
    MaxPool2d,
    Sequential,
    col2im,
    conv_output_size,
    im2col,
    softmax,
    train_mlp,
)
from mini_accel.workloads import get_workload, gpt2_small_decode, resnet50, tpu_v1_app

FAST = settings(max_examples=25, deadline=None)
X4 = np.linspace(0.0, 1.0, 24).reshape(6, 4)
Y4 = np.array([0, 1, 2, 0, 1, 2])
HUGE = huge_broadcast(10 ** 12)             # (10**6, 10**6) float64 view of one value


# --------------------------------------------------------------------------- #
# Bools
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_bools)
def test_bool_arguments_refuse_truthy_things(bad):
    check_refused(lambda: Dense(3, 2, bias=bad), name="bias")
    check_refused(lambda: Conv2d(1, 2, 3, bias=bad), name="bias")
    check_refused(lambda: holdout_split(X4, Y4, stratify=bad), name="stratify")
    check_refused(lambda: load_digits(as_images=bad), name="as_images")
    check_refused(lambda: resnet50().intensity(weights_only=bad), name="weights_only")


# --------------------------------------------------------------------------- #
# Ints: fractions, NaN, bools, strings
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_ints)
def test_sizes_refuse_non_ints(bad):
    check_refused(lambda: Dense(bad, 3), name="in_features")
    check_refused(lambda: Conv2d(3, 4, bad), name="kernel_size")
    check_refused(lambda: Conv2d(3, 4, 3, stride=(1, bad)), name="stride[1]")
    check_refused(lambda: GemmShape(bad, 4, 4), name="M")
    check_refused(lambda: conv_output_size(8, bad), name="kernel")
    check_refused(lambda: MaxPool2d(bad), name="kernel_size")
    check_refused(lambda: Dense(4, 2).gemm_shape((bad, 4)), name="input_shape[0]")
    check_refused(lambda: train_mlp(X4, Y4, epochs=bad), name="epochs")
    check_refused(lambda: train_mlp(X4, Y4, hidden=(8, bad)), name="hidden[1]")
    check_refused(lambda: resnet50(batch=bad), name="batch")
    check_refused(lambda: gpt2_small_decode(past_len=bad), name="past_len")
    check_refused(lambda: EnergyModel.horowitz_45nm("int8", buffer_bytes=bad), name="buffer_bytes")
    check_refused(lambda: EnergyModel({"mac": 1.0}, word_bits=bad), name="word_bits")


@pytest.mark.parametrize("call, name", [
    (lambda: Dense(0, 3), "in_features"),
    (lambda: Conv2d(3, 4, 3, padding=-1), "padding"),
    (lambda: GemmShape(4, 0, 4), "K"),
    (lambda: train_mlp(X4, Y4, batch_size=0), "batch_size"),
    (lambda: resnet50(batch=-2), "batch"),
    (lambda: softmax([1.0, 2.0], axis=3), "axis"),
])
def test_sizes_refuse_values_out_of_range(call, name):
    assert isinstance(check_refused(call, name=name), ValueError)


def test_class_ids_refuse_nan_and_fractions():
    check_refused(lambda: train_mlp(X4, [0, 1, np.nan, 0, 1, 2]), name="y")
    check_refused(lambda: train_mlp(X4, [0, 1, 2.5, 0, 1, 2]), name="y")
    check_refused(lambda: train_mlp(X4, [[0, 1], [2]]), name="y")      # ragged


# --------------------------------------------------------------------------- #
# Impossible sizes: ValueError before any allocation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("call, name", [
    (lambda: Dense(10 ** 6, 10 ** 6), "in_features * out_features"),
    (lambda: Conv2d(10 ** 4, 10 ** 4, 100), "weight"),
    (lambda: Dense(4, 2).forward(HUGE), "x"),
    (lambda: softmax(HUGE), "x"),
    (lambda: im2col(np.broadcast_to(0.0, (10 ** 3, 10 ** 3, 10 ** 3, 10 ** 3)), 3), "x"),
    (lambda: im2col(np.zeros((1, 1, 4, 4)), 3, padding=10 ** 7), "padded input"),
    (lambda: im2col(np.broadcast_to(0.0, (1, 4096, 64, 64)), 16), "im2col matrix"),
    (lambda: col2im(np.zeros((1, 1)), (1, 1, 10 ** 6, 10 ** 6), 1), "padded input"),
    (lambda: train_mlp(HUGE, np.zeros(10 ** 6, dtype=int)), "X"),
    (lambda: holdout_split(HUGE, np.zeros(10 ** 6)), "X"),
    (lambda: Sequential([Dense(4, 2)]).forward(HUGE), "x"),
])
def test_impossible_sizes_are_refused_before_allocating(call, name):
    exc = check_refused(call, name=name)
    assert isinstance(exc, ValueError) and "elements" in str(exc)


# --------------------------------------------------------------------------- #
# Numbers
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_numbers)
def test_numbers_refuse_non_finite_and_non_numbers(bad):
    check_refused(lambda: train_mlp(X4, Y4, lr=bad), name="lr")
    check_refused(lambda: train_mlp(X4, Y4, momentum=bad), name="momentum")
    check_refused(lambda: LeakyReLU(bad), name="slope")
    check_refused(lambda: holdout_split(X4, Y4, test_fraction=bad), name="test_fraction")
    check_refused(lambda: EnergyModel({"mac": bad}), name="mac")
    check_refused(lambda: EnergyModel.eyeriss(mac_pj=bad), name="mac_pj")
    check_refused(lambda: EnergyModel({"mac": 1.0}).report(events={"mac": bad}), name="mac")
    check_refused(lambda: resnet50().macs_per_weight_byte(bad), name="bytes_per_weight")


@given(fraction=st.sampled_from([0.0, 1.0, -0.1, 1.5]))
@settings(max_examples=8, deadline=None)
def test_fractions_outside_their_interval(fraction):
    check_refused(lambda: holdout_split(X4, Y4, test_fraction=fraction), name="test_fraction")
    check_refused(lambda: train_mlp(X4, Y4, momentum=abs(fraction) + 1.0), name="momentum")


def test_arrays_refuse_strings_objects_and_nan():
    check_refused(lambda: Dense(2, 2).forward([["a", "b"]]), name="x")
    check_refused(lambda: Dense(2, 2).forward([[1.0, np.inf]]), name="x")
    check_refused(lambda: softmax("abc"), name="x")
    check_refused(lambda: Dense(2, 2, rng="seed"), name="rng")
    check_refused(lambda: train_mlp(X4, Y4, seed=-1), name="seed")
    d = Dense(2, 2)
    d.forward(np.ones((1, 2)))
    check_refused(lambda: d.backward([[np.nan, 0.0]]), name="grad")


# --------------------------------------------------------------------------- #
# Options and catalog names
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_options)
def test_options_refuse_unknown_strings_and_non_strings(bad):
    check_refused(lambda: train_mlp(X4, Y4, activation=bad), name="activation")
    check_refused(lambda: resnet50(variant=bad), name="variant")
    check_refused(lambda: EnergyModel.horowitz_45nm(bad), name="precision")
    check_refused(lambda: EnergyModel.horowitz_45nm("int8", dram=bad), name="dram")
    check_refused(lambda: load_table(bad), name="name")


@pytest.mark.parametrize("call, name", [
    (lambda: get_workload("resnet5O"), "name"),
    (lambda: tpu_v1_app("MLP9"), "name"),
    (lambda: resnet50().layer("conv99"), "name"),
    (lambda: EnergyModel.horowitz_45nm("int8").cost("warp_drive"), "key"),
    (lambda: EnergyModel({"mac": 1.0}).cache_access("L9"), "name"),
])
def test_catalog_lookups_raise_unknown_name(call, name):
    exc = check_refused(call, name=name)
    assert isinstance(exc, UnknownName) and isinstance(exc, KeyError)   # old except KeyError still works


def test_catalog_lookups_refuse_non_strings():
    check_refused(lambda: get_workload(3), name="name")
    check_refused(lambda: tpu_v1_app(None), name="name")
    check_refused(lambda: EnergyModel({"mac": 1.0}).report(events=[("mac", 1)]), name="events")
    check_refused(lambda: EnergyModel({"mac": 1.0}, sources="paper"), name="sources")


def test_int16_keeps_its_explanation():
    exc = check_refused(lambda: EnergyModel.horowitz_45nm("INT16"))
    assert "no 16-bit integer multiply energy is published" in str(exc)


# --------------------------------------------------------------------------- #
# Figures (refused before a figure is made)
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def viz():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from mini_accel import viz
    yield viz
    plt.close("all")


def test_figures_refuse_bad_input(viz):
    check_refused(lambda: viz.plot_utilization_heatmap(HUGE), name="data")
    check_refused(lambda: viz.plot_quantization_histogram(HUGE), name="values")
    check_refused(lambda: viz.plot_quantization_histogram([1.0, 2.0], bins=2.5), name="bins")
    check_refused(lambda: viz.plot_quantization_histogram([1.0, 2.0], {"t": (1.0, "x")}), name="threshold")
    check_refused(lambda: viz.plot_energy_breakdown({"a": 1.0}, log="yes"), name="log")
    check_refused(lambda: viz.plot_energy_breakdown({"a": 1.0}, xmax=float("nan")), name="xmax")
    check_refused(lambda: viz.utilization_grid(64, 64, sizes=[8, 2.5], batches=[1]), name="sizes[1]")
    check_refused(lambda: viz.utilization_grid(64, 64, sizes=[8], batches=range(10 ** 6)), name="batches")
    check_refused(lambda: viz.array_sweep(64.5, 64, 64), name="M")
    check_refused(lambda: viz.plot_device_landscape(precision="fp64"), name="precision")
    rep = EnergyModel({"mac": 1.0}).report(events={"mac": 3})
    check_refused(lambda: viz.plot_energy_report(rep, by="colour"), name="by")
    check_refused(lambda: viz.plot_energy_report({"mac": 3.0}), name="report")
