// Python bindings (pybind11, Debian's pybind11-dev): `import visionrt`.
//   core = visionrt.Core()
//   compiled = core.compile_model("model.onnx", {"PERFORMANCE_HINT": "LATENCY"})
//   request = compiled.create_infer_request()
//   request.set_tensor("images", array)     # NumPy, zero-copy when C-contiguous of the right type
//   request.infer()                          # the GIL is released while it runs
//   out = request.get_output_tensor(0)       # a NumPy copy (copy=False: a view, see below)
//   predictor = visionrt.Predictor("yolov8n.onnx", conf=0.25)
//   prediction = predictor.predict(visionrt.imread("bus.jpg"))   # BGR uint8 HxWx3
// Errors are visionrt.Error (RuntimeError) and its subclasses ModelError, InputError, IoError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <opencv2/imgcodecs.hpp>

#include "common/strings.hpp"
#include "data/image_io.hpp"
#include "onnx/builder.hpp"
#include "visionrt/core.hpp"
#include "visionrt/vision.hpp"

namespace py = pybind11;
using namespace visionrt;

namespace {

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return py::dtype("float32");
    case DType::f64:
      return py::dtype("float64");
    case DType::f16:
      return py::dtype("float16");
    case DType::i8:
      return py::dtype("int8");
    case DType::u8:
      return py::dtype("uint8");
    case DType::i16:
      return py::dtype("int16");
    case DType::u16:
      return py::dtype("uint16");
    case DType::i32:
      return py::dtype("int32");
    case DType::u32:
      return py::dtype("uint32");
    case DType::i64:
      return py::dtype("int64");
    case DType::u64:
      return py::dtype("uint64");
    case DType::boolean:
      return py::dtype("bool");
    case DType::bf16:  // NumPy has no bfloat16: bf16 tensors come out as float32
    case DType::undefined:
      break;
  }
  return py::dtype("float32");
}

std::vector<py::ssize_t> numpy_shape(const Shape& s) { return {s.begin(), s.end()}; }

// A NumPy array of a tensor: a copy, or (copy=false) a view sharing the tensor's storage, kept
// alive by the array.
py::array to_numpy(const Tensor& t0, bool copy) {
  const Tensor t = t0.dtype() == DType::bf16 ? t0.cast(DType::f32) : t0;
  const py::dtype dt = numpy_dtype(t.dtype());
  if (copy) {
    py::array a(dt, numpy_shape(t.shape()));
    if (t.nbytes()) std::memcpy(a.mutable_data(), t.raw(), t.nbytes());
    return a;
  }
  auto* holder = new Tensor(t);
  py::capsule owner(holder, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, numpy_shape(t.shape()), {}, t.raw(), owner);
}

// A tensor of type `want` over a NumPy array: zero-copy when the array is C-contiguous and of
// that type (the tensor keeps the array alive), else converted (a copy).
Tensor from_numpy(const py::handle& obj, DType want, const std::string& what) {
  py::array a = py::array::ensure(obj);
  if (!a) throw InputError(str_cat(what, ": expected a NumPy array (or a nested list)"));
  Shape shape(a.shape(), a.shape() + a.ndim());
  if (want == DType::bf16) {
    py::array f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    return Tensor::from_bytes(DType::f32, shape, f.data(), static_cast<size_t>(f.nbytes()))
        .cast(DType::bf16);
  }
  const py::dtype dt = numpy_dtype(want);
  if (!a.dtype().is(dt) || !(a.flags() & py::array::c_style)) {
    if (a.dtype().kind() == 'f' && dt.kind() != 'f' && dt.kind() != 'b')
      throw InputError(str_cat(what, ": expected ", dtype_name(want), ", got a float array"));
    a = py::array::ensure(py::module_::import("numpy").attr("ascontiguousarray")(a, dt));
  }
  py::object keep = a;
  auto* holder = new py::object(keep);
  std::shared_ptr<void> alive(holder, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
  return Tensor::wrap(want, shape, const_cast<void*>(a.data()), alive);
}

// A request with its compiled model (the inputs' types come from it).
struct PyRequest {
  CompiledModel cm;
  InferRequest r;
};

const PortInfo& port_named(const std::vector<PortInfo>& ports, const std::string& name) {
  for (const auto& p : ports)
    if (p.name == name) return p;
  std::string known;
  for (const auto& p : ports) known += (known.empty() ? "" : ", ") + p.name;
  throw InputError(str_cat("the model has no input named '", name, "' (inputs: ", known, ")"));
}

py::dict port_dict(const PortInfo& p) {
  py::dict d;
  d["name"] = p.name;
  d["dtype"] = dtype_name(p.dtype);
  d["shape"] = p.has_rank ? py::cast(p.shape) : py::none();
  return d;
}

py::list ports_list(const std::vector<PortInfo>& ports) {
  py::list l;
  for (const auto& p : ports) l.append(port_dict(p));
  return l;
}

void set_inputs(InferRequest& r, const CompiledModel& cm, const py::handle& inputs) {
  if (py::isinstance<py::dict>(inputs)) {
    for (auto item : py::reinterpret_borrow<py::dict>(inputs)) {
      const std::string name = py::str(item.first);
      const PortInfo& p = port_named(cm.inputs(), name);
      r.set_tensor(name, from_numpy(item.second, p.dtype, str_cat("input '", name, "'")));
    }
  } else if (py::isinstance<py::list>(inputs) || py::isinstance<py::tuple>(inputs)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(inputs);
    if (seq.size() != cm.inputs().size())
      throw InputError(str_cat("got ", seq.size(), " inputs, the model has ", cm.inputs().size()));
    for (size_t i = 0; i < seq.size(); ++i)
      r.set_input_tensor(i, from_numpy(seq[i], cm.inputs()[i].dtype,
                                       str_cat("input '", cm.inputs()[i].name, "'")));
  } else {
    if (cm.inputs().size() != 1)
      throw InputError(
          str_cat("the model has ", cm.inputs().size(), " inputs: pass a dict name -> array"));
    r.set_input_tensor(
        0, from_numpy(inputs, cm.inputs()[0].dtype, str_cat("input '", cm.inputs()[0].name, "'")));
  }
}

py::dict outputs_dict(const InferRequest& r, const CompiledModel& cm) {
  py::dict d;
  for (size_t i = 0; i < cm.outputs().size(); ++i)
    d[py::str(cm.outputs()[i].name)] = to_numpy(r.get_output_tensor(i), true);
  return d;
}

Config to_config(const py::dict& d) {
  Config c;
  for (auto item : d) c[py::str(item.first)] = py::str(item.second);
  return c;
}

// An 8-bit image as a cv::Mat over the array's pixels (HxW, HxWx1, HxWx3 or HxWx4; BGR order).
cv::Mat image_of(const py::array& obj) {
  py::array_t<uint8_t, py::array::c_style> a =
      py::array_t<uint8_t, py::array::c_style>::ensure(obj);
  if (!a || !obj.dtype().is(py::dtype("uint8")))
    throw InputError("the image must be a uint8 NumPy array (H x W x 3, BGR, as cv2.imread)");
  if (a.ndim() == 2)
    return cv::Mat(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), CV_8UC1,
                   const_cast<uint8_t*>(a.data()));
  if (a.ndim() != 3 || (a.shape(2) != 1 && a.shape(2) != 3 && a.shape(2) != 4))
    throw InputError("the image must be H x W, H x W x 3 (BGR) or H x W x 4");
  return cv::Mat(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)),
                 CV_8UC(static_cast<int>(a.shape(2))), const_cast<uint8_t*>(a.data()));
}

py::array mat_to_numpy(const cv::Mat& m) {
  std::vector<py::ssize_t> shape{m.rows, m.cols};
  if (m.channels() > 1) shape.push_back(m.channels());
  py::dtype dt = m.depth() == CV_32S ? py::dtype("int32") : py::dtype("uint8");
  py::array a(dt, shape);
  cv::Mat c = m.isContinuous() ? m : m.clone();
  std::memcpy(a.mutable_data(), c.data, c.total() * c.elemSize());
  return a;
}

}  // namespace

PYBIND11_MODULE(visionrt, m) {
  m.doc() = "visionrt: detection and segmentation models fast on CPUs";
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<ModelError> model_error(m, "ModelError", error.ptr());
  static py::exception<InputError> input_error(m, "InputError", error.ptr());
  static py::exception<IoError> io_error(m, "IoError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ModelError& e) {
      model_error(e.what());
    } catch (const InputError& e) {
      input_error(e.what());
    } catch (const IoError& e) {
      io_error(e.what());
    } catch (const Error& e) {
      error(e.what());
    }
  });

  py::class_<Model>(m, "Model")
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("inputs", [](const Model& x) { return ports_list(x.inputs()); })
      .def_property_readonly("outputs", [](const Model& x) { return ports_list(x.outputs()); })
      .def_property_readonly("metadata", &Model::metadata)
      .def_property_readonly("opset", &Model::opset)
      .def_property_readonly("num_nodes", &Model::num_nodes)
      .def_property_readonly("num_parameters", &Model::num_parameters)
      .def("reshape", &Model::reshape, py::arg("shapes"),
           "A copy with the given inputs' dynamic dimensions fixed: {name: [1, 3, 640, 640]}");

  py::class_<PyRequest>(m, "InferRequest")
      .def("set_input_tensor",
           [](PyRequest& r, size_t i, const py::handle& a) {
             if (i >= r.cm.inputs().size())
               throw InputError(str_cat("input index ", i, " out of range: the model has ",
                                        r.cm.inputs().size(), " inputs"));
             r.r.set_input_tensor(i, from_numpy(a, r.cm.inputs()[i].dtype,
                                                str_cat("input '", r.cm.inputs()[i].name, "'")));
           })
      .def("set_tensor",
           [](PyRequest& r, const std::string& name, const py::handle& a) {
             r.r.set_tensor(name, from_numpy(a, port_named(r.cm.inputs(), name).dtype,
                                             str_cat("input '", name, "'")));
           })
      .def(
          "infer",
          [](PyRequest& r, const py::object& inputs) {
            if (!inputs.is_none()) set_inputs(r.r, r.cm, inputs);
            {
              py::gil_scoped_release nogil;
              r.r.infer();
            }
            return outputs_dict(r.r, r.cm);
          },
          py::arg("inputs") = py::none(),
          "Runs (inputs: an array, a list, or a dict name -> array; None keeps those set) and "
          "returns {output name: array}")
      .def(
          "start_async",
          [](PyRequest& r, const py::object& inputs) {
            if (!inputs.is_none()) set_inputs(r.r, r.cm, inputs);
            r.r.start_async();
          },
          py::arg("inputs") = py::none())
      .def("wait",
           [](PyRequest& r) {
             py::gil_scoped_release nogil;
             r.r.wait();
           })
      .def(
          "wait_for",
          [](PyRequest& r, int64_t ms) {
            py::gil_scoped_release nogil;
            return r.r.wait_for(ms);
          },
          py::arg("ms"))
      .def(
          "get_output_tensor",
          [](const PyRequest& r, size_t i, bool copy) {
            return to_numpy(r.r.get_output_tensor(i), copy);
          },
          py::arg("index") = 0, py::arg("copy") = true,
          "copy=False gives a view of the request's buffer: the next infer overwrites it")
      .def(
          "get_tensor",
          [](const PyRequest& r, const std::string& name, bool copy) {
            return to_numpy(r.r.get_tensor(name), copy);
          },
          py::arg("name"), py::arg("copy") = true)
      .def_property_readonly("outputs", [](const PyRequest& r) { return outputs_dict(r.r, r.cm); });

  py::class_<CompiledModel>(m, "CompiledModel")
      .def_property_readonly("inputs",
                             [](const CompiledModel& c) { return ports_list(c.inputs()); })
      .def_property_readonly("outputs",
                             [](const CompiledModel& c) { return ports_list(c.outputs()); })
      .def_property_readonly("metadata", &CompiledModel::metadata)
      .def("get_property", &CompiledModel::get_property)
      .def("create_infer_request",
           [](const CompiledModel& c) {
             return PyRequest{c, c.create_infer_request()};
           })
      .def(
          "__call__",
          [](const CompiledModel& cm, const py::object& inputs) {
            InferRequest r = cm.create_infer_request();
            set_inputs(r, cm, inputs);
            {
              py::gil_scoped_release nogil;
              r.infer();
            }
            return outputs_dict(r, cm);
          },
          py::arg("inputs"), "One inference on a fresh request: {output name: array}");

  py::class_<Core>(m, "Core")
      .def(py::init<>())
      .def("read_model", &Core::read_model, py::arg("path"))
      .def(
          "compile_model",
          [](const Core& c, const py::object& model, const py::dict& config) {
            const Config cfg = to_config(config);
            if (py::isinstance<Model>(model)) {
              const Model mm = model.cast<Model>();
              py::gil_scoped_release nogil;
              return c.compile_model(mm, cfg);
            }
            const std::string path = py::str(model);
            py::gil_scoped_release nogil;
            return c.compile_model(path, cfg);
          },
          py::arg("model"), py::arg("config") = py::dict());

  py::class_<Detection>(m, "Detection")
      .def_readonly("x1", &Detection::x1)
      .def_readonly("y1", &Detection::y1)
      .def_readonly("x2", &Detection::x2)
      .def_readonly("y2", &Detection::y2)
      .def_readonly("score", &Detection::score)
      .def_readonly("class_id", &Detection::class_id)
      .def_readonly("label", &Detection::label)
      .def_property_readonly(
          "box", [](const Detection& d) { return py::make_tuple(d.x1, d.y1, d.x2, d.y2); })
      .def_property_readonly("polygon",
                             [](const Detection& d) {
                               py::list l;
                               for (const auto& q : d.polygon) l.append(py::make_tuple(q.x, q.y));
                               return l;
                             })
      .def("__repr__", [](const Detection& d) {
        return str_cat("Detection(", d.label.empty() ? std::to_string(d.class_id) : d.label, " ",
                       d.score, " [", d.x1, ", ", d.y1, ", ", d.x2, ", ", d.y2, "])");
      });

  py::class_<Prediction>(m, "Prediction")
      .def_property_readonly("task", [](const Prediction& p) { return task_name(p.task); })
      .def_readonly("detections", &Prediction::detections)
      .def_property_readonly("image_size",
                             [](const Prediction& p) {
                               return py::make_tuple(p.image_size.width, p.image_size.height);
                             })
      .def_property_readonly(
          "labels",
          [](const Prediction& p) -> py::object {
            if (p.labels.empty()) return py::none();
            return mat_to_numpy(p.labels);
          },
          "semantic: the class of every pixel (int32 H x W), else None")
      .def(
          "mask",
          [](const Prediction& p, size_t i) {
            return mat_to_numpy(image_mask(p.detections.at(i), p.image_size));
          },
          py::arg("index"), "detection i's instance mask on the whole image (uint8 0/1, H x W)")
      .def_readonly("preprocess_ms", &Prediction::preprocess_ms)
      .def_readonly("inference_ms", &Prediction::inference_ms)
      .def_readonly("postprocess_ms", &Prediction::postprocess_ms)
      .def("__len__", [](const Prediction& p) { return p.detections.size(); });

  py::class_<Predictor>(m, "Predictor")
      .def(py::init([](const std::string& path, float conf, float iou, int max_det, int imgsz,
                       int threads, const std::string& precision, const std::string& family,
                       const std::vector<std::string>& names) {
             PredictOptions o;
             o.conf = conf;
             o.iou = iou;
             o.max_det = max_det;
             o.imgsz = imgsz;
             o.threads = threads;
             o.precision = precision;
             o.family = family;
             o.names = names;
             py::gil_scoped_release nogil;
             return std::make_unique<Predictor>(path, o);
           }),
           py::arg("model"), py::arg("conf") = 0.25f, py::arg("iou") = 0.7f,
           py::arg("max_det") = 300, py::arg("imgsz") = 0, py::arg("threads") = 0,
           py::arg("precision") = "", py::arg("family") = "",
           py::arg("names") = std::vector<std::string>{})
      .def(
          "predict",
          [](Predictor& p, const py::array& image, py::object conf, py::object iou) {
            cv::Mat img = image_of(image);
            if (conf.is_none() && iou.is_none()) {
              py::gil_scoped_release nogil;
              return p.predict(img);
            }
            PredictOptions o = p.options();
            if (!conf.is_none()) o.conf = conf.cast<float>();
            if (!iou.is_none()) o.iou = iou.cast<float>();
            py::gil_scoped_release nogil;
            return p.predict(img, o);
          },
          py::arg("image"), py::arg("conf") = py::none(), py::arg("iou") = py::none(),
          "image: uint8 BGR H x W x 3 (as cv2.imread or visionrt.imread)")
      .def_property_readonly("task", [](const Predictor& p) { return task_name(p.task()); })
      .def_property_readonly("family", &Predictor::family)
      .def_property_readonly("names", &Predictor::names)
      .def("describe", &Predictor::describe);

  m.def(
      "imread",
      [](const std::string& path) {
        return mat_to_numpy(read_image(path));
      },
      py::arg("path"),
      "A JPEG, PNG, BMP, TIFF, WebP or PNM file as uint8 BGR H x W x 3 (OpenCV's decoders)");
  m.def(
      "write_demo_model", [](const std::string& path) { make_demo_detector().save(path); },
      py::arg("path"), "Writes the built-in tiny YOLO-style detector (input images [1,3,64,64])");
  m.attr("__version__") = "0.1.0";
}
