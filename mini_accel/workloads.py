"""Layer-by-layer GEMM shapes of real networks, derived from their published architectures.

Every network is a list of :class:`WorkloadLayer` records: the GEMM a layer
is (a :class:`~mini_accel.nn.GemmShape`, or None for element-wise layers),
its trainable parameters, the activation and weight elements it touches,
and the non-GEMM operations it does (same conventions as
:mod:`mini_accel.nn`: one elementary op each for add, multiply, compare,
exp, ...; 1 MAC = 2 ops). Nothing is allocated: ResNet-50 at batch 256 is
just arithmetic on shapes.

Networks (all at inference)
---------------------------
* :func:`resnet50` - He et al., "Deep Residual Learning for Image
  Recognition", CVPR 2016, Table 1 (50-layer column), 224x224 input,
  projection shortcuts (option B) where the shape changes. ``variant="v1.5"``
  (default) puts the stride-2 of a bottleneck in its 3x3 convolution as
  torchvision does; ``"v1"`` puts it in the first 1x1 as in the paper's
  Caffe model. BatchNorm after every convolution, no convolution bias.
* :func:`mobilenet_v2` - Sandler et al., "MobileNetV2: Inverted Residuals and
  Linear Bottlenecks", CVPR 2018, Tables 1 and 2 (width 1.0, 224x224).
* :func:`bert_base_layer` / :func:`bert_base` - Devlin et al., "BERT", NAACL
  2019, Sec. 3: L=12 layers, H=768, A=12 heads, feed-forward 4H=3072;
  vocabulary 30,522, 512 positions, 2 segment types (the released
  ``bert_config.json`` of BERT-Base).
* :func:`gpt2_small_decode` - Radford et al., "Language Models are
  Unsupervised Multitask Learners", 2019, smallest model: 12 layers,
  d_model 768, 12 heads, context 1024, vocabulary 50,257; LM head tied to the
  token embedding. One decode step: one new token per sequence attending to
  a key/value cache.
* :func:`tpu_v1_apps` - the six production applications of Jouppi et al.,
  "In-Datacenter Performance Analysis of a Tensor Processing Unit", ISCA
  2017, Table 1 (and measured Table 3), from ``data/tpu_v1_apps.csv``. The
  paper gives layer counts, weights, ops per weight byte and batch, not
  layer shapes, so no GEMM list is invented for them.

Checked totals (tests/test_workloads.py): ResNet-50 4.09 GMACs and
25,557,032 parameters (torchvision), MobileNetV2 300 M MACs (Sandler et al.
Table 4) and 3,504,872 parameters counted like torchvision, BatchNorm's scale
and shift included (the paper's Table 4 says 3.4 M: the count without
BatchNorm, 3,470,760), BERT-base 110 M parameters, GPT-2 small 124 M
parameters.

>>> from mini_accel.workloads import resnet50
>>> net = resnet50()
>>> round(net.macs / 1e9, 2), net.params
(4.09, 25557032)
>>> net.layer("conv1").gemm
GemmShape(M=12544, K=147, N=64, count=1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._checks import UnknownName, check_bool, check_instance, check_int, check_number, check_option
from .nn import GELU, GemmShape, ReLU, ReLU6, Tanh
from .tables import read_table

__all__ = [
    "WorkloadLayer",
    "Workload",
    "TpuApp",
    "PUBLISHED",
    "resnet50",
    "mobilenet_v2",
    "bert_base_layer",
    "bert_base",
    "gpt2_small_decode",
    "tpu_v1_apps",
    "tpu_v1_app",
    "get_workload",
    "WORKLOADS",
]

#: Published totals the derived networks are tested against, with their sources.
PUBLISHED = {
    "resnet50": {
        "macs": 4.089e9,
        "params": 25_557_032,
        "source": "torchvision ResNet50_Weights.IMAGENET1K_V1 meta: num_params 25557032, "
                  "_ops 4.089 (G multiply-adds of conv + fc); He et al. 2016 Table 1 gives "
                  "3.8e9 'FLOPs' (multiply-adds) for the 50-layer net",
    },
    "mobilenet_v2": {
        "macs": 300e6,
        "params": 3.4e6,
        "source": "Sandler et al. 2018 Table 4: MobileNetV2 (1.0, 224) 300M MAdds, 3.4M "
                  "parameters; torchvision MobileNet_V2_Weights meta: num_params 3504872 "
                  "(includes BatchNorm scale/shift), _ops 0.301",
    },
    "bert_base": {
        "params": 110e6,
        "source": "Devlin et al. 2019 Sec. 3: BERT_BASE (L=12, H=768, A=12), Total "
                  "Parameters=110M",
    },
    "gpt2_small": {
        "params": 124e6,
        "source": "OpenAI gpt-2 repository model name '124M' (the released smallest "
                  "checkpoint; Radford et al. 2019 Table 2 lists it as 117M, a count later "
                  "corrected by OpenAI)",
    },
}

# Non-GEMM operation counts per element (conventions of mini_accel.nn).
_OPS_BN = 2          # inference BatchNorm folded to y = x * scale + shift
_OPS_ADD = 1
_OPS_LAYERNORM_PER_ROW = (7, 3)   # 7n + 3 per row of n: mean, centre, square, var, rsqrt, scale, affine


@dataclass(frozen=True)
class WorkloadLayer:
    """One layer of a network.

    Attributes
    ----------
    name, kind : str
        ``kind`` is one of conv, dwconv, fc, matmul (activation x activation,
        e.g. attention), bn, layernorm, relu, relu6, gelu, tanh, softmax,
        add, pool, embedding.
    gemm : GemmShape or None
        The GEMM(s) of the layer (None for element-wise layers).
    params : int
        Trainable parameters owned by the layer (weights + bias, or
        BatchNorm/LayerNorm scale and shift).
    weight_elems : int
        Elements of the weight operand read by the GEMM (0 for activation x
        activation matmuls; a tied LM head reads weights it does not own).
    input_elems, output_elems : int
        Activation elements read and written (real tensor sizes, not the
        im2col copy; cached keys/values count as inputs).
    other_ops : int
        Operations outside the GEMM (bias adds, activations, normalisation).
    """

    name: str
    kind: str
    gemm: GemmShape | None = None
    params: int = 0
    weight_elems: int = 0
    input_elems: int = 0
    output_elems: int = 0
    other_ops: int = 0

    @property
    def macs(self) -> int:
        return self.gemm.macs if self.gemm is not None else 0

    def to_dict(self) -> dict:
        g = self.gemm
        return {
            "name": self.name, "kind": self.kind,
            "M": g.M if g else None, "K": g.K if g else None, "N": g.N if g else None,
            "count": g.count if g else None, "macs": self.macs, "params": self.params,
            "weight_elems": self.weight_elems, "input_elems": self.input_elems,
            "output_elems": self.output_elems, "other_ops": self.other_ops,
        }


@dataclass(frozen=True)
class Workload:
    """A network as a list of layers, with totals and intensities.

    >>> net = mobilenet_v2()
    >>> round(net.macs / 1e6), round(net.params / 1e6, 2)
    (301, 3.5)
    """

    name: str
    layers: tuple
    batch: int = 1
    source: str = ""

    # -- totals ----------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates of all GEMMs."""
        return sum(layer.macs for layer in self.layers)

    @property
    def ops(self) -> int:
        """All operations: 2 per MAC plus the non-GEMM ops."""
        return 2 * self.macs + self.other_ops

    @property
    def other_ops(self) -> int:
        return sum(layer.other_ops for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def weight_elems(self) -> int:
        """Weight elements read by the GEMMs (each weight once per forward pass)."""
        return sum(layer.weight_elems for layer in self.layers)

    @property
    def matmul_share(self) -> float:
        """Share of all operations that is GEMM (conv/fc/attention matmul)."""
        return 2 * self.macs / self.ops if self.ops else 0.0

    def activation_elems(self) -> int:
        """Activation elements read plus written, summed over layers (no fusion, no reuse)."""
        return sum(layer.input_elems + layer.output_elems for layer in self.layers)

    # -- intensities -------------------------------------------------------------
    def macs_per_weight_byte(self, bytes_per_weight: float = 1.0) -> float:
        """MACs per byte of weights fetched: the x-axis of the TPU v1 paper's rooflines.

        Assumes every weight is fetched once per forward pass of the batch.

        >>> round(resnet50().macs_per_weight_byte(), 1)
        160.3
        """
        bytes_per_weight = check_number("bytes_per_weight", bytes_per_weight, low=0, closed="neither")
        return self.macs / (self.weight_elems * bytes_per_weight)

    def intensity(self, bytes_per_element: float = 1.0, *, weights_only: bool = False) -> float:
        """Operations (2 per MAC) per byte moved to or from memory.

        With ``weights_only=True`` only weight bytes count (activations stay on
        chip, as in the TPU's Unified Buffer). Otherwise every layer reads its
        inputs and writes its outputs through memory: a pessimistic bound.

        >>> net = bert_base_layer()
        >>> net.intensity(weights_only=True) > net.intensity()
        True
        """
        bytes_per_element = check_number("bytes_per_element", bytes_per_element, low=0, closed="neither")
        weights_only = check_bool("weights_only", weights_only)
        moved = self.weight_elems if weights_only else self.weight_elems + self.activation_elems()
        return 2 * self.macs / (moved * bytes_per_element)

    # -- views ---------------------------------------------------------------------
    def gemm_layers(self) -> list:
        return [layer for layer in self.layers if layer.gemm is not None]

    def gemm_shapes(self) -> list:
        return [layer.gemm for layer in self.gemm_layers()]

    def layer(self, name: str) -> WorkloadLayer:
        """The layer called ``name`` (an :class:`~mini_accel._checks.UnknownName` error if none).

        >>> resnet50().layer("fc").gemm
        GemmShape(M=1, K=2048, N=1000, count=1)
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownName(f"name: {self.name} has no layer named {name!r}; "
                          f"see [layer.name for layer in workload.layers]")

    def by_kind(self) -> dict:
        """Totals (layers, MACs, params, other_ops) per layer kind."""
        out: dict = {}
        for layer in self.layers:
            row = out.setdefault(layer.kind, {"layers": 0, "macs": 0, "params": 0, "other_ops": 0})
            row["layers"] += 1
            row["macs"] += layer.macs
            row["params"] += layer.params
            row["other_ops"] += layer.other_ops
        return out

    def to_rows(self) -> list:
        return [layer.to_dict() for layer in self.layers]

    def summary(self) -> dict:
        return {"name": self.name, "batch": self.batch, "macs": self.macs, "params": self.params,
                "other_ops": self.other_ops, "matmul_share": self.matmul_share,
                "gemm_layers": len(self.gemm_layers()), "layers": len(self.layers)}

    def __repr__(self) -> str:
        return (f"Workload({self.name!r}, batch={self.batch}, layers={len(self.layers)}, "
                f"macs={self.macs:,}, params={self.params:,})")


# --------------------------------------------------------------------------- #
# CNN builder: tracks the activation shape (N, C, H, W) layer by layer
# --------------------------------------------------------------------------- #
class _CNN:
    def __init__(self, batch: int, channels: int, size: int):
        self.n, self.c, self.h, self.w = batch, channels, size, size
        self.layers: list[WorkloadLayer] = []

    @property
    def elems(self) -> int:
        return self.n * self.c * self.h * self.w

    def conv(self, name, cout, k, stride=1, pad=0, groups=1, bias=False):
        cin = self.c
        ho = (self.h + 2 * pad - k) // stride + 1
        wo = (self.w + 2 * pad - k) // stride + 1
        weights = cout * (cin // groups) * k * k
        out = self.n * cout * ho * wo
        self.layers.append(WorkloadLayer(
            name, "dwconv" if groups > 1 and groups == cin else "conv",
            GemmShape(self.n * ho * wo, (cin // groups) * k * k, cout // groups, count=groups),
            params=weights + (cout if bias else 0), weight_elems=weights,
            input_elems=self.elems, output_elems=out, other_ops=out if bias else 0))
        self.c, self.h, self.w = cout, ho, wo

    def bn(self, name):
        self.layers.append(WorkloadLayer(name, "bn", params=2 * self.c, input_elems=self.elems,
                                         output_elems=self.elems, other_ops=_OPS_BN * self.elems))

    def act(self, name, kind):
        per = {"relu": ReLU.ops_per_element, "relu6": ReLU6.ops_per_element}[kind]
        self.layers.append(WorkloadLayer(name, kind, input_elems=self.elems,
                                         output_elems=self.elems, other_ops=per * self.elems))

    def add(self, name):
        self.layers.append(WorkloadLayer(name, "add", input_elems=2 * self.elems,
                                         output_elems=self.elems, other_ops=_OPS_ADD * self.elems))

    def maxpool(self, name, k, stride, pad):
        before = self.elems
        self.h = (self.h + 2 * pad - k) // stride + 1
        self.w = (self.w + 2 * pad - k) // stride + 1
        self.layers.append(WorkloadLayer(name, "pool", input_elems=before, output_elems=self.elems,
                                         other_ops=self.elems * (k * k - 1)))

    def global_avgpool(self, name):
        before, hw = self.elems, self.h * self.w
        self.h = self.w = 1
        self.layers.append(WorkloadLayer(name, "pool", input_elems=before, output_elems=self.elems,
                                         other_ops=self.elems * hw))

    def fc(self, name, out_features, bias=True):
        cin = self.c * self.h * self.w
        self.layers.append(WorkloadLayer(
            name, "fc", GemmShape(self.n, cin, out_features),
            params=cin * out_features + (out_features if bias else 0),
            weight_elems=cin * out_features, input_elems=self.n * cin,
            output_elems=self.n * out_features, other_ops=self.n * out_features if bias else 0))
        self.c, self.h, self.w = out_features, 1, 1


def _batch(batch) -> int:
    return check_int("batch", batch, low=1)


def _image_size(image_size) -> int:
    image_size = check_int("image_size", image_size, low=1)
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 (five stride-2 stages), got {image_size}")
    return image_size


def resnet50(batch: int = 1, *, variant: Literal["v1", "v1.5"] = "v1.5", image_size: int = 224) -> Workload:
    """ResNet-50 at inference (He et al. 2016, Table 1, 50-layer column).

    conv1 7x7/2 (64) - maxpool 3x3/2 - stages of 3, 4, 6, 3 bottleneck
    blocks [1x1 p, 3x3 p, 1x1 4p] with p = 64, 128, 256, 512 - global average
    pool - fc 1000. Each stage's first block downsamples (except the first
    stage) and has a 1x1 projection shortcut.

    >>> net = resnet50(batch=8)
    >>> net.macs == 8 * resnet50().macs, len(net.gemm_layers())
    (True, 54)
    """
    batch = _batch(batch)
    variant = check_option("variant", variant, ("v1", "v1.5"))
    image_size = _image_size(image_size)
    net = _CNN(batch, 3, image_size)
    net.conv("conv1", 64, 7, stride=2, pad=3)
    net.bn("bn1")
    net.act("relu1", "relu")
    net.maxpool("maxpool", 3, 2, 1)
    for stage, (planes, blocks, stride) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            p = f"layer{stage}.{b}"
            shape_in = (net.c, net.h, net.w)
            s1, s2 = (s, 1) if variant == "v1" else (1, s)
            net.conv(f"{p}.conv1", planes, 1, stride=s1)
            net.bn(f"{p}.bn1")
            net.act(f"{p}.relu1", "relu")
            net.conv(f"{p}.conv2", planes, 3, stride=s2, pad=1)
            net.bn(f"{p}.bn2")
            net.act(f"{p}.relu2", "relu")
            net.conv(f"{p}.conv3", 4 * planes, 1)
            net.bn(f"{p}.bn3")
            if b == 0:   # projection shortcut on the block input
                main = (net.c, net.h, net.w)
                net.c, net.h, net.w = shape_in
                net.conv(f"{p}.downsample.conv", 4 * planes, 1, stride=s)
                net.bn(f"{p}.downsample.bn")
                assert (net.c, net.h, net.w) == main
            net.add(f"{p}.add")
            net.act(f"{p}.relu3", "relu")
    net.global_avgpool("avgpool")
    net.fc("fc", 1000)
    return Workload(f"ResNet-50 ({variant})", tuple(net.layers), batch,
                    "He et al., CVPR 2016, Table 1; torchvision resnet50 for v1.5")


# MobileNetV2 Table 2: (expansion t, output channels c, repeats n, first stride s)
_MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(batch: int = 1, *, image_size: int = 224) -> Workload:
    """MobileNetV2 (1.0) at inference (Sandler et al. 2018, Tables 1 and 2).

    Parameters are counted like torchvision (3,504,872 ~ 3.5 M, BatchNorm's
    scale and shift included); the paper's Table 4 gives 3.4 M, the count
    without BatchNorm (3,470,760).

    conv 3x3/2 (32) - 17 inverted-residual bottlenecks (1x1 expand by t,
    ReLU6; 3x3 depthwise, ReLU6; linear 1x1 project; residual add when the
    stride is 1 and the channels match; no expansion conv when t = 1) -
    conv 1x1 (1280) - global average pool - fc 1000. BatchNorm after every
    convolution.

    >>> net = mobilenet_v2()
    >>> dw = net.by_kind()["dwconv"]
    >>> dw["layers"], round(dw["macs"] / net.macs, 3)    # depthwise: 17 layers, 7% of MACs
    (17, 0.069)
    """
    batch = _batch(batch)
    image_size = _image_size(image_size)
    net = _CNN(batch, 3, image_size)
    net.conv("features.0.conv", 32, 3, stride=2, pad=1)
    net.bn("features.0.bn")
    net.act("features.0.relu6", "relu6")
    idx = 1
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            cin = net.c
            p = f"features.{idx}"
            if t != 1:
                net.conv(f"{p}.expand", cin * t, 1)
                net.bn(f"{p}.expand_bn")
                net.act(f"{p}.expand_relu6", "relu6")
            net.conv(f"{p}.depthwise", net.c, 3, stride=stride, pad=1, groups=net.c)
            net.bn(f"{p}.depthwise_bn")
            net.act(f"{p}.depthwise_relu6", "relu6")
            net.conv(f"{p}.project", c, 1)
            net.bn(f"{p}.project_bn")
            if stride == 1 and cin == c:
                net.add(f"{p}.add")
            idx += 1
    net.conv(f"features.{idx}.conv", 1280, 1)
    net.bn(f"features.{idx}.bn")
    net.act(f"features.{idx}.relu6", "relu6")
    net.global_avgpool("avgpool")
    net.fc("classifier", 1000)
    return Workload("MobileNetV2 (1.0, 224)", tuple(net.layers), batch,
                    "Sandler et al., CVPR 2018, Tables 1-2")


# --------------------------------------------------------------------------- #
# Transformers
# --------------------------------------------------------------------------- #
def _fc(name, rows, k, n, bias=True, *, tied=False):
    """A linear layer applied to ``rows`` token vectors."""
    w = k * n
    return WorkloadLayer(name, "fc", GemmShape(rows, k, n),
                         params=(0 if tied else w) + (n if bias else 0), weight_elems=w,
                         input_elems=rows * k, output_elems=rows * n,
                         other_ops=rows * n if bias else 0)


def _layernorm(name, rows, n):
    a, b = _OPS_LAYERNORM_PER_ROW
    return WorkloadLayer(name, "layernorm", params=2 * n, input_elems=rows * n,
                         output_elems=rows * n, other_ops=rows * (a * n + b))


def _elementwise(name, kind, elems, per_elem, inputs=1):
    return WorkloadLayer(name, kind, input_elems=inputs * elems, output_elems=elems,
                         other_ops=per_elem * elems)


def _attention(prefix, batch, q_len, kv_len, d_model, heads):
    """Scores, scaled softmax and context of multi-head attention (no projections)."""
    d_head = d_model // heads
    g = batch * heads
    kv_elems = batch * kv_len * d_model
    scores = g * q_len * kv_len
    return [
        WorkloadLayer(f"{prefix}.scores", "matmul", GemmShape(q_len, d_head, kv_len, count=g),
                      input_elems=batch * q_len * d_model + kv_elems, output_elems=scores),
        # scale by 1/sqrt(d_head): 1 op per score; softmax 5n - 2 per row of n
        WorkloadLayer(f"{prefix}.softmax", "softmax", input_elems=scores, output_elems=scores,
                      other_ops=scores + g * q_len * (5 * kv_len - 2)),
        WorkloadLayer(f"{prefix}.context", "matmul", GemmShape(q_len, kv_len, d_head, count=g),
                      input_elems=scores + kv_elems, output_elems=batch * q_len * d_model),
    ]


_BERT = {"layers": 12, "d_model": 768, "heads": 12, "d_ff": 3072,
         "vocab": 30522, "positions": 512, "segments": 2}


def _check_seq(seq_len, limit, what):
    seq_len = check_int("seq_len", seq_len, low=1)
    if seq_len > limit:
        raise ValueError(f"seq_len must be <= {limit} ({what}), got {seq_len}")
    return seq_len


def _bert_encoder_layers(prefix, batch, seq_len):
    d, h, f = _BERT["d_model"], _BERT["heads"], _BERT["d_ff"]
    rows = batch * seq_len
    gelu = GELU.ops_per_element
    return [
        _fc(f"{prefix}.attention.query", rows, d, d),
        _fc(f"{prefix}.attention.key", rows, d, d),
        _fc(f"{prefix}.attention.value", rows, d, d),
        *_attention(f"{prefix}.attention", batch, seq_len, seq_len, d, h),
        _fc(f"{prefix}.attention.output", rows, d, d),
        _elementwise(f"{prefix}.attention.residual", "add", rows * d, _OPS_ADD, inputs=2),
        _layernorm(f"{prefix}.attention.layernorm", rows, d),
        _fc(f"{prefix}.intermediate", rows, d, f),
        _elementwise(f"{prefix}.intermediate.gelu", "gelu", rows * f, gelu),
        _fc(f"{prefix}.output", rows, f, d),
        _elementwise(f"{prefix}.output.residual", "add", rows * d, _OPS_ADD, inputs=2),
        _layernorm(f"{prefix}.output.layernorm", rows, d),
    ]


def bert_base_layer(seq_len: int = 128, batch: int = 1) -> Workload:
    """One BERT-base encoder layer on ``batch`` sequences of ``seq_len`` tokens.

    Q, K, V projections (768x768 each), 12-head attention, output projection,
    residual + LayerNorm, feed-forward 768 -> 3072 (GELU) -> 768, residual +
    LayerNorm. Parameters: 4 (768^2 + 768) + 2 (768 * 3072) + 3072 + 768 +
    2 * 2 * 768 = 7,087,872.

    >>> layer = bert_base_layer(seq_len=128)
    >>> layer.params, layer.macs       # 128 * (4*768^2 + 2*768*3072) + 2 * 128^2 * 768
    (7087872, 931135488)
    """
    seq_len = _check_seq(seq_len, _BERT["positions"], "BERT has 512 position embeddings")
    batch = _batch(batch)
    return Workload(f"BERT-base encoder layer (seq {seq_len})",
                    tuple(_bert_encoder_layers("layer", batch, seq_len)), batch,
                    "Devlin et al., NAACL 2019, Sec. 3 (BERT_BASE)")


def bert_base(seq_len: int = 128, batch: int = 1) -> Workload:
    """The whole BERT-base encoder: embeddings, 12 layers and the pooler.

    >>> bert_base().params        # published as 110M (Devlin et al. 2019)
    109482240
    """
    seq_len = _check_seq(seq_len, _BERT["positions"], "BERT has 512 position embeddings")
    batch = _batch(batch)
    d = _BERT["d_model"]
    rows = batch * seq_len
    layers = [
        WorkloadLayer("embeddings.word", "embedding", params=_BERT["vocab"] * d, output_elems=rows * d),
        WorkloadLayer("embeddings.position", "embedding", params=_BERT["positions"] * d,
                      output_elems=rows * d),
        WorkloadLayer("embeddings.token_type", "embedding", params=_BERT["segments"] * d,
                      output_elems=rows * d),
        _elementwise("embeddings.sum", "add", rows * d, 2 * _OPS_ADD, inputs=3),
        _layernorm("embeddings.layernorm", rows, d),
    ]
    for i in range(_BERT["layers"]):
        layers += _bert_encoder_layers(f"encoder.layer.{i}", batch, seq_len)
    layers += [_fc("pooler.dense", batch, d, d),            # on the [CLS] token only
               _elementwise("pooler.tanh", "tanh", batch * d, Tanh.ops_per_element)]
    return Workload(f"BERT-base (seq {seq_len})", tuple(layers), batch,
                    "Devlin et al., NAACL 2019, Sec. 3; released bert_config.json")


_GPT2 = {"layers": 12, "d_model": 768, "heads": 12, "d_ff": 3072, "vocab": 50257, "context": 1024}


def gpt2_small_decode(past_len: int = 1023, batch: int = 1) -> Workload:
    """One decode step of GPT-2 small: a new token per sequence, ``past_len`` tokens cached.

    Every GEMM has ``M = batch`` (one token per sequence), so each weight is
    used ``batch`` times per step: at batch 1, one MAC per weight, which is
    why decoding is memory bound. Attention reads the key/value cache
    (``past_len + 1`` positions, the new token included).

    >>> step = gpt2_small_decode(past_len=0)
    >>> step.params, step.layer("h.0.attn.c_attn").gemm
    (124439808, GemmShape(M=1, K=768, N=2304, count=1))
    """
    past_len = check_int("past_len", past_len, low=0)
    if past_len + 1 > _GPT2["context"]:
        raise ValueError(f"past_len + 1 must be <= {_GPT2['context']} (GPT-2's context), got {past_len + 1}")
    batch = _batch(batch)
    d, h, f, V = _GPT2["d_model"], _GPT2["heads"], _GPT2["d_ff"], _GPT2["vocab"]
    T = past_len + 1
    gelu = GELU.ops_per_element
    layers = [
        WorkloadLayer("wte", "embedding", params=V * d, output_elems=batch * d),
        WorkloadLayer("wpe", "embedding", params=_GPT2["context"] * d, output_elems=batch * d),
        _elementwise("embeddings.sum", "add", batch * d, _OPS_ADD, inputs=2),
    ]
    for i in range(_GPT2["layers"]):
        p = f"h.{i}"
        layers += [
            _layernorm(f"{p}.ln_1", batch, d),
            _fc(f"{p}.attn.c_attn", batch, d, 3 * d),
            *_attention(f"{p}.attn", batch, 1, T, d, h),
            _fc(f"{p}.attn.c_proj", batch, d, d),
            _elementwise(f"{p}.attn.residual", "add", batch * d, _OPS_ADD, inputs=2),
            _layernorm(f"{p}.ln_2", batch, d),
            _fc(f"{p}.mlp.c_fc", batch, d, f),
            _elementwise(f"{p}.mlp.gelu", "gelu", batch * f, gelu),
            _fc(f"{p}.mlp.c_proj", batch, f, d),
            _elementwise(f"{p}.mlp.residual", "add", batch * d, _OPS_ADD, inputs=2),
        ]
    layers += [_layernorm("ln_f", batch, d),
               _fc("lm_head", batch, d, V, bias=False, tied=True)]   # weights = wte, owned there
    return Workload(f"GPT-2 small decode step (past {past_len})", tuple(layers), batch,
                    "Radford et al. 2019; released GPT-2 124M hparams (n_layer 12, n_embd 768, "
                    "n_head 12, n_ctx 1024, n_vocab 50257)")


# --------------------------------------------------------------------------- #
# TPU v1 production applications (Jouppi et al. 2017, Tables 1 and 3)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class TpuApp:
    """One of the six TPU v1 applications; None where the paper gives no number.

    >>> app = tpu_v1_app("MLP0")
    >>> app.weights, app.macs_per_inference
    (20000000.0, 20000000.0)
    """

    name: str
    kind: str
    lines_of_code: int | None
    fc_layers: int | None
    conv_layers: int | None
    vector_layers: int | None
    pool_layers: int | None
    total_layers: int
    nonlinearity: str
    weights: float
    ops_per_weight_byte: float
    batch: int
    deployed_pct: float | None
    measured_tops: float | None
    array_active_pct: float | None
    weight_stall_pct: float | None
    source: str

    @property
    def macs_per_weight_byte(self) -> float:
        """Table 1's "TPU Ops / Weight Byte" counts multiply-accumulates.

        For the MLPs and LSTMs it equals the batch size: each 8-bit weight is
        fetched once per batch and used once per example (one MAC), which only
        works out if an "op" on this axis is a MAC.
        """
        return self.ops_per_weight_byte

    @property
    def macs_per_inference(self) -> float:
        """Derived (D): weights x (ops per weight byte) / batch, with 1-byte weights."""
        return self.weights * self.ops_per_weight_byte / self.batch


def tpu_v1_apps() -> list:
    """The six production apps of the TPU v1 paper (Table 1, plus Table 3 measurements).

    >>> [(a.name, a.batch, a.ops_per_weight_byte) for a in tpu_v1_apps()][:2]
    [('MLP0', 200, 200.0), ('MLP1', 168, 168.0)]
    """
    rows = read_table("tpu_v1_apps.csv",
                      ints=("lines_of_code", "fc_layers", "conv_layers", "vector_layers",
                            "pool_layers", "total_layers", "batch"),
                      numbers=("weights", "ops_per_weight_byte", "deployed_pct_pair",
                               "measured_tops", "array_active_pct", "weight_stall_pct"))
    return [
        TpuApp(
            name=r["app"], kind=r["kind"], lines_of_code=r["lines_of_code"],
            fc_layers=r["fc_layers"], conv_layers=r["conv_layers"],
            vector_layers=r["vector_layers"], pool_layers=r["pool_layers"],
            total_layers=r["total_layers"], nonlinearity=r["nonlinearity"],
            weights=r["weights"], ops_per_weight_byte=r["ops_per_weight_byte"],
            batch=r["batch"], deployed_pct=r["deployed_pct_pair"],
            measured_tops=r["measured_tops"], array_active_pct=r["array_active_pct"],
            weight_stall_pct=r["weight_stall_pct"], source=r["source"],
        )
        for r in rows
    ]


def tpu_v1_app(name: str) -> TpuApp:
    """One TPU v1 app by name (MLP0, MLP1, LSTM0, LSTM1, CNN0, CNN1), any case.

    >>> tpu_v1_app("cnn0").batch
    8
    """
    apps = {a.name.lower(): a for a in tpu_v1_apps()}
    check_instance("name", name, str, what=f"one of {[a.name for a in apps.values()]} (a string)")
    if name.lower() not in apps:
        raise UnknownName(f"name: unknown TPU v1 app {name!r}; choose from {[a.name for a in apps.values()]}")
    return apps[name.lower()]


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #
WORKLOADS = {
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "bert_base_layer": bert_base_layer,
    "bert_base": bert_base,
    "gpt2_small_decode": gpt2_small_decode,
}


def get_workload(name: str, **kwargs) -> Workload:
    """A network by name (see ``WORKLOADS``), with its builder's keyword arguments.

    >>> get_workload("bert_base_layer", seq_len=64).batch
    1
    """
    check_instance("name", name, str, what=f"one of {sorted(WORKLOADS)} (a string)")
    if name not in WORKLOADS:
        raise UnknownName(f"name: unknown workload {name!r}; choose from {sorted(WORKLOADS)}")
    return WORKLOADS[name](**kwargs)
