#!/usr/bin/env python3
"""Eager PyTorch's side of bench/train_speed.sh: YOLOv8 built module for module as Ultralytics
builds it (Conv+BN+SiLU, C2f, SPPF, the PAN neck, the decoupled head), one training step per
batch (train-mode forward, a surrogate loss = mean of squares of the head maps, backward, SGD
with Nesterov momentum), timed after warm-up. visionrt-train's --bench runs the same step on
src/train's libtorch network, so the ratio is the C++ trainer's overhead against Python's.

Usage: train_speed.py [--scale n] [--imgsz 320] [--batch 16] [--steps 10] [--threads 2]
Prints one JSON line: parameters, ms per step, images per second.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn


def make_div(x, d=8):
    return math.ceil(x / d) * d


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1, self.cv2 = Conv(c1, 2 * self.c), Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2), Conv(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class YOLOv8(nn.Module):
    SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768)}

    def __init__(self, scale="n", nc=80, reg_max=16):
        super().__init__()
        d, w, mx = self.SCALES[scale]
        C = lambda c: make_div(min(c, mx) * w)
        D = lambda n: max(round(n * d), 1) if n > 1 else n
        self.b = nn.ModuleList([Conv(3, C(64), 3, 2), Conv(C(64), C(128), 3, 2),
                                C2f(C(128), C(128), D(3), True), Conv(C(128), C(256), 3, 2),
                                C2f(C(256), C(256), D(6), True), Conv(C(256), C(512), 3, 2),
                                C2f(C(512), C(512), D(6), True), Conv(C(512), C(1024), 3, 2),
                                C2f(C(1024), C(1024), D(3), True), SPPF(C(1024), C(1024))])
        self.h12 = C2f(C(1024) + C(512), C(512), D(3), False)
        self.h15 = C2f(C(512) + C(256), C(256), D(3), False)
        self.d16 = Conv(C(256), C(256), 3, 2)
        self.h18 = C2f(C(256) + C(512), C(512), D(3), False)
        self.d19 = Conv(C(512), C(512), 3, 2)
        self.h21 = C2f(C(512) + C(1024), C(1024), D(3), False)
        ch = [C(256), C(512), C(1024)]
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3),
                                               nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3),
                                               nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        b = self.b
        x = b[2](b[1](b[0](x)))
        p3 = b[4](b[3](x))
        p4 = b[6](b[5](p3))
        p5 = b[9](b[8](b[7](p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        h15 = self.h15(torch.cat((self.up(h12), p3), 1))
        h18 = self.h18(torch.cat((self.d16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.d19(h18), p5), 1))
        return [torch.cat((self.cv2[i](f), self.cv3[i](f)), 1) for i, f in enumerate((h15, h18, h21))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="n")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = YOLOv8(a.scale).train()
    params = sum(p.numel() for p in m.parameters())
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.01, momentum=0.937,
                          nesterov=True)
    x = torch.rand(a.batch, 3, a.imgsz, a.imgsz)

    def step():
        opt.zero_grad()
        loss = sum((l * l).mean() for l in m(x))
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    ms = (time.perf_counter() - t) / a.steps * 1000
    print(json.dumps({"runtime": f"pytorch {torch.__version__} eager", "parameters": params,
                      "ms_per_step": round(ms, 1), "images_per_s": round(a.batch * 1000 / ms, 2)}))


if __name__ == "__main__":
    main()
