#!/usr/bin/env python3
"""Writes a QDQ copy of a float ONNX model for INT8 speed and parity measurements.

Every Conv gets QuantizeLinear/DequantizeLinear on its input (u8, one pair per tensor, shared by
all the convolutions that read it), int8 weights with per-output-channel symmetric scales and an
int32 bias in x_scale * w_scale units, as ORT's quantize_static writes a QDQ model. The
activation ranges are NOT calibrated: every conv input gets the range --range (default -0.3..8,
about a SiLU output's), the first one [0, 1] (an image). The file is for measuring speed and
comparing runtimes on the same file; its accuracy means nothing (`visionrt quantize` is the
calibrated path).

Usage: python3 bench/make_qdq.py IN.onnx OUT.onnx [--range LO HI]
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--range", nargs=2, type=float, default=[-0.3, 8.0])
    a = ap.parse_args()
    m = onnx.load(a.src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    graph_inputs = {i.name for i in g.input}
    new_nodes, new_inits = [], []
    quantized = {}  # tensor -> dequantized name

    def act_qdq(x):
        if x in quantized:
            return quantized[x]
        lo, hi = (0.0, 1.0) if x in graph_inputs else a.range
        scale = (hi - lo) / 255.0
        zp = int(round(-lo / scale))
        s, z = f"{x}_qscale", f"{x}_qzp"
        new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        new_inits.append(numpy_helper.from_array(np.array(zp, np.uint8), z))
        new_nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [x + "_q"]))
        new_nodes.append(helper.make_node("DequantizeLinear", [x + "_q", s, z], [x + "_dq"]))
        quantized[x] = (x + "_dq", scale)
        return quantized[x]

    n_conv = 0
    for n in g.node:
        if n.op_type == "Conv" and len(n.input) >= 2 and n.input[1] in inits:
            x_dq, sx = act_qdq(n.input[0])
            w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
            sw = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-8) / 127.0
            wq = np.clip(np.round(w / sw[:, None, None, None]), -127, 127).astype(np.int8)
            wn = n.input[1]
            new_inits += [numpy_helper.from_array(wq, wn + "_int8"),
                          numpy_helper.from_array(sw.astype(np.float32), wn + "_scale"),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int8), wn + "_zp")]
            new_nodes.append(helper.make_node(
                "DequantizeLinear", [wn + "_int8", wn + "_scale", wn + "_zp"], [wn + "_dq"], axis=0))
            ins = [x_dq, wn + "_dq"]
            if len(n.input) > 2 and n.input[2]:
                b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
                sb = (np.float32(sx) * sw.astype(np.float32)).astype(np.float32)
                bq = np.round(b / sb).astype(np.int32)
                bn = n.input[2]
                new_inits += [numpy_helper.from_array(bq, bn + "_int32"),
                              numpy_helper.from_array(sb, bn + "_scale"),
                              numpy_helper.from_array(np.zeros(w.shape[0], np.int32), bn + "_zp")]
                new_nodes.append(helper.make_node(
                    "DequantizeLinear", [bn + "_int32", bn + "_scale", bn + "_zp"], [bn + "_dq"],
                    axis=0))
                ins.append(bn + "_dq")
            del n.input[:]
            n.input.extend(ins)
            n_conv += 1
        new_nodes.append(n)
    used = {i for n in new_nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used] + new_inits
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(new_nodes)
    if max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0) < 13:
        sys.exit("make_qdq.py: per-channel DequantizeLinear needs opset >= 13")
    onnx.checker.check_model(m)
    onnx.save(m, a.dst)
    print(f"{a.dst}: {n_conv} convolutions quantized")


if __name__ == "__main__":
    main()
