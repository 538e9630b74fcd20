"""The Python module (python/visionrt_py.cpp) under pytest, on Debian's python3 and NumPy.

Outputs are checked against `visionrt run` and `visionrt predict` (separate processes, their own
compile) on the same inputs. ctest runs this with PYTHONPATH=build/python and VISIONRT_CLI set.
"""
import json
import os
import subprocess
import threading

import numpy as np
import pytest

import visionrt as vr

CLI = os.environ.get("VISIONRT_CLI", "build/visionrt")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "tiny.onnx")
    vr.write_demo_model(path)
    return path


def random_input(seed):
    return np.random.default_rng(seed).random((1, 3, 64, 64), dtype=np.float32)


def run_cli(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_model_and_ports(tiny):
    core = vr.Core()
    m = core.read_model(tiny)
    assert m.inputs == [{"name": "images", "dtype": "f32", "shape": [1, 3, 64, 64]}]
    assert m.outputs[0]["name"] == "output0"
    assert m.num_nodes > 5
    cm = core.compile_model(tiny, {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "1"})
    assert cm.get_property("NUM_STREAMS") == "1"
    assert cm.outputs[0]["shape"] == [1, 6, 1024]


def test_infer_equals_visionrt_run(tiny, tmp_path):
    x = random_input(3)
    np.save(tmp_path / "in.npy", x)
    run_cli("run", tiny, "--input", f"images={tmp_path / 'in.npy'}",
            "--save-outputs", str(tmp_path / "out"))
    want = np.load(tmp_path / "out" / "output0.npy")

    cm = vr.Core().compile_model(tiny)
    req = cm.create_infer_request()
    req.set_tensor("images", x)
    outs = req.infer()
    assert set(outs) == {"output0"}
    got = outs["output0"]
    assert got.dtype == np.float32 and got.shape == (1, 6, 1024)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(req.get_output_tensor(0), got)
    np.testing.assert_array_equal(req.get_tensor("output0"), got)
    # The other ways to pass inputs, and a compiled model called directly.
    np.testing.assert_array_equal(req.infer(x)["output0"], got)
    np.testing.assert_array_equal(req.infer([x])["output0"], got)
    np.testing.assert_array_equal(cm({"images": x})["output0"], got)


def test_inputs_are_converted_when_they_must_be(tiny):
    cm = vr.Core().compile_model(tiny)
    x = random_input(4)
    want = cm(x)["output0"]
    # float64 and a non-contiguous view convert (a copy); a nested list too.
    np.testing.assert_allclose(cm(x.astype(np.float64))["output0"], want, rtol=1e-6)
    f = np.asfortranarray(x)
    np.testing.assert_array_equal(cm(f)["output0"], want)
    np.testing.assert_allclose(cm({"images": x.tolist()})["output0"], want, rtol=1e-6)


def test_outputs_copy_by_default_views_on_request(tiny):
    req = vr.Core().compile_model(tiny).create_infer_request()
    a = req.infer(random_input(5))["output0"]
    view = req.get_output_tensor(0, copy=False)
    np.testing.assert_array_equal(view, a)
    b = req.infer(random_input(6))["output0"]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(view, b)  # the view follows the request's buffer


def test_zero_copy_input_keeps_the_array_alive(tiny):
    cm = vr.Core().compile_model(tiny)
    req = cm.create_infer_request()
    x = random_input(7)
    want = cm(x.copy())["output0"]
    req.set_tensor("images", x)
    del x  # the request holds the array
    np.testing.assert_array_equal(req.infer()["output0"], want)


def test_errors_are_python_exceptions_with_the_message(tiny, tmp_path):
    core = vr.Core()
    with pytest.raises(vr.IoError):
        core.read_model(str(tmp_path / "missing.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(vr.ModelError) as e:
        core.compile_model(str(bad))
    assert "bad.onnx" in str(e.value)
    cm = core.compile_model(tiny)
    req = cm.create_infer_request()
    with pytest.raises(vr.InputError, match=r"expected shape \[1,3,64,64\]"):
        req.set_tensor("images", np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(vr.InputError, match="no input named 'x'"):
        req.set_tensor("x", np.zeros((1, 3, 64, 64), np.float32))
    assert issubclass(vr.InputError, vr.Error) and issubclass(vr.Error, RuntimeError)


def test_async_and_threads(tiny):
    cm = vr.Core().compile_model(tiny, {"PERFORMANCE_HINT": "THROUGHPUT"})
    xs = [random_input(10 + i) for i in range(4)]
    want = [cm(x)["output0"] for x in xs]
    reqs = [cm.create_infer_request() for _ in xs]
    for r, x in zip(reqs, xs):
        r.start_async(x)
    for r, w in zip(reqs, want):
        r.wait()
        np.testing.assert_array_equal(r.get_output_tensor(0), w)
    # Python threads run inferences side by side (the GIL is released during infer).
    errors = []

    def worker(k):
        req = cm.create_infer_request()
        for _ in range(10):
            if not np.array_equal(req.infer(xs[k])["output0"], want[k]):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_predictor_equals_visionrt_predict(tiny, tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    # Written losslessly by visionrt itself: read back and predicted by the CLI.
    png = tmp_path / "img.png"
    import zlib, struct

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rgb = img[:, :, ::-1]
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(rgb.shape[0]))
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 160, 120, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    np.testing.assert_array_equal(vr.imread(str(png)), img)
    # Only image formats reach OpenCV; anything else names the file and the problem.
    dcm = tmp_path / "scan.dcm"
    dcm.write_bytes(b"\0" * 128 + b"DICM" + b"\1" * 64)
    with pytest.raises(Exception, match="scan.dcm: not a JPEG, PNG, BMP, TIFF, WebP or PNM image"):
        vr.imread(str(dcm))

    p = vr.Predictor(tiny, conf=0.05, iou=0.5, max_det=50, threads=1)
    assert p.task == "detect" and p.family == "yolov8"
    pred = p.predict(img)
    assert pred.task == "detect" and pred.image_size == (160, 120)
    assert len(pred) > 0

    out = tmp_path / "pred"
    run_cli("predict", "--model", tiny, str(png), "--out", str(out), "--conf", "0.05", "--iou", "0.5",
            "--max-det", "50")
    ref = json.loads((out / "predictions.json").read_text())
    assert len(ref) == len(pred.detections)
    for d, r in zip(pred.detections, ref):
        x, y, w, h = r["bbox"]
        assert abs(d.x1 - x) < 1e-2 and abs(d.y1 - y) < 1e-2
        assert abs(d.x2 - (x + w)) < 1e-2 and abs(d.y2 - (y + h)) < 1e-2
        assert abs(d.score - r["score"]) < 1e-4
    # Per-call thresholds.
    strict = p.predict(img, conf=0.9)
    assert all(d.score >= 0.9 for d in strict.detections)
    assert len(strict) < len(pred) or all(d.score >= 0.9 for d in pred.detections)
    with pytest.raises(vr.InputError):
        p.predict(img, conf=1.5)
    with pytest.raises(vr.InputError, match="uint8"):
        p.predict(img.astype(np.float32))


def test_predictor_on_the_shared_yolov8n_seg_when_present():
    model = os.path.join(os.environ.get("VISIONRT_SHARED", "../shared"), "models", "yolov8n-seg",
                         "yolov8n-seg.onnx")
    image = os.path.join(os.environ.get("VISIONRT_SHARED", "../shared"), "data", "coco128", "images",
                         "train2017", "000000000009.jpg")
    if not (os.path.exists(model) and os.path.exists(image)):
        pytest.skip(f"{model} or {image} is absent")
    p = vr.Predictor(model)
    img = vr.imread(image)
    pred = p.predict(img)
    assert pred.task == "segment" and len(pred) > 0
    m = pred.mask(0)
    assert m.shape == img.shape[:2] and m.dtype == np.uint8 and 0 < m.sum() < m.size
    d = pred.detections[0]
    ys, xs = np.nonzero(m)
    # The mask lies within its box, give or take one prototype cell (masks are cropped at the
    # prototypes' 1/4 resolution, then upsampled, as Ultralytics does without retina_masks).
    cell = 4 * max(img.shape[:2]) / 640 + 1
    assert xs.min() >= d.x1 - cell and xs.max() <= d.x2 + cell
    assert ys.min() >= d.y1 - cell and ys.max() <= d.y2 + cell
