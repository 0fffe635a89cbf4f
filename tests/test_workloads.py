"""Real networks as GEMM lists: totals against published figures."""
import importlib.util

import pytest

from mini_accel.nn import GemmShape
from mini_accel.workloads import (
    WORKLOADS,
    Workload,
    bert_base,
    bert_base_layer,
    get_workload,
    gpt2_small_decode,
    mobilenet_v2,
    resnet50,
    tpu_v1_app,
    tpu_v1_apps,
)


# --------------------------------------------------------------------------- #
# ResNet-50
# --------------------------------------------------------------------------- #
def test_resnet50_matches_torchvision_published_totals():
    net = resnet50()
    # torchvision ResNet50_Weights.IMAGENET1K_V1 meta: "num_params": 25557032 (exact count,
    # conv weights + BatchNorm scale/shift + fc weights and bias).
    assert net.params == 25_557_032
    # Same meta: "_ops": 4.089 (GMACs of conv + fc). Given to 4 significant figures, so the
    # true value lies within half a unit of the last digit: |x - 4.089e9| <= 0.0005e9.
    assert abs(net.macs - 4.089e9) <= 0.0005e9


def test_resnet50_v1_matches_the_paper_figure():
    # He et al. 2016 Table 1: "3.8 x 10^9" FLOPs (multiply-adds) for the 50-layer net, with the
    # stride in the first 1x1 of a block. Two significant figures, truncated (the shapes of
    # its own Table 1 give 3.86e9, so the paper rounds down): the value lies in [3.8e9, 3.9e9).
    v1 = resnet50(variant="v1")
    assert 3.8e9 <= v1.macs < 3.9e9
    assert v1.params == resnet50().params


def test_resnet50_stride_placement_costs_what_the_hand_count_says():
    # Moving the stride from the first 1x1 (v1) to the 3x3 (v1.5) runs that 1x1 at the full
    # input resolution H x W instead of H/2 x W/2: 3/4 * H*W * c_in * p more MACs per stage.
    # Stages 2-4: (H, c_in, p) = (56, 256, 128), (28, 512, 256), (14, 1024, 512).
    extra = sum(3 * H * H * c_in * p // 4 for H, c_in, p in ((56, 256, 128), (28, 512, 256), (14, 1024, 512)))
    assert extra == 231_211_008
    assert resnet50().macs - resnet50(variant="v1").macs == extra


def test_resnet50_structure():
    net = resnet50()
    gemms = net.gemm_layers()
    downsample = [layer for layer in gemms if "downsample" in layer.name]
    # 50 weighted layers on the main path (conv1 + 16 blocks x 3 + fc) plus 4 projections
    assert len(gemms) - len(downsample) == 50 and len(downsample) == 4
    assert net.layer("conv1").gemm == GemmShape(112 * 112, 3 * 7 * 7, 64)
    assert net.layer("layer4.2.conv3").gemm == GemmShape(7 * 7, 512, 2048)
    assert net.layer("fc").gemm == GemmShape(1, 2048, 1000)
    assert net.layer("avgpool").input_elems == 2048 * 7 * 7


def test_resnet50_scales_with_batch():
    one, eight = resnet50(), resnet50(batch=8)
    assert eight.macs == 8 * one.macs and eight.params == one.params
    assert eight.layer("conv1").gemm.M == 8 * 112 * 112


def test_workload_totals_are_sums_of_layers():
    net = resnet50()
    kinds = net.by_kind()
    assert sum(k["macs"] for k in kinds.values()) == net.macs
    assert sum(k["params"] for k in kinds.values()) == net.params
    assert net.ops == 2 * net.macs + net.other_ops
    # the bulk of the work is GEMM (the DESIGN's "matmul/conv are ~90%+ of the work")
    assert 0.9 < net.matmul_share < 1.0
    rows = net.to_rows()
    assert len(rows) == len(net.layers) and rows[0]["name"] == "conv1" and rows[0]["K"] == 147


@pytest.mark.parametrize("kwargs, exc", [
    (dict(variant="v2"), ValueError), (dict(batch=0), ValueError), (dict(image_size=16), ValueError),
    (dict(batch=1.5), TypeError)])
def test_resnet50_rejects_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        resnet50(**kwargs)


# --------------------------------------------------------------------------- #
# MobileNetV2
# --------------------------------------------------------------------------- #
def test_mobilenet_v2_matches_published_totals():
    net = mobilenet_v2()
    # Sandler et al. 2018 Table 4: 300M multiply-adds. torchvision MobileNet_V2_Weights meta
    # "_ops": 0.301 (3 significant figures): within half a unit of the last digit.
    assert abs(net.macs - 0.301e9) <= 0.0005e9
    assert abs(net.macs - 300e6) / 300e6 < 0.005       # the paper's 300M, rounded
    # torchvision meta "num_params": 3504872 (counts BatchNorm scale and shift).
    assert net.params == 3_504_872
    # Table 4: 3.4M parameters, which matches the count without BatchNorm (3,470,760)
    # truncated to two significant figures.
    without_bn = net.params - net.by_kind()["bn"]["params"]
    assert 3.4e6 <= without_bn < 3.5e6


def test_mobilenet_v2_structure():
    net = mobilenet_v2()
    kinds = net.by_kind()
    # torchvision: 52 conv layers: 1 stem + 16 blocks x 3 + 1 block x 2 (t = 1) + 1 final 1x1
    assert kinds["conv"]["layers"] + kinds["dwconv"]["layers"] == 52
    assert kinds["dwconv"]["layers"] == 17
    # residual adds: stride-1 blocks whose input and output widths match: 1 + 2 + 3 + 2 + 2
    assert kinds["add"]["layers"] == 10
    dw = net.layer("features.2.depthwise")      # 96 channels, stride 2: 112 -> 56
    assert dw.gemm == GemmShape(56 * 56, 9, 1, count=96)
    assert net.layer("avgpool").input_elems == 1280 * 7 * 7


# --------------------------------------------------------------------------- #
# BERT-base
# --------------------------------------------------------------------------- #
def _bert_layer_macs(L):
    # per token: Q, K, V, output projections 4 * 768^2, FFN 2 * 768 * 3072; per sequence the
    # attention scores and context: 2 * L^2 * 768
    return L * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * L * L * 768


@pytest.mark.parametrize("L", [1, 128, 512])
def test_bert_layer_macs_match_the_hand_count(L):
    assert bert_base_layer(seq_len=L).macs == _bert_layer_macs(L)
    assert bert_base_layer(seq_len=L, batch=3).macs == 3 * _bert_layer_macs(L)


def test_bert_base_parameters():
    # hand count: embeddings 30522*768 + 512*768 + 2*768 + LayerNorm 2*768 = 23,837,184;
    # each layer 4*(768^2 + 768) + (768*3072 + 3072) + (3072*768 + 768) + 2*2*768 = 7,087,872;
    # pooler 768^2 + 768 = 590,592
    assert bert_base_layer().params == 7_087_872
    assert bert_base().params == 23_837_184 + 12 * 7_087_872 + 590_592 == 109_482_240
    # Devlin et al. 2019: "Total Parameters=110M", i.e. rounded to the nearest million or
    # coarser; the exact count is within 1% of it.
    assert abs(bert_base().params - 110e6) / 110e6 < 0.01
    assert bert_base(seq_len=128).macs == 12 * _bert_layer_macs(128) + 768 * 768   # + pooler


def test_bert_rejects_sequences_longer_than_its_positions():
    with pytest.raises(ValueError, match="512"):
        bert_base_layer(seq_len=513)


# --------------------------------------------------------------------------- #
# GPT-2 small
# --------------------------------------------------------------------------- #
def _gpt2_decode_macs(past, batch=1):
    d, f, V = 768, 3072, 50257
    per_layer = d * 3 * d + d * d + d * f + f * d + 2 * (past + 1) * d
    return batch * (12 * per_layer + d * V)


def test_gpt2_small_parameters():
    # hand count: wte 50257*768 + wpe 1024*768 + 12 * 7,087,872 (same layer size as BERT's)
    # + final LayerNorm 2*768; the LM head is tied to wte
    step = gpt2_small_decode()
    assert step.params == 50257 * 768 + 1024 * 768 + 12 * 7_087_872 + 2 * 768 == 124_439_808
    # published as "124M" (3 significant figures): within half a million
    assert abs(step.params - 124e6) <= 0.5e6


@pytest.mark.parametrize("past, batch", [(0, 1), (1023, 1), (100, 8)])
def test_gpt2_decode_macs_match_the_hand_count(past, batch):
    step = gpt2_small_decode(past_len=past, batch=batch)
    assert step.macs == _gpt2_decode_macs(past, batch)
    assert step.layer("lm_head").gemm == GemmShape(batch, 768, 50257)
    assert step.layer("lm_head").params == 0 and step.layer("lm_head").weight_elems == 768 * 50257


def test_gpt2_decode_is_weight_bound_at_batch_one():
    # about one MAC per weight element at batch 1; doubling the batch doubles the MACs per weight
    one, two = gpt2_small_decode(past_len=0), gpt2_small_decode(past_len=0, batch=2)
    assert 1.0 <= one.macs_per_weight_byte() < 1.01
    assert two.macs_per_weight_byte() == pytest.approx(2 * one.macs_per_weight_byte())
    with pytest.raises(ValueError, match="1024"):
        gpt2_small_decode(past_len=1024)


@pytest.mark.slow
def test_parameter_counts_agree_with_transformers_reference_models():
    """Independent reference: the Hugging Face implementations built from their default configs."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("transformers and torch are not installed")
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    bert = BertModel(BertConfig())
    assert sum(p.numel() for p in bert.parameters()) == bert_base().params
    gpt = GPT2LMHeadModel(GPT2Config())
    assert sum(p.numel() for p in gpt.parameters()) == gpt2_small_decode().params
    # the linear layers' MACs on a 128-token sequence, counted by forward hooks
    macs = []
    hook = lambda mod, inp, out: macs.append(out.numel() * mod.in_features)  # noqa: E731
    handles = [m.register_forward_hook(hook) for m in bert.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        bert(torch.zeros(1, 128, dtype=torch.long))
    for h in handles:
        h.remove()
    fc_macs = sum(layer.macs for layer in bert_base(seq_len=128).layers if layer.kind == "fc")
    assert sum(macs) == fc_macs
    assert any(isinstance(m, Conv1D) for m in gpt.modules())   # GPT-2's c_attn/c_fc layout


# --------------------------------------------------------------------------- #
# TPU v1 applications
# --------------------------------------------------------------------------- #
def test_tpu_v1_apps_table():
    apps = tpu_v1_apps()
    assert [a.name for a in apps] == ["MLP0", "MLP1", "LSTM0", "LSTM1", "CNN0", "CNN1"]
    for a in apps:
        parts = [n for n in (a.fc_layers, a.conv_layers, a.vector_layers, a.pool_layers) if n]
        assert sum(parts) == a.total_layers, a.name        # Table 1's columns add up
        assert a.source.startswith("Jouppi et al. ISCA 2017")
    # Table 1: for the MLPs and LSTMs ops/weight byte equals the batch: one MAC per weight
    # per example, which is why the paper's "ops" on that axis are MACs
    for a in apps[:4]:
        assert a.ops_per_weight_byte == a.batch
    # the six apps are "95% of the TPU's inference workload": 61% + 29% + 5% per pair
    assert sum({a.kind: a.deployed_pct for a in apps}.values()) == 95
    # Table 3 reports a mean of 21.4 TOPS over the six apps
    assert round(sum(a.measured_tops for a in apps) / 6, 1) == 21.4
    assert tpu_v1_app("cnn0").macs_per_inference == 8e6 * 2888 / 8
    with pytest.raises(KeyError, match="unknown TPU v1 app"):
        tpu_v1_app("RNN0")


def test_registry():
    assert set(WORKLOADS) == {"resnet50", "mobilenet_v2", "bert_base_layer", "bert_base", "gpt2_small_decode"}
    assert isinstance(get_workload("mobilenet_v2", batch=2), Workload)
    with pytest.raises(KeyError, match="unknown workload"):
        get_workload("vgg16")
