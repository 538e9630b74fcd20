#!/usr/bin/env python3
"""Turns an Ultralytics YOLOv8(-seg) ONNX export into one with DCNv2 blocks, as the seeds'
strawberry-grading model does: the 3x3 convolution of chosen C2f bottlenecks becomes a modulated
deformable convolution whose offsets and mask come from a new 3x3 convolution on the same input
(seeded small weights, mask bias +3 so sigmoid(mask) is about 0.95: the network still detects,
now through bilinear samples at learned offsets).

Writes two files with the same weights:
  OUT/NAME-dcn.onnx       opset 19, ONNX DeformConv (ONNX Runtime runs it too)
  OUT/NAME-dcn-mmcv.onnx  the original opset, mmcv::MMCVModulatedDeformConv2d as mmdeploy writes
                          DCNv2 (visionrt lowers it at load)

Usage: dcn_yolo.py MODEL.onnx OUT_DIR [--layers model.6/m.0,model.8/m.0]
The input model is read, never modified; no weights are committed anywhere.
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    src, out = args[0], args[1]
    layers = ["model.6/m.0", "model.6/m.1", "model.8/m.0"]
    if "--layers" in args:
        layers = args[args.index("--layers") + 1].split(",")
    model = onnx.load(src)
    inits = {i.name: i for i in model.graph.initializer}
    for kind in ("onnx", "mmcv"):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        g = m.graph
        nodes = []
        done = []
        for n in g.node:
            target = n.op_type == "Conv" and any(n.name == f"/{l}/cv2/conv/Conv" for l in layers)
            if not target:
                nodes.append(n)
                continue
            w = numpy_helper.to_array(inits[n.input[1]])
            cin = w.shape[1]
            base = n.name.replace("/", "_").strip("_")
            r = np.random.default_rng(len(done))  # the same weights in both variants
            om_w = (r.standard_normal((27, cin, 3, 3)) * 0.02).astype(np.float32)
            om_b = np.concatenate([np.zeros(18), np.full(9, 3.0)]).astype(np.float32)
            g.initializer.extend([numpy_helper.from_array(om_w, base + "_om_w"),
                                  numpy_helper.from_array(om_b, base + "_om_b")])
            for nm, v in (("_s0", [0]), ("_s18", [18]), ("_s27", [27]), ("_ax", [1])):
                g.initializer.append(numpy_helper.from_array(np.array(v, np.int64), base + nm))
            x, y = n.input[0], n.output[0]
            nodes += [
                helper.make_node("Conv", [x, base + "_om_w", base + "_om_b"], [base + "_om"],
                                 kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=base + "_offset_mask"),
                helper.make_node("Slice", [base + "_om", base + "_s0", base + "_s18", base + "_ax"],
                                 [base + "_off"], name=base + "_offset"),
                helper.make_node("Slice", [base + "_om", base + "_s18", base + "_s27", base + "_ax"],
                                 [base + "_mraw"], name=base + "_mask_logits"),
                helper.make_node("Sigmoid", [base + "_mraw"], [base + "_mask"], name=base + "_mask"),
            ]
            if kind == "onnx":
                nodes.append(helper.make_node(
                    "DeformConv", [x, n.input[1], base + "_off", n.input[2], base + "_mask"], [y],
                    pads=[1, 1, 1, 1], name=base + "_dcn"))
            else:
                nodes.append(helper.make_node(
                    "MMCVModulatedDeformConv2d",
                    [x, base + "_off", base + "_mask", n.input[1], n.input[2]], [y],
                    domain="mmcv", stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1,
                    deform_groups=1, name=base + "_dcn"))
            done.append(n.name)
        del g.node[:]
        g.node.extend(nodes)
        if kind == "onnx":
            for op in m.opset_import:
                if op.domain in ("", "ai.onnx"):
                    op.version = max(op.version, 19)
            m.ir_version = max(m.ir_version, 9)
        else:
            m.opset_import.append(helper.make_opsetid("mmcv", 1))
        stem = os.path.splitext(os.path.basename(src))[0]
        path = os.path.join(out, f"{stem}-dcn{'' if kind == 'onnx' else '-mmcv'}.onnx")
        os.makedirs(out, exist_ok=True)
        onnx.save(m, path)
        print(f"{path}: {len(done)} DCNv2 blocks ({', '.join(done)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
