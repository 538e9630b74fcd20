#!/usr/bin/env python3
"""Exports the "zoo": real torchvision architectures (plus two small hand-built blocks) to ONNX.

Usage: python3 bench/zoo_export.py --out DIR [--models a,b,c] [--opset N] [--list] [--all]

Needs Debian's python3-torch 1.13 / python3-torchvision 0.14 (no network: weights=None, random
init, torch.manual_seed(0)). BatchNorm statistics are re-estimated on random normal inputs (train
mode, momentum=None, a few forward passes) so that randomly initialised networks produce sane
activations. Each model is written to DIR/<name>.onnx with a fixed input shape [1,3,H,W]; a model
whose file already exists is skipped (cache). One line per model: name, opset, params, seconds
(or the error). A failing export does not stop the others. --all adds the heavy optional models
(deeplabv3_resnet50). convnext_tiny_op17 is always opset 17 (LayerNormalization); the others use
--opset (default 13, where LayerNorm is decomposed into ReduceMean/Sub/Pow/.../Add).
"""
import argparse
import os
import sys
import time
import traceback
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models as tvm


class SegOut(nn.Module):
    """torchvision segmentation models return a dict; export only its 'out' tensor."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


class GeluTanhBlock(nn.Module):
    """A few convs, then a transformer-style MLP on the tokens with tanh-approximated GELU."""

    def __init__(self, dim=64, hidden=256, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=4), nn.GELU(approximate="tanh"),
            nn.Conv2d(32, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim))
        self.norm1 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.stem(x)                   # [1, 64, 28, 28]
        t = x.flatten(2).transpose(1, 2)   # [1, 784, 64] tokens
        t = t + self.fc2(self.act(self.fc1(self.norm1(t))))
        t = self.norm2(t)
        return self.head(t.mean(dim=1))


def hswish(x):
    return x * F.relu6(x + 3.0) / 6.0


class PreactBlock(nn.Module):
    """Pre-activation ResNet pieces (BN->ReLU->Conv), InstanceNorm, GroupNorm, ZeroPad2d and
    ReflectionPad2d, a hand-written hardswish, mish, and channel splits (torch.split, slicing)."""

    def __init__(self, classes=1000):
        super().__init__()
        self.pad0 = nn.ZeroPad2d((1, 2, 1, 2))
        self.stem = nn.Conv2d(3, 32, 3, stride=2)                  # 227 -> 113
        self.bn1 = nn.BatchNorm2d(32)
        self.conv1 = nn.Conv2d(32, 64, 3, stride=2, padding=1)     # -> 57
        self.rpad = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(64, 64, 3, bias=False)
        self.inorm = nn.InstanceNorm2d(64, affine=True)
        self.bn_b = nn.BatchNorm2d(32)
        self.conv_b = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.gn_b = nn.GroupNorm(4, 32)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 64, 1)
        self.gn = nn.GroupNorm(8, 64)
        self.conv4 = nn.Conv2d(64, 128, 3, stride=2, padding=1)    # -> 29
        self.bn3 = nn.BatchNorm2d(128)
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        x = self.stem(self.pad0(x))
        x = self.conv1(F.relu(self.bn1(x)))                  # pre-activation
        x = hswish(self.inorm(self.conv2(self.rpad(x))))
        a, b = torch.split(x, 32, dim=1)
        b = F.mish(self.gn_b(self.conv_b(F.relu(self.bn_b(b)))))
        y = torch.cat([b, a], dim=1)                         # swap halves
        y = self.conv3(F.relu(self.bn2(y)))
        x = x + y                                            # pre-activation residual
        c = x.shape[1]
        lo, hi = x[:, : c // 2], x[:, c // 2:]
        x = torch.cat([hswish(hi), lo * torch.sigmoid(hi)], dim=1)
        x = self.conv4(F.mish(self.gn(x)))
        x = F.relu(self.bn3(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def nonzero_head(m):
    """torchvision zero-initialises ViT's classifier: the output would be all zeros (a parity
    check that always passes). Give it small random weights instead."""
    for layer in m.heads.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.normal_(layer.bias, std=0.02)
    return m


def layer_scale(m, value=0.1):
    """ConvNeXt's layer scale starts at 1e-6, which scales every residual branch (LayerNorm,
    GELU, the MLP) down to nothing in the output; trained models have much larger scales."""
    for name, p in m.named_parameters():
        if name.endswith("layer_scale"):
            p.data.fill_(value)
    return m


def seg(builder):
    return lambda: SegOut(builder(weights=None, weights_backbone=None, aux_loss=None))


# name -> (builder, input H, W, opset override or None, only with --all)
MODELS = {
    "resnet50": (lambda: tvm.resnet50(weights=None), 224, 224, None, False),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(weights=None), 224, 224, None, False),
    "mobilenet_v3_large": (lambda: tvm.mobilenet_v3_large(weights=None), 224, 224, None, False),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(weights=None), 224, 224, None, False),
    "convnext_tiny": (lambda: layer_scale(tvm.convnext_tiny(weights=None)), 224, 224, None, False),
    "convnext_tiny_op17": (lambda: layer_scale(tvm.convnext_tiny(weights=None)), 224, 224, 17,
                           False),
    "densenet121": (lambda: tvm.densenet121(weights=None), 224, 224, None, False),
    "shufflenet_v2_x1_0": (lambda: tvm.shufflenet_v2_x1_0(weights=None), 224, 224, None, False),
    "regnet_y_400mf": (lambda: tvm.regnet_y_400mf(weights=None), 224, 224, None, False),
    "resnext50_32x4d": (lambda: tvm.resnext50_32x4d(weights=None), 224, 224, None, False),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(weights=None), 224, 224, None, False),
    "googlenet": (lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True),
                  224, 224, None, False),
    "mnasnet1_0": (lambda: tvm.mnasnet1_0(weights=None), 224, 224, None, False),
    "vit_b_16": (lambda: nonzero_head(tvm.vit_b_16(weights=None)), 224, 224, None, False),
    "swin_t": (lambda: tvm.swin_t(weights=None), 224, 224, None, False),
    "fcn_resnet50": (seg(tvm.segmentation.fcn_resnet50), 320, 320, None, False),
    "lraspp_mobilenet_v3_large": (
        lambda: SegOut(tvm.segmentation.lraspp_mobilenet_v3_large(weights=None,
                                                                  weights_backbone=None)),
        320, 320, None, False),
    "gelu_tanh_block": (GeluTanhBlock, 224, 224, None, False),
    "preact_block": (PreactBlock, 224, 224, None, False),
    "deeplabv3_resnet50": (seg(tvm.segmentation.deeplabv3_resnet50), 320, 320, None, True),
}

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def recalibrate_bn(model, h, w, passes, batch):
    """Cumulative-average BatchNorm statistics over `passes` random normal batches."""
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    if not bns:
        return 0
    model.train()
    for m in bns:
        m.momentum = None
        m.reset_running_stats()
    with torch.no_grad():
        for _ in range(passes):
            model(torch.randn(batch, 3, h, w))
    return len(bns)


def export(name, out_dir, opset, passes, batch):
    builder, h, w, op_override, _ = MODELS[name]
    opset = op_override or opset
    path = os.path.join(out_dir, name + ".onnx")
    if os.path.exists(path):
        return f"{name:28s} opset {opset:2d}  cached      {path}"
    torch.manual_seed(0)
    t0 = time.time()
    model = builder()
    params = sum(p.numel() for p in model.parameters())
    nbn = recalibrate_bn(model, h, w, passes, batch)
    model.eval()
    tmp = path + ".tmp"
    try:
        # Not under no_grad: with gradients enabled nn.MultiheadAttention (ViT) keeps its
        # exportable path instead of aten::_native_multi_head_attention.
        torch.onnx.export(model, torch.randn(1, 3, h, w), tmp, opset_version=opset,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    mb = os.path.getsize(path) / 2**20
    return (f"{name:28s} opset {opset:2d}  {params / 1e6:7.2f} M params  {nbn:3d} BN  "
            f"{time.time() - t0:6.1f} s  {mb:6.1f} MiB  {h}x{w}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output folder (created)")
    ap.add_argument("--models", help="comma-separated subset (default: all but --all ones)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    ap.add_argument("--all", action="store_true", help="include heavy optional models")
    ap.add_argument("--calib-passes", type=int, default=6)
    ap.add_argument("--calib-batch", type=int, default=4)
    a = ap.parse_args()
    if a.list:
        for n, (_, h, w, op, heavy) in MODELS.items():
            print(f"{n:28s} {h}x{w}" + (f"  opset {op}" if op else "") + ("  (--all)" if heavy else ""))
        return 0
    if not a.out:
        ap.error("--out DIR is required")
    if a.models:
        names = [n for n in a.models.split(",") if n]
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            ap.error(f"unknown model(s): {', '.join(unknown)} (see --list)")
    else:
        names = [n for n, v in MODELS.items() if a.all or not v[4]]
    if not os.environ.get("ZOO_DEBUG"):
        warnings.filterwarnings("ignore")  # the exporter's TracerWarnings and shape notes
    os.makedirs(a.out, exist_ok=True)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{torch.get_num_threads()} thread(s)", flush=True)
    failed = 0
    for n in names:
        try:
            print(export(n, a.out, a.opset, a.calib_passes, a.calib_batch), flush=True)
        except Exception as e:  # one failing export must not stop the rest
            failed += 1
            msg = str(e).strip().splitlines()
            print(f"{n:28s} FAILED: {type(e).__name__}: {msg[0] if msg else ''}", flush=True)
            if os.environ.get("ZOO_DEBUG"):
                traceback.print_exc()
    print(f"{len(names) - failed}/{len(names)} exported or cached", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
