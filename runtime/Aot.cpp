// The generic half of an ahead-of-time compiled model: contexts, size checks, weights
// files and the call into the compiled code, all driven by the object's descriptor.
// Nothing here throws past the C boundary or aborts: every failure is a status code and a
// message kept in the context.
#include "runtime/Aot.h"

#include "runtime/Npy.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <vector>

// One context serves one thread at a time: its arena (CallContext) and error text are
// reused by every call made with it.
struct loom_aot_ctx {
  const loom_aot_model *model = nullptr;
  loom::rt::CallContext call;
  // The weights' prepared layouts (padded, packed), made by the first call that needs them;
  // the weights do not change for the context's life.
  loom::rt::PreparedWeights prepared;
  std::vector<loom::rt::Tensor> weights; // loaded from a file (weights_embedded == 0)
  std::vector<void *> params;
  std::vector<int64_t> shapeScratch;
  std::string error;
  int createStatus = LOOM_AOT_ERR_RUNTIME; // a context whose create failed refuses to run
};

namespace {

using loom::rt::Tensor;

// Far beyond any real tensor; keeps every size product below from overflowing int64 and
// matches loom_rt_alloc's limit on one request (2^48 bytes).
constexpr int64_t kMaxElements = int64_t(1) << 46;

const char *const kNullContext = "no context: the context pointer is null (create returns a null "
                                 "context only when out of memory)";

int fail(loom_aot_ctx *c, int code, const std::string &msg) {
  try {
    c->error = msg;
  } catch (...) {
    // Out of memory while recording the message: the code alone must do.
  }
  return code;
}

/// Evaluates one dim program starting at `p` (left just after its END). False on a
/// malformed program, division by zero or overflow; `sizes` may be null for static dims.
bool evalDim(const int64_t *&p, const int64_t *sizes, int64_t numSymbols, int64_t &out) {
  int64_t stack[32];
  int n = 0;
  for (;;) {
    int64_t op = *p++;
    if (op == LOOM_AOT_END)
      break;
    if (op == LOOM_AOT_CONST || op == LOOM_AOT_SYM) {
      int64_t arg = *p++;
      if (n == 32)
        return false;
      if (op == LOOM_AOT_SYM) {
        if (!sizes || arg < 0 || arg >= numSymbols)
          return false;
        arg = sizes[arg];
      }
      stack[n++] = arg;
      continue;
    }
    if (n < 2)
      return false;
    int64_t b = stack[--n], a = stack[n - 1], r = 0;
    switch (op) {
    case LOOM_AOT_ADD:
      if (__builtin_add_overflow(a, b, &r))
        return false;
      break;
    case LOOM_AOT_SUB:
      if (__builtin_sub_overflow(a, b, &r))
        return false;
      break;
    case LOOM_AOT_MUL:
      if (__builtin_mul_overflow(a, b, &r))
        return false;
      break;
    case LOOM_AOT_DIV:
      if (b == 0 || (a == INT64_MIN && b == -1))
        return false;
      r = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0)))
        --r; // floor, as ir::Dim defines it
      break;
    default:
      return false;
    }
    stack[n - 1] = r;
  }
  if (n != 1)
    return false;
  out = stack[0];
  return true;
}

/// The shape of `t` under `sizes`; false (with `why`) if a dim cannot be computed or is
/// negative, or the tensor would be unreasonably large.
bool shapeOf(const loom_aot_model &m, const loom_aot_tensor &t, const int64_t *sizes,
             std::vector<int64_t> &shape, std::string &why) {
  shape.clear();
  const int64_t *p = t.shape;
  int64_t numel = 1;
  for (int64_t i = 0; i < t.rank; ++i) {
    int64_t d = 0;
    if (!evalDim(p, sizes, m.num_symbols, d)) {
      why = "dim " + std::to_string(i) + " of " + t.type + " cannot be computed (overflow)";
      return false;
    }
    if (d < 0) {
      why = "dim " + std::to_string(i) + " of " + t.type + " is " + std::to_string(d);
      return false;
    }
    shape.push_back(d);
    if (d != 0 && numel > kMaxElements / d) {
      why = std::string(t.type) + " would have more than 2^46 elements";
      return false;
    }
    numel *= d;
  }
  return true;
}

std::string shapeText(const std::vector<int64_t> &shape) { return loom::rt::shapeStr(shape); }

/// The sizes' names and values: "B = 2, T = 0".
std::string sizesText(const loom_aot_model &m, const int64_t *sizes) {
  std::string s;
  for (int64_t i = 0; i < m.num_symbols; ++i)
    s += (i ? ", " : "") + std::string(m.symbols[i]) + " = " + std::to_string(sizes[i]);
  return s;
}

/// Everything about the sizes that can be checked before the call: each size at least 1,
/// the model's own conditions (a window no longer than the sequence), every input and
/// output shape computable and of a sane size. LOOM_AOT_OK, or a code and `msg`.
int checkSizes(const loom_aot_model &m, const int64_t *sizes, std::vector<int64_t> &shape,
               std::string &msg) {
  for (int64_t i = 0; i < m.num_symbols; ++i)
    if (sizes[i] < 1) {
      msg = std::string("size ") + m.symbols[i] + " is " + std::to_string(sizes[i]) +
            "; every size must be at least 1 (" + sizesText(m, sizes) + ")";
      return LOOM_AOT_ERR_BAD_SIZE;
    }
  for (int64_t i = 0; i < m.num_checks; ++i) {
    const loom_aot_check &k = m.checks[i];
    const int64_t *p = k.value;
    int64_t v = 0;
    bool ok = evalDim(p, sizes, m.num_symbols, v);
    if (!ok || v < k.min) {
      msg = std::string(k.message) + (ok ? std::to_string(v) : "a size that overflows") + " (" +
            sizesText(m, sizes) + ")";
      return LOOM_AOT_ERR_BAD_SIZE;
    }
  }
  std::string why;
  for (int64_t i = 0; i < m.num_inputs; ++i)
    if (!shapeOf(m, m.inputs[i], sizes, shape, why)) {
      msg = std::string("input '") + m.inputs[i].name + "': " + why + " (" + sizesText(m, sizes) +
            ")";
      return LOOM_AOT_ERR_BAD_SIZE;
    }
  for (int64_t i = 0; i < m.num_outputs; ++i)
    if (!shapeOf(m, m.outputs[i], sizes, shape, why)) {
      msg = std::string("output '") + m.outputs[i].name + "' has no valid shape: " + why + " (" +
            sizesText(m, sizes) + ")";
      return LOOM_AOT_ERR_BAD_SIZE;
    }
  return LOOM_AOT_OK;
}

/// Loads and checks the weights of a file-mode model.
int loadWeights(loom_aot_ctx *c, const char *path) {
  const loom_aot_model &m = *c->model;
  std::string file = std::string("weights file '") + path + "'";
  loom::rt::NamedTensors stored;
  if (auto s = loom::rt::readNpz(path, stored))
    return fail(c, LOOM_AOT_ERR_WEIGHTS, s.message());
  std::vector<bool> used(stored.size(), false);
  std::vector<int64_t> want;
  std::string why;
  for (int64_t i = 0; i < m.num_params; ++i) {
    const loom_aot_tensor &p = m.params[i];
    size_t j = 0;
    while (j < stored.size() && stored[j].first != p.name)
      ++j;
    if (j == stored.size())
      return fail(c, LOOM_AOT_ERR_WEIGHTS,
                  file + ": weight '" + p.name + "' (" + p.type + ") of model " + m.model +
                      " is missing");
    used[j] = true;
    const Tensor &t = stored[j].second;
    if (!shapeOf(m, p, nullptr, want, why))
      return fail(c, LOOM_AOT_ERR_WEIGHTS, std::string("weight '") + p.name + "': " + why);
    bool dtypeOk = (p.dtype == LOOM_AOT_F32) == (t.dtype() == loom::rt::DType::F32);
    if (!dtypeOk || t.shape() != want)
      return fail(c, LOOM_AOT_ERR_WEIGHTS,
                  file + ": weight '" + p.name + "' is " + t.describe() + ", expected " + p.type +
                      (dtypeOk ? "" : " (element type differs)"));
    c->weights.push_back(t);
  }
  for (size_t j = 0; j < stored.size(); ++j)
    if (!used[j])
      return fail(c, LOOM_AOT_ERR_WEIGHTS,
                  file + ": has '" + stored[j].first + "', which is not a weight of model " +
                      m.model);
  for (Tensor &t : c->weights)
    c->params.push_back(t.data());
  return LOOM_AOT_OK;
}

/// Whether this CPU has the extension `isa` (a __builtin_cpu_supports name; the list is
/// codegen/Target.cpp's). A name this runtime does not know is one it cannot vouch for.
bool cpuHas(const std::string &isa) {
#define LOOM_ISA(name)                                                                             \
  if (isa == name)                                                                                 \
    return __builtin_cpu_supports(name);
  LOOM_ISA("sse4.2")
  LOOM_ISA("popcnt")
  LOOM_ISA("avx")
  LOOM_ISA("avx2")
  LOOM_ISA("fma")
  LOOM_ISA("bmi")
  LOOM_ISA("bmi2")
  LOOM_ISA("avx512f")
  LOOM_ISA("avx512bw")
  LOOM_ISA("avx512dq")
  LOOM_ISA("avx512vl")
  LOOM_ISA("avx512cd")
  LOOM_ISA("avx512vnni")
  LOOM_ISA("avx512bf16")
#undef LOOM_ISA
  return false;
}

/// The extensions of the comma-separated list `isa` this CPU lacks, comma-separated.
std::string missingIsa(const char *isa) {
  std::string missing, name;
  for (const char *p = isa ? isa : "";; ++p) {
    if (*p && *p != ',') {
      name += *p;
      continue;
    }
    if (!name.empty() && !cpuHas(name))
      missing += (missing.empty() ? "" : ", ") + name;
    name.clear();
    if (!*p)
      return missing;
  }
}

int create(const loom_aot_model *m, const char *weightsPath, loom_aot_ctx *c) {
  c->model = m;
  if (m->abi_version != LOOM_AOT_ABI_VERSION)
    return fail(c, LOOM_AOT_ERR_RUNTIME,
                "model " + std::string(m->name) + " was compiled for AOT ABI version " +
                    std::to_string(m->abi_version) + ", but this loom_runtime has version " +
                    std::to_string(LOOM_AOT_ABI_VERSION) + ": rebuild it with this loom");
  __builtin_cpu_init();
  std::string missing = missingIsa(m->required_isa);
  if (!missing.empty())
    return fail(c, LOOM_AOT_ERR_CPU,
                "model " + std::string(m->name) + " was compiled for a CPU with " +
                    m->required_isa + "; this CPU lacks " + missing +
                    " (compile it with --target-cpu=x86-64-v3 to run on any AVX2 CPU)");
  if (m->weights_embedded) {
    if (weightsPath)
      return fail(c, LOOM_AOT_ERR_WEIGHTS,
                  std::string("model ") + m->name +
                      " has its weights embedded; pass no weights file");
    for (int64_t i = 0; i < m->num_params; ++i)
      c->params.push_back(const_cast<void *>(m->params[i].data));
    return LOOM_AOT_OK;
  }
  if (!weightsPath)
    return fail(c, LOOM_AOT_ERR_NULL_ARGUMENT,
                std::string("model ") + m->name +
                    " loads its weights from a file: the weights path is null");
  return loadWeights(c, weightsPath);
}

// A request beyond the memory limit (runtime/Limits.h) is refused before the system is
// asked; to the host it is the same condition.
bool outOfMemory(const std::string &msg) {
  return msg.rfind("out of memory", 0) == 0 || msg.rfind("memory limit", 0) == 0;
}

} // namespace

extern "C" {

int loom_aot_create(const loom_aot_model *model, const char *weights_path, loom_aot_ctx **out) {
  if (!out)
    return LOOM_AOT_ERR_NULL_ARGUMENT;
  *out = nullptr;
  if (!model)
    return LOOM_AOT_ERR_NULL_ARGUMENT;
  loom_aot_ctx *c = new (std::nothrow) loom_aot_ctx;
  if (!c)
    return LOOM_AOT_ERR_OUT_OF_MEMORY;
  *out = c;
  try {
    int rc = create(model, weights_path, c);
    c->createStatus = rc;
    return rc;
  } catch (const std::bad_alloc &) {
    c->weights.clear();
    c->createStatus = LOOM_AOT_ERR_OUT_OF_MEMORY;
    return fail(c, LOOM_AOT_ERR_OUT_OF_MEMORY, "out of memory while creating the context");
  }
}

void loom_aot_destroy(loom_aot_ctx *ctx) { delete ctx; }

const char *loom_aot_error_message(const loom_aot_ctx *ctx) {
  return ctx ? ctx->error.c_str() : kNullContext;
}

int loom_aot_run(loom_aot_ctx *ctx, const int64_t *sizes, const void *const *inputs,
                 void *const *outputs) {
  if (!ctx)
    return LOOM_AOT_ERR_NULL_ARGUMENT;
  if (ctx->createStatus != LOOM_AOT_OK)
    return ctx->createStatus; // its message is still the reason create failed
  ctx->error.clear();
  const loom_aot_model &m = *ctx->model;
  try {
    if (m.num_symbols > 0 && !sizes)
      return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT, "the sizes array is null");
    if (m.num_inputs > 0 && !inputs)
      return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT, "the inputs array is null");
    if (m.num_outputs > 0 && !outputs)
      return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT, "the outputs array is null");
    for (int64_t i = 0; i < m.num_inputs; ++i)
      if (!inputs[i])
        return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT,
                    std::string("input '") + m.inputs[i].name + "' (" + m.inputs[i].type +
                        ") is a null pointer");
    for (int64_t i = 0; i < m.num_outputs; ++i)
      if (!outputs[i])
        return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT,
                    std::string("output '") + m.outputs[i].name + "' (" + m.outputs[i].type +
                        ") is a null pointer");
    std::string msg;
    if (int rc = checkSizes(m, sizes, ctx->shapeScratch, msg))
      return fail(ctx, rc, msg);
    ctx->call.reset();
    ctx->call.setPrepared(&ctx->prepared);
    m.entry(ctx->call.c(), sizes, const_cast<void *const *>(inputs), ctx->params.data(), outputs);
    if (!ctx->call.failed())
      return LOOM_AOT_OK;
    const std::string &error = ctx->call.error();
    return fail(ctx, outOfMemory(error) ? LOOM_AOT_ERR_OUT_OF_MEMORY : LOOM_AOT_ERR_RUNTIME, error);
  } catch (const std::bad_alloc &) {
    return fail(ctx, LOOM_AOT_ERR_OUT_OF_MEMORY, "out of memory");
  }
}

int loom_aot_output_shape(const loom_aot_model *model, int64_t index, const int64_t *sizes,
                          int64_t *shape) {
  if (!model || !shape || (model->num_symbols > 0 && !sizes))
    return LOOM_AOT_ERR_NULL_ARGUMENT;
  if (index < 0 || index >= model->num_outputs)
    return LOOM_AOT_ERR_BAD_SIZE;
  try {
    std::vector<int64_t> dims;
    std::string msg;
    if (int rc = checkSizes(*model, sizes, dims, msg))
      return rc; // exactly when a run with these sizes would fail before the call
    if (!shapeOf(*model, model->outputs[index], sizes, dims, msg))
      return LOOM_AOT_ERR_BAD_SIZE;
    std::copy(dims.begin(), dims.end(), shape);
    return LOOM_AOT_OK;
  } catch (const std::bad_alloc &) {
    return LOOM_AOT_ERR_OUT_OF_MEMORY;
  }
}

int loom_aot_sizes_from_shapes(loom_aot_ctx *ctx, const int64_t *const *input_shapes,
                               int64_t *sizes) {
  if (!ctx)
    return LOOM_AOT_ERR_NULL_ARGUMENT;
  ctx->error.clear();
  const loom_aot_model &m = *ctx->model;
  if ((m.num_inputs > 0 && !input_shapes) || (m.num_symbols > 0 && !sizes))
    return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT, "the input shapes or the sizes array is null");
  try {
    std::vector<int64_t> from(m.num_symbols, -1); // the input that set each size
    for (int64_t i = 0; i < m.num_inputs; ++i) {
      const loom_aot_tensor &t = m.inputs[i];
      if (!input_shapes[i])
        return fail(ctx, LOOM_AOT_ERR_NULL_ARGUMENT,
                    std::string("the shape of input '") + t.name + "' is a null pointer");
      const int64_t *got = input_shapes[i];
      std::vector<int64_t> gotShape(got, got + t.rank);
      const int64_t *p = t.shape;
      for (int64_t d = 0; d < t.rank; ++d) {
        // Input dims are constants or single symbols (ir::symbolOrder binds from them).
        int64_t op = p[0], arg = p[1];
        p += 3;
        auto bad = [&](const std::string &why) {
          return fail(ctx, LOOM_AOT_ERR_BAD_SIZE,
                      std::string("input '") + t.name + "': expected " + t.type + ", got " +
                          shapeText(gotShape) + " (" + why + ")");
        };
        if (op == LOOM_AOT_CONST) {
          if (got[d] != arg)
            return bad("dim " + std::to_string(d) + " is " + std::to_string(got[d]) +
                       ", expected " + std::to_string(arg));
          continue;
        }
        if (op != LOOM_AOT_SYM || arg < 0 || arg >= m.num_symbols)
          return fail(ctx, LOOM_AOT_ERR_RUNTIME, "malformed model descriptor");
        if (from[arg] < 0) {
          if (got[d] < 1)
            return bad("dim " + std::to_string(d) + " is " + std::to_string(got[d]) + ", but " +
                       m.symbols[arg] + " must be at least 1");
          sizes[arg] = got[d];
          from[arg] = i;
        } else if (sizes[arg] != got[d]) {
          return bad("dim " + std::to_string(d) + " is " + std::to_string(got[d]) + ", but " +
                     m.symbols[arg] + " is " + std::to_string(sizes[arg]) + " from input '" +
                     m.inputs[from[arg]].name + "'");
        }
      }
    }
    return LOOM_AOT_OK;
  } catch (const std::bad_alloc &) {
    return fail(ctx, LOOM_AOT_ERR_OUT_OF_MEMORY, "out of memory");
  }
}

} // extern "C"
