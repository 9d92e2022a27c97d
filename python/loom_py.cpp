// loom._loom: the thin pybind11 binding of loom's C++ API (<loom/loom.h>) that the `loom`
// Python package (python/loom/) is written over. It does three things and nothing else:
//
// - numpy arrays in: a C-contiguous, aligned, native f32 or i32 array is passed to the
//   compiled code in place (a TensorView of its memory, no copy); anything else numpy can
//   convert to the declared dtype is converted first (float64, int64, Fortran order, views
//   with strides). Floats are not truncated into an i32 input, and integers outside i32's
//   range are an error, not a wrap-around.
// - numpy arrays out: an output loom::Tensor becomes an array over the same memory, kept
//   alive by a capsule (no copy).
// - loom::Error becomes the Python exception loom.Error (a ValueError), with the API's
//   message; the GIL is released while compiled code runs.
#include <loom/loom.h>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace py = pybind11;

namespace {

/// Thrown inside the binding, raised in Python as loom.Error.
struct LoomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(const loom::Error &e) {
  if (e)
    throw LoomError(e.message());
}

template <typename T> T take(loom::Result<T> r) {
  if (!r)
    throw LoomError(r.error().message());
  return std::move(*r);
}

const char *dtypeOf(loom::DType t) { return t == loom::DType::F32 ? "float32" : "int32"; }

/// "float64 array of shape (2, 3)"
std::string describe(const py::array &a) {
  std::string s = py::str(a.dtype()).cast<std::string>() + " array of shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

/// `obj` as an array of `want`'s dtype that loom can read in place: `obj` itself when it
/// already is one, else a converted copy. `what` names it in errors ("input 'x'").
py::array readable(py::handle obj, loom::DType want, const std::string &what) {
  bool f32 = want == loom::DType::F32;
  if (f32 ? py::isinstance<py::array_t<float, py::array::c_style>>(obj)
          : py::isinstance<py::array_t<int32_t, py::array::c_style>>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (reinterpret_cast<uintptr_t>(a.data()) % 4 == 0)
      return a;
  }
  py::array a = py::array::ensure(obj);
  if (!a)
    throw LoomError(what + ": expected an array of " + dtypeOf(want) + ", got " +
                    py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  char kind = a.dtype().kind();
  bool integral = kind == 'i' || kind == 'u' || kind == 'b';
  if (!integral && !(f32 && kind == 'f'))
    throw LoomError(
        what + ": expected " + dtypeOf(want) + ", got a " + describe(a) +
        (f32 ? "" : " (convert floats to token ids explicitly, e.g. .astype(np.int32))"));
  if (f32)
    return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  // Integers into i32: checked against i32's range (numpy's cast would wrap around).
  auto wide = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (kind == 'u' && a.dtype().itemsize() == 8) // above INT64_MAX would wrap to negative
    wide = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(
        a.attr("clip")(0, std::numeric_limits<int64_t>::max()));
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  py::array_t<int32_t> out(shape);
  const int64_t *src = wide.data();
  int32_t *dst = out.mutable_data();
  for (py::ssize_t i = 0, n = wide.size(); i < n; ++i) {
    if (src[i] < std::numeric_limits<int32_t>::min() ||
        src[i] > std::numeric_limits<int32_t>::max())
      throw LoomError(what + ": value " + std::to_string(src[i]) + " of a " + describe(a) +
                      " does not fit in int32");
    dst[i] = (int32_t)src[i];
  }
  return std::move(out);
}

loom::TensorView viewOf(const py::array &a, loom::DType dtype) {
  return loom::TensorView(dtype, a.data(), std::vector<int64_t>(a.shape(), a.shape() + a.ndim()));
}

/// The memory of `t` as an array (no copy): the capsule keeps the tensor's storage alive.
py::array toNumpy(loom::Tensor t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  bool f32 = t.dtype() == loom::DType::F32;
  if (t.numel() == 0 || !t.data())
    return f32 ? py::array(py::array_t<float>(shape)) : py::array(py::array_t<int32_t>(shape));
  auto *owned = new loom::Tensor(std::move(t));
  py::capsule base(owned, [](void *p) { delete static_cast<loom::Tensor *>(p); });
  if (f32)
    return py::array_t<float>(shape, owned->f32(), base);
  return py::array_t<int32_t>(shape, owned->i32(), base);
}

py::dict toDict(std::vector<loom::NamedTensor> ts) {
  py::dict d;
  for (auto &nt : ts)
    d[py::str(nt.name)] = toNumpy(std::move(nt.tensor));
  return d;
}

/// (name, dtype, shape) with a shape's symbolic dims as strings.
py::tuple infoTuple(const loom::TensorInfo &info) {
  py::list shape;
  for (const loom::Dim &d : info.shape)
    if (d.isStatic())
      shape.append(d.size);
    else
      shape.append(d.symbol);
  return py::make_tuple(info.name, dtypeOf(info.dtype), py::tuple(shape));
}

py::list infoList(const std::vector<loom::TensorInfo> &infos) {
  py::list l;
  for (auto &i : infos)
    l.append(infoTuple(i));
  return l;
}

/// The dtype `name` is declared with among `infos` (f32 when it is not there: the API then
/// reports the unknown name).
loom::DType declared(const std::vector<loom::TensorInfo> &infos, const std::string &name) {
  for (auto &i : infos)
    if (i.name == name)
      return i.dtype;
  return loom::DType::F32;
}

/// Named views of a dict's arrays; `keep` holds the arrays (and any converted copies) alive
/// while the views are used without the GIL.
std::vector<loom::NamedView> views(const py::dict &arrays,
                                   const std::vector<const std::vector<loom::TensorInfo> *> &sig,
                                   const char *role, std::vector<py::array> &keep) {
  std::vector<loom::NamedView> out;
  for (auto [k, v] : arrays) {
    if (!py::isinstance<py::str>(k))
      throw LoomError(std::string(role) + " names must be strings, got " +
                      py::str(py::repr(k)).cast<std::string>());
    std::string name = k.cast<std::string>();
    loom::DType dtype = loom::DType::F32;
    for (auto *infos : sig)
      for (auto &i : *infos)
        if (i.name == name)
          dtype = i.dtype;
    py::array a = readable(v, dtype, std::string(role) + " '" + name + "'");
    keep.push_back(a);
    out.push_back({name, viewOf(a, dtype)});
  }
  return out;
}

py::tuple resultTuple(const loom::BatchResult &r) {
  return py::make_tuple(r.loss, py::cast(r.metrics));
}

/// A Trainer and the lock that keeps Python threads from using it at once.
struct PyTrainer {
  loom::Trainer trainer;
  std::mutex mutex;
};

} // namespace

/// generate(...) settings from a dict with the model file's keyword names (max_length,
/// sample, temperature, top_k, top_p, repetition_penalty, end_token); None leaves one as the
/// file says. An unknown key is a loom.Error.
loom::GenerateOptions generateOptions(const py::dict &d) {
  loom::GenerateOptions g;
  for (auto item : d) {
    std::string k = py::str(item.first);
    py::handle v = item.second;
    if (v.is_none())
      continue;
    if (k == "max_length")
      g.maxLength = v.cast<int64_t>();
    else if (k == "top_k")
      g.topK = v.cast<int64_t>();
    else if (k == "end_token")
      g.endToken = v.cast<int64_t>();
    else if (k == "beams")
      g.beams = v.cast<int64_t>();
    else if (k == "length_penalty")
      g.lengthPenalty = v.cast<double>();
    else if (k == "sample")
      g.sample = v.cast<bool>();
    else if (k == "temperature")
      g.temperature = v.cast<double>();
    else if (k == "top_p")
      g.topP = v.cast<double>();
    else if (k == "repetition_penalty")
      g.repetitionPenalty = v.cast<double>();
    else
      throw py::value_error("generate: unknown setting '" + k +
                            "' (max_length, sample, temperature, top_k, top_p, "
                            "repetition_penalty, end_token, beams, length_penalty)");
  }
  return g;
}

/// Model.from_file's and from_source's options.
loom::CompileOptions compileOptions(const std::string &model, unsigned optLevel,
                                    const py::dict &generate) {
  loom::CompileOptions o;
  o.model = model;
  o.optLevel = optLevel;
  o.generate = generateOptions(generate);
  return o;
}

PYBIND11_MODULE(_loom, m) {
  m.doc() = "loom's C++ API (loom/loom.h), bound for the loom package; use `import loom`";
  static py::exception<LoomError> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const LoomError &e) {
      error(e.what());
    }
  });

  py::class_<loom::Model>(m, "Model")
      .def_static(
          "from_file",
          [](const std::string &path, const std::string &model, unsigned optLevel,
             const py::dict &generate) {
            loom::CompileOptions o = compileOptions(model, optLevel, generate);
            py::gil_scoped_release unlocked;
            return take(loom::Model::fromFile(path, o));
          },
          py::arg("path"), py::arg("model") = "", py::arg("opt_level") = 3,
          py::arg("generate") = py::dict())
      .def_static(
          "from_source",
          [](const std::string &text, const std::string &model, unsigned optLevel,
             const std::string &name, const py::dict &generate) {
            loom::CompileOptions o = compileOptions(model, optLevel, generate);
            py::gil_scoped_release unlocked;
            return take(loom::Model::fromSource(text, o, name));
          },
          py::arg("text"), py::arg("model") = "", py::arg("opt_level") = 3,
          py::arg("name") = "<source>", py::arg("generate") = py::dict())
      .def_property_readonly("name", &loom::Model::name)
      .def_property_readonly("inputs", [](const loom::Model &s) { return infoList(s.inputs()); })
      .def_property_readonly("outputs", [](const loom::Model &s) { return infoList(s.outputs()); })
      .def_property_readonly("weights", [](const loom::Model &s) { return infoList(s.weights()); })
      .def_property_readonly("symbols", &loom::Model::symbols)
      .def_property_readonly("compile_seconds", &loom::Model::compileSeconds)
      .def("graph_dot", [](const loom::Model &s) { return take(s.graphDot()); })
      .def("has_weights", &loom::Model::hasWeights)
      .def("init_weights", [](loom::Model &s, uint64_t seed) { check(s.initWeights(seed)); })
      .def("load_weights",
           [](loom::Model &s, const std::string &path) { check(s.loadWeights(path)); })
      .def("set_weight",
           [](loom::Model &s, const std::string &key, py::handle value) {
             py::array a = readable(value, declared(s.weights(), key), "weight '" + key + "'");
             check(s.setWeight(key, viewOf(a, declared(s.weights(), key))));
           })
      .def("set_weights",
           [](loom::Model &s, const py::dict &weights) {
             std::vector<py::array> keep;
             check(s.setWeights(views(weights, {&s.weights()}, "weight", keep)));
           })
      .def("weight_values", [](const loom::Model &s) { return toDict(take(s.weightValues())); })
      .def(
          "run",
          [](const loom::Model &s, const py::dict &inputs) {
            std::vector<py::array> keep;
            std::vector<loom::NamedView> in = views(inputs, {&s.inputs()}, "input", keep);
            loom::Result<std::vector<loom::NamedTensor>> out = [&] {
              py::gil_scoped_release unlocked;
              return s.run(in);
            }();
            return toDict(take(std::move(out)));
          },
          "Runs the model; a dict of arrays in, a dict of arrays out.")
      .def("data_pointers", [](const loom::Model &s, const py::dict &inputs) {
        // What run() would hand the compiled code: the addresses of the inputs' memory
        // (the zero-copy tests compare them with the arrays' own).
        std::vector<py::array> keep;
        py::dict d;
        for (auto &nv : views(inputs, {&s.inputs()}, "input", keep))
          d[py::str(nv.name)] = reinterpret_cast<uintptr_t>(nv.view.data());
        return d;
      });

  py::class_<PyTrainer>(m, "Trainer")
      .def_static(
          "create",
          [](const std::string &path, const std::optional<std::string> &source,
             const std::string &model, std::optional<int64_t> epochs,
             std::optional<int64_t> batchSize, std::optional<double> learningRate,
             std::optional<int64_t> bptt, std::optional<bool> stateful, uint64_t seed) {
            loom::TrainOptions o;
            o.model = model;
            o.epochs = epochs;
            o.batchSize = batchSize;
            o.learningRate = learningRate;
            o.bptt = bptt;
            o.stateful = stateful;
            o.seed = seed;
            py::gil_scoped_release unlocked;
            auto t = source ? loom::Trainer::fromSource(*source, o, path)
                            : loom::Trainer::fromFile(path, o);
            return new PyTrainer{take(std::move(t)), {}};
          },
          py::arg("path"), py::arg("source") = py::none(), py::arg("model") = "",
          py::arg("epochs") = py::none(), py::arg("batch_size") = py::none(),
          py::arg("learning_rate") = py::none(), py::arg("bptt") = py::none(),
          py::arg("stateful") = py::none(), py::arg("seed") = 1)
      .def_property_readonly("inputs", [](PyTrainer &s) { return infoList(s.trainer.inputs()); })
      .def_property_readonly("targets", [](PyTrainer &s) { return infoList(s.trainer.targets()); })
      .def_property_readonly("loss_name", [](PyTrainer &s) { return s.trainer.lossName(); })
      .def_property_readonly("metric_names", [](PyTrainer &s) { return s.trainer.metricNames(); })
      .def_property_readonly("optimizer_name",
                             [](PyTrainer &s) { return s.trainer.optimizerName(); })
      .def_property_readonly("epochs", [](PyTrainer &s) { return s.trainer.epochs(); })
      .def_property_readonly("batch_size", [](PyTrainer &s) { return s.trainer.batchSize(); })
      .def_property_readonly("iterations", [](PyTrainer &s) { return s.trainer.iterations(); })
      .def_property(
          "learning_rate", [](PyTrainer &s) { return s.trainer.learningRate(); },
          [](PyTrainer &s, double lr) {
            std::lock_guard<std::mutex> lock(s.mutex);
            check(s.trainer.setLearningRate(lr));
          })
      .def("set_seed",
           [](PyTrainer &s, uint64_t seed) {
             std::lock_guard<std::mutex> lock(s.mutex);
             s.trainer.setSeed(seed);
           })
      .def("init_weights",
           [](PyTrainer &s, uint64_t seed) {
             std::lock_guard<std::mutex> lock(s.mutex);
             check(s.trainer.initWeights(seed));
           })
      .def("set_weights",
           [](PyTrainer &s, const py::dict &weights) {
             std::vector<py::array> keep;
             std::lock_guard<std::mutex> lock(s.mutex);
             check(s.trainer.setWeights(views(weights, {&s.trainer.weights()}, "weight", keep)));
           })
      .def("weight_values",
           [](PyTrainer &s) {
             std::lock_guard<std::mutex> lock(s.mutex);
             return toDict(take(s.trainer.weightValues()));
           })
      .def("check_data",
           [](PyTrainer &s, const py::dict &data, const std::string &what) {
             std::vector<py::array> keep;
             auto v = views(data, {&s.trainer.inputs(), &s.trainer.targets()}, "array", keep);
             py::gil_scoped_release unlocked;
             return take(s.trainer.checkData(v, what));
           })
      .def("train_batch",
           [](PyTrainer &s, const py::dict &batch) {
             std::vector<py::array> keep;
             auto v = views(batch, {&s.trainer.inputs(), &s.trainer.targets()}, "array", keep);
             loom::Result<loom::BatchResult> r = [&] {
               py::gil_scoped_release unlocked;
               std::lock_guard<std::mutex> lock(s.mutex);
               return s.trainer.trainBatch(v);
             }();
             return resultTuple(take(std::move(r)));
           })
      .def("evaluate_batch",
           [](PyTrainer &s, const py::dict &batch) {
             std::vector<py::array> keep;
             auto v = views(batch, {&s.trainer.inputs(), &s.trainer.targets()}, "array", keep);
             loom::Result<loom::BatchResult> r = [&] {
               py::gil_scoped_release unlocked;
               std::lock_guard<std::mutex> lock(s.mutex);
               return s.trainer.evaluateBatch(v);
             }();
             return resultTuple(take(std::move(r)));
           })
      .def("reset_states", [](PyTrainer &s) {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.trainer.resetStates();
      });

  m.def(
      "epoch_order",
      [](int64_t rows, bool shuffle, uint64_t seed, int64_t epoch) {
        std::vector<int64_t> order = loom::epochOrder(rows, shuffle, seed, epoch);
        return py::array_t<int64_t>((py::ssize_t)order.size(), order.data());
      },
      py::arg("rows"), py::arg("shuffle"), py::arg("seed"), py::arg("epoch"),
      "The row order of an epoch as `loom train` makes it.");
  m.def(
      "save_npz",
      [](const std::string &path, const py::dict &arrays) {
        std::vector<py::array> keep;
        std::vector<loom::NamedView> v;
        for (auto [k, a] : arrays) {
          std::string name = py::str(k).cast<std::string>();
          py::array arr = py::array::ensure(a);
          bool isInt = arr && (arr.dtype().kind() == 'i' || arr.dtype().kind() == 'u' ||
                               arr.dtype().kind() == 'b');
          loom::DType dt = isInt ? loom::DType::I32 : loom::DType::F32;
          py::array r = readable(a, dt, "array '" + name + "'");
          keep.push_back(r);
          v.push_back({name, viewOf(r, dt)});
        }
        check(loom::saveNpz(path, v));
      },
      py::arg("path"), py::arg("arrays"));
  m.def(
      "load_npz", [](const std::string &path) { return toDict(take(loom::loadNpz(path))); },
      py::arg("path"));
}
