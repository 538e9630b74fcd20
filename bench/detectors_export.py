#!/usr/bin/env python3
"""Exports torchvision's detectors with their post-processing (opset 11, as torch.onnx.export
writes them: If/Loop, NonMaxSuppression, RoiAlign, TopK...) for bench/detectors.sh.

Random weights (seeded; score thresholds set to 0 so that post-processing has work to do), one
320x320 image (a coco128 image from ../shared when present, else seeded noise). Writes per model
DIR/NAME.onnx, DIR/NAME_in.npy and PyTorch's outputs DIR/NAME_torch_<output>.npy, outputs named
as torchvision's result dict orders them. No weights are downloaded or committed.

Usage: detectors_export.py DIR [NAME ...]   (names: --list)
"""
import glob
import os
import sys

import numpy as np

MODELS = {
    "fasterrcnn_mobilenet_v3_large_320_fpn": "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn": "retinanet_resnet50_fpn",
    "fcos_resnet50_fpn": "fcos_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large": "ssdlite320_mobilenet_v3_large",
    "maskrcnn_resnet50_fpn": "maskrcnn_resnet50_fpn",
}


def image(size=320):
    here = os.path.dirname(os.path.abspath(__file__))
    imgs = sorted(glob.glob(os.path.join(here, "..", "..", "shared", "data", "coco128", "images",
                                         "*", "*.jpg")))
    if imgs:
        from PIL import Image
        im = Image.open(imgs[1]).convert("RGB").resize((size, size))
        return np.asarray(im).astype(np.float32).transpose(2, 0, 1) / 255.0
    return np.random.default_rng(0).random((3, size, size), dtype=np.float32)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if sys.argv[1] == "--list":
        print("\n".join(MODELS))
        return 0
    out = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    import torch
    import torchvision
    os.makedirs(out, exist_ok=True)
    x = torch.from_numpy(np.ascontiguousarray(image()))
    for name in names:
        if name not in MODELS:
            print(f"detectors_export.py: unknown model {name} (see --list)", file=sys.stderr)
            return 2
        torch.manual_seed(0)
        ctor = getattr(torchvision.models.detection, MODELS[name])
        kw = dict(weights=None, weights_backbone=None)
        m = ctor(**kw).eval()
        for obj in (m, getattr(m, "roi_heads", None)):
            for attr in ("score_thresh", "box_score_thresh"):
                if obj is not None and hasattr(obj, attr):
                    setattr(obj, attr, 0.0)
        with torch.no_grad():
            res = m([x])[0]
        outputs = list(res.keys())
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(m, ([x],), path, opset_version=11, input_names=["image"],
                          output_names=outputs)
        np.save(os.path.join(out, name + "_in.npy"), x.numpy())
        for k, v in res.items():
            np.save(os.path.join(out, f"{name}_torch_{k}.npy"), v.numpy())
        print(f"{name}: {path} ({', '.join(f'{k} {tuple(v.shape)}' for k, v in res.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
