#!/usr/bin/env python3
"""Exports torchvision's detectors with their post-processing (opset 11, as torch.onnx.export
writes them: If/Loop, NonMaxSuppression, RoiAlign, TopK...) for bench/detectors.sh.

Random weights (seeded; score thresholds set to 0 so that post-processing has work to do), one
320x320 image (a coco128 image from ../shared when present, else seeded noise). Writes per model
DIR/NAME.onnx, DIR/NAME_in.npy and PyTorch's outputs DIR/NAME_torch_<output>.npy, outputs named
as torchvision's result dict orders them. No weights are downloaded or committed.

cascade_rcnn_resnet18_fpn is built here (torchvision has no Cascade R-CNN): three R-CNN stages as
mmdetection's cascade_rcnn_r50_fpn config describes them (RoIAlign 7x7 per stage, class-agnostic
box regression decoded with target stds 0.1/0.05/0.033 and 0.2/0.1/0.067 = BoxCoder weights
10,10,5,5 / 20,20,10,10 / 30,30,15,15, each stage refining the previous stage's boxes; scores
the mean of the three stages' logits, softmax; per-class NMS 0.5, 100 detections) on a
ResNet-18 FPN and torchvision's RPN.

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
    "cascade_rcnn_resnet18_fpn": None,  # cascade_rcnn() below
}


def cascade_rcnn():
    import torch
    import torch.nn.functional as F
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops import boxes as box_ops

    class CascadeRoIHeads(torch.nn.Module):
        def __init__(self, num_classes=91, weights=((10., 10., 5., 5.), (20., 20., 10., 10.),
                                                    (30., 30., 15., 15.))):
            super().__init__()
            self.pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
            self.heads = torch.nn.ModuleList(TwoMLPHead(256 * 49, 1024) for _ in weights)
            self.cls = torch.nn.ModuleList(torch.nn.Linear(1024, num_classes) for _ in weights)
            self.reg = torch.nn.ModuleList(torch.nn.Linear(1024, 4) for _ in weights)
            self.coders = [det_utils.BoxCoder(w) for w in weights]
            self.score_thresh, self.nms_thresh, self.detections_per_img = 0.05, 0.5, 100

        def forward(self, features, proposals, image_shapes, targets=None):
            rois, logits = proposals, []
            sizes = [r.shape[0] for r in proposals]
            for s in range(len(self.heads)):
                x = self.heads[s](self.pool(features, rois, image_shapes))
                logits.append(self.cls[s](x))
                boxes = self.coders[s].decode(self.reg[s](x), rois).reshape(-1, 4)
                boxes = [box_ops.clip_boxes_to_image(b, sh)
                         for b, sh in zip(boxes.split(sizes), image_shapes)]
                if s + 1 < len(self.heads):
                    rois = boxes
            scores = F.softmax(sum(logits) / len(logits), -1).split(sizes)
            result = []
            for b, sc in zip(boxes, scores):
                nc = sc.shape[1]
                labels = torch.arange(nc).view(1, -1).expand_as(sc)[:, 1:].reshape(-1)
                b = b.unsqueeze(1).expand(-1, nc - 1, 4).reshape(-1, 4)
                sc = sc[:, 1:].reshape(-1)
                keep = torch.where(sc > self.score_thresh)[0]
                b, sc, labels = b[keep], sc[keep], labels[keep]
                keep = box_ops.remove_small_boxes(b, min_size=1e-2)
                b, sc, labels = b[keep], sc[keep], labels[keep]
                keep = box_ops.batched_nms(b, sc, labels, self.nms_thresh)[:self.detections_per_img]
                result.append({"boxes": b[keep], "labels": labels[keep], "scores": sc[keep]})
            return result, {}

    backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)
    m = FasterRCNN(backbone, num_classes=91, min_size=512, max_size=512)
    m.roi_heads = CascadeRoIHeads()
    return m


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
        if MODELS[name] is None:
            m = cascade_rcnn().eval()
        else:
            ctor = getattr(torchvision.models.detection, MODELS[name])
            m = ctor(weights=None, weights_backbone=None).eval()
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
