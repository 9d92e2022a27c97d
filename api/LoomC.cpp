// The C API (loom/loom_c.h) over the C++ API. Every entry point checks its pointers,
// records a failure's message in the handle it was called on (or the thread's global
// slot), and catches every exception.
#include "loom/loom.h"
#include "loom/loom_c.h"

#include <exception>
#include <string>
#include <type_traits>
#include <vector>

static_assert((int)loom::ErrorCode::Internal == LOOM_ERROR_INTERNAL, "codes agree");
static_assert((int)loom::ErrorCode::Runtime == LOOM_ERROR_RUNTIME, "codes agree");
static_assert((int)loom::DType::I32 == LOOM_I32, "dtypes agree");
// Every int a C caller passes, negative ones too, is a value of these types: loading one
// is defined (UBSan's -fsanitize=enum found -1 outside the range when the enums had no
// negative enumerator).
static_assert(std::is_same_v<std::underlying_type_t<loom_dtype>, int>, "any int is a dtype");
static_assert(std::is_same_v<std::underlying_type_t<loom_role>, int>, "any int is a role");

struct loom_call {
  loom_model *model = nullptr;
  std::vector<loom::NamedView> inputs;
  std::vector<loom::NamedTensor> outputs;
  bool ran = false;
  std::string lastError;
};

struct loom_model {
  explicit loom_model(loom::Model m) : model(std::move(m)) {
    for (const auto *list : {&model.inputs(), &model.outputs(), &model.weights()})
      for (const loom::TensorInfo &i : *list)
        typeStrs.push_back(i.typeStr());
    own.model = this;
  }
  loom::Model model;
  std::vector<std::string> typeStrs; // every tensor's declared type, inputs first
  loom_call own;                     // for loom_model_set_input / run / get_output
  mutable std::string lastError;
};

namespace {

thread_local std::string globalError;

loom_status fail(std::string &slot, loom_status code, std::string msg) {
  slot = std::move(msg);
  return code;
}

loom_status record(std::string &slot, const loom::Error &e) {
  if (e.ok())
    return LOOM_OK;
  slot = e.message();
  return (loom_status)e.code();
}

/// Runs `f`; an exception becomes LOOM_ERROR_INTERNAL with its message in `slot`.
template <typename F> loom_status guarded(std::string &slot, F &&f) {
  try {
    return f();
  } catch (const std::exception &e) {
    return fail(slot, LOOM_ERROR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(slot, LOOM_ERROR_INTERNAL, "internal error: unknown exception");
  }
}

loom_status nullArg(std::string &slot, const char *fn, const char *arg) {
  return fail(slot, LOOM_ERROR_INVALID_ARGUMENT, std::string(fn) + ": " + arg + " is null");
}

const std::vector<loom::TensorInfo> *listOf(const loom_model *m, loom_role role) {
  switch (role) {
  case LOOM_INPUT:
    return &m->model.inputs();
  case LOOM_OUTPUT:
    return &m->model.outputs();
  case LOOM_WEIGHT:
    return &m->model.weights();
  default:
    return nullptr;
  }
}

/// The info at `index` of `role`, or a recorded error.
loom_status lookupInfo(const loom_model *m, loom_role role, int64_t index, const char *fn,
                       const loom::TensorInfo **out, size_t *flat) {
  const auto *list = listOf(m, role);
  if (!list)
    return fail(m->lastError, LOOM_ERROR_INVALID_ARGUMENT,
                std::string(fn) + ": role " + std::to_string((int)role) + " is not one of " +
                    "LOOM_INPUT, LOOM_OUTPUT, LOOM_WEIGHT");
  if (index < 0 || index >= (int64_t)list->size())
    return fail(m->lastError, LOOM_ERROR_INVALID_ARGUMENT,
                std::string(fn) + ": index " + std::to_string(index) + " is out of range (" +
                    std::to_string(list->size()) + " tensor(s))");
  *out = &(*list)[index];
  *flat = (size_t)index + (role >= LOOM_OUTPUT ? m->model.inputs().size() : 0) +
          (role >= LOOM_WEIGHT ? m->model.outputs().size() : 0);
  return LOOM_OK;
}

/// A view of a C buffer, or a recorded error.
loom_status makeView(std::string &slot, const char *fn, const char *name, const void *data,
                     loom_dtype dtype, int64_t rank, const int64_t *dims, loom::TensorView *out) {
  if (!name)
    return nullArg(slot, fn, "name");
  if (dtype != LOOM_F32 && dtype != LOOM_I32)
    return fail(slot, LOOM_ERROR_INVALID_ARGUMENT,
                std::string(fn) + ": '" + name + "': dtype " + std::to_string((int)dtype) +
                    " is neither LOOM_F32 nor LOOM_I32");
  if (rank < 0 || rank > 64)
    return fail(slot, LOOM_ERROR_INVALID_ARGUMENT,
                std::string(fn) + ": '" + name + "': rank " + std::to_string(rank) +
                    " is out of range");
  if (rank > 0 && !dims)
    return nullArg(slot, fn, "dims");
  // The C++ layer checks negative dims, null data and alignment, naming the tensor.
  *out = loom::TensorView((loom::DType)dtype, data, std::vector<int64_t>(dims, dims + rank));
  return LOOM_OK;
}

loom_status setInput(loom_call *c, const char *fn, const char *name, const void *data,
                     loom_dtype dtype, int64_t rank, const int64_t *dims) {
  loom::TensorView v;
  if (loom_status s = makeView(c->lastError, fn, name, data, dtype, rank, dims, &v))
    return s;
  const auto &ins = c->model->model.inputs();
  bool known = false;
  for (const loom::TensorInfo &i : ins)
    known |= i.name == name;
  if (!known) {
    std::string list;
    for (const loom::TensorInfo &i : ins)
      list += (list.empty() ? "" : ", ") + i.name + ": " + i.typeStr();
    return fail(c->lastError, LOOM_ERROR_INPUT,
                std::string("'") + name + "' is not an input of model " + c->model->model.name() +
                    " (its inputs: " + list + ")");
  }
  // Checked in full (with the other inputs) by the run, which names both shapes.
  if (v.data() == nullptr) {
    bool empty = false;
    for (int64_t d : v.shape())
      empty |= d == 0;
    if (!empty)
      return fail(c->lastError, LOOM_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + ": input '" + name + "': data is null");
  }
  for (auto &nv : c->inputs)
    if (nv.name == name) {
      nv.view = v;
      return LOOM_OK;
    }
  c->inputs.push_back({name, v});
  return LOOM_OK;
}

loom_status runCall(loom_call *c) {
  c->ran = false;
  c->outputs.clear();
  auto out = c->model->model.run(c->inputs);
  if (!out)
    return record(c->lastError, out.error());
  c->outputs = std::move(*out);
  c->ran = true;
  return LOOM_OK;
}

loom_status getOutput(const loom_call *c, std::string &slot, const char *name, const void **data,
                      loom_dtype *dtype, int64_t *rank, const int64_t **dims) {
  if (!name)
    return nullArg(slot, "get_output", "name");
  const loom::Model &m = c->model->model;
  bool known = false;
  for (const loom::TensorInfo &i : m.outputs())
    known |= i.name == name;
  if (!known) {
    std::string list;
    for (const loom::TensorInfo &i : m.outputs())
      list += (list.empty() ? "" : ", ") + i.name;
    return fail(slot, LOOM_ERROR_INVALID_ARGUMENT,
                std::string("'") + name + "' is not an output of model " + m.name() +
                    " (its outputs: " + list + ")");
  }
  if (!c->ran)
    return fail(slot, LOOM_ERROR_NOT_RUN,
                std::string("output '") + name + "': the model has not run successfully yet");
  const loom::Tensor *t = loom::find(c->outputs, name);
  if (!t)
    return fail(slot, LOOM_ERROR_INTERNAL, std::string("output '") + name + "' is missing");
  if (data)
    *data = t->data();
  if (dtype)
    *dtype = (loom_dtype)t->dtype();
  if (rank)
    *rank = t->rank();
  if (dims)
    *dims = t->shape().data();
  return LOOM_OK;
}

loom_status create(loom::Result<loom::Model> r, loom_model **out) {
  if (!r)
    return record(globalError, r.error());
  *out = new loom_model(std::move(*r));
  return LOOM_OK;
}

} // namespace

extern "C" {

const char *loom_status_name(loom_status status) {
  if (status == LOOM_ERROR_NOT_RUN)
    return "not run";
  return loom::errorCodeName((loom::ErrorCode)status);
}

const char *loom_last_error(void) { return globalError.c_str(); }

loom_status loom_model_create_from_file(const char *path, const char *model_name,
                                        loom_model **out) {
  return guarded(globalError, [&] {
    if (!out)
      return nullArg(globalError, "loom_model_create_from_file", "out");
    *out = nullptr;
    if (!path)
      return nullArg(globalError, "loom_model_create_from_file", "path");
    loom::CompileOptions opts;
    opts.model = model_name ? model_name : "";
    return create(loom::Model::fromFile(path, opts), out);
  });
}

loom_status loom_model_create_from_source(const char *source, const char *source_name,
                                          const char *model_name, loom_model **out) {
  return guarded(globalError, [&] {
    if (!out)
      return nullArg(globalError, "loom_model_create_from_source", "out");
    *out = nullptr;
    if (!source)
      return nullArg(globalError, "loom_model_create_from_source", "source");
    loom::CompileOptions opts;
    opts.model = model_name ? model_name : "";
    return create(loom::Model::fromSource(source, opts, source_name ? source_name : "<source>"),
                  out);
  });
}

void loom_model_free(loom_model *m) { delete m; }

const char *loom_model_last_error(const loom_model *m) {
  return m ? m->lastError.c_str() : globalError.c_str();
}

const char *loom_model_name(const loom_model *m) { return m ? m->model.name().c_str() : ""; }

loom_status loom_model_count(const loom_model *m, loom_role role, int64_t *count) {
  if (!m)
    return nullArg(globalError, "loom_model_count", "model");
  return guarded(m->lastError, [&] {
    if (!count)
      return nullArg(m->lastError, "loom_model_count", "count");
    const auto *list = listOf(m, role);
    if (!list)
      return fail(m->lastError, LOOM_ERROR_INVALID_ARGUMENT,
                  "loom_model_count: role " + std::to_string((int)role) + " is unknown");
    *count = (int64_t)list->size();
    return LOOM_OK;
  });
}

loom_status loom_model_info(const loom_model *m, loom_role role, int64_t index, const char **name,
                            loom_dtype *dtype, int64_t *rank, const char **type) {
  if (!m)
    return nullArg(globalError, "loom_model_info", "model");
  return guarded(m->lastError, [&] {
    const loom::TensorInfo *info = nullptr;
    size_t flat = 0;
    if (loom_status s = lookupInfo(m, role, index, "loom_model_info", &info, &flat))
      return s;
    if (name)
      *name = info->name.c_str();
    if (dtype)
      *dtype = (loom_dtype)info->dtype;
    if (rank)
      *rank = (int64_t)info->shape.size();
    if (type)
      *type = m->typeStrs[flat].c_str();
    return LOOM_OK;
  });
}

loom_status loom_model_dim(const loom_model *m, loom_role role, int64_t index, int64_t axis,
                           int64_t *size, const char **symbol) {
  if (!m)
    return nullArg(globalError, "loom_model_dim", "model");
  return guarded(m->lastError, [&] {
    const loom::TensorInfo *info = nullptr;
    size_t flat = 0;
    if (loom_status s = lookupInfo(m, role, index, "loom_model_dim", &info, &flat))
      return s;
    if (axis < 0 || axis >= (int64_t)info->shape.size())
      return fail(m->lastError, LOOM_ERROR_INVALID_ARGUMENT,
                  "loom_model_dim: axis " + std::to_string(axis) + " is out of range for '" +
                      info->name + "' (" + info->typeStr() + ")");
    const loom::Dim &d = info->shape[axis];
    if (size)
      *size = d.isStatic() ? d.size : -1;
    if (symbol)
      *symbol = d.isStatic() ? nullptr : d.symbol.c_str();
    return LOOM_OK;
  });
}

loom_status loom_model_load_weights(loom_model *m, const char *npz_path) {
  if (!m)
    return nullArg(globalError, "loom_model_load_weights", "model");
  return guarded(m->lastError, [&] {
    if (!npz_path)
      return nullArg(m->lastError, "loom_model_load_weights", "npz_path");
    return record(m->lastError, m->model.loadWeights(npz_path));
  });
}

loom_status loom_model_set_weight(loom_model *m, const char *key, const void *data,
                                  loom_dtype dtype, int64_t rank, const int64_t *dims) {
  if (!m)
    return nullArg(globalError, "loom_model_set_weight", "model");
  return guarded(m->lastError, [&] {
    loom::TensorView v;
    if (loom_status s =
            makeView(m->lastError, "loom_model_set_weight", key, data, dtype, rank, dims, &v))
      return s;
    return record(m->lastError, m->model.setWeight(key, v));
  });
}

loom_status loom_model_init_weights(loom_model *m, uint64_t seed) {
  if (!m)
    return nullArg(globalError, "loom_model_init_weights", "model");
  return guarded(m->lastError, [&] { return record(m->lastError, m->model.initWeights(seed)); });
}

loom_status loom_model_set_input(loom_model *m, const char *name, const void *data,
                                 loom_dtype dtype, int64_t rank, const int64_t *dims) {
  if (!m)
    return nullArg(globalError, "loom_model_set_input", "model");
  return guarded(m->lastError, [&] {
    loom_status s = setInput(&m->own, "loom_model_set_input", name, data, dtype, rank, dims);
    if (s)
      m->lastError = m->own.lastError;
    return s;
  });
}

loom_status loom_model_run(loom_model *m) {
  if (!m)
    return nullArg(globalError, "loom_model_run", "model");
  return guarded(m->lastError, [&] {
    loom_status s = runCall(&m->own);
    if (s)
      m->lastError = m->own.lastError;
    return s;
  });
}

loom_status loom_model_get_output(const loom_model *m, const char *name, const void **data,
                                  loom_dtype *dtype, int64_t *rank, const int64_t **dims) {
  if (!m)
    return nullArg(globalError, "loom_model_get_output", "model");
  return guarded(m->lastError,
                 [&] { return getOutput(&m->own, m->lastError, name, data, dtype, rank, dims); });
}

loom_status loom_call_create(loom_model *m, loom_call **out) {
  return guarded(globalError, [&] {
    if (!out)
      return nullArg(globalError, "loom_call_create", "out");
    *out = nullptr;
    if (!m)
      return nullArg(globalError, "loom_call_create", "model");
    auto *c = new loom_call;
    c->model = m;
    *out = c;
    return LOOM_OK;
  });
}

void loom_call_free(loom_call *c) { delete c; }

const char *loom_call_last_error(const loom_call *c) {
  return c ? c->lastError.c_str() : globalError.c_str();
}

loom_status loom_call_set_input(loom_call *c, const char *name, const void *data, loom_dtype dtype,
                                int64_t rank, const int64_t *dims) {
  if (!c)
    return nullArg(globalError, "loom_call_set_input", "call");
  return guarded(c->lastError,
                 [&] { return setInput(c, "loom_call_set_input", name, data, dtype, rank, dims); });
}

loom_status loom_call_run(loom_call *c) {
  if (!c)
    return nullArg(globalError, "loom_call_run", "call");
  return guarded(c->lastError, [&] { return runCall(c); });
}

loom_status loom_call_get_output(const loom_call *c, const char *name, const void **data,
                                 loom_dtype *dtype, int64_t *rank, const int64_t **dims) {
  if (!c)
    return nullArg(globalError, "loom_call_get_output", "call");
  std::string &slot = const_cast<loom_call *>(c)->lastError;
  return guarded(slot, [&] { return getOutput(c, slot, name, data, dtype, rank, dims); });
}

} // extern "C"
