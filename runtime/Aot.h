#pragma once
// The run-time side of ahead-of-time compiled models (`loom compile`).
//
// An AOT object holds, besides the compiled loom_main, a constant descriptor
// (loom_aot_model) of the function's signature: symbols, inputs, weights, outputs, shape
// checks, and the weights themselves when they are embedded. The functions below
// implement create / run / destroy / error text generically over that descriptor; the
// object's public functions (<name>_create, <name>_run, ...) are thin wrappers that pass
// the model's descriptor or context along. So nothing here needs LLVM, and a program that
// links an AOT object needs only this library and oneDNN.
//
// The descriptor's layout is an ABI between codegen/Object.cpp (which emits it) and this
// library; every field is 8 bytes wide so that the layout has no padding to agree on.
// LOOM_AOT_ABI_VERSION changes whenever it does.
#include "runtime/Kernels.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_AOT_ABI_VERSION 2

/* The status codes of every AOT entry point; generated headers repeat this block. */
#ifndef LOOM_AOT_STATUS_DEFINED
#define LOOM_AOT_STATUS_DEFINED
enum loom_aot_status {
  LOOM_AOT_OK = 0,
  LOOM_AOT_ERR_NULL_ARGUMENT = 1, /* a null context, size array, input or output pointer */
  LOOM_AOT_ERR_BAD_SIZE = 2,      /* a size below 1, inconsistent shapes, a window longer than T */
  LOOM_AOT_ERR_WEIGHTS = 3, /* weights file missing, unreadable, a tensor missing/mis-shaped */
  LOOM_AOT_ERR_RUNTIME = 4, /* found while running: a token id or length out of range */
  LOOM_AOT_ERR_OUT_OF_MEMORY = 5,
  LOOM_AOT_ERR_CPU = 6 /* this CPU lacks an instruction set extension the object was compiled for */
};
#endif

/// Opcodes of the postfix programs that encode dims: each dim is a sequence of
/// CONST v | SYM i | ADD | SUB | MUL | DIV (floor) ended by END; a shape is its dims' programs
/// one after another.
enum loom_aot_op {
  LOOM_AOT_END = 0,
  LOOM_AOT_CONST = 1,
  LOOM_AOT_SYM = 2,
  LOOM_AOT_ADD = 3,
  LOOM_AOT_SUB = 4,
  LOOM_AOT_MUL = 5,
  LOOM_AOT_DIV = 6
};

enum loom_aot_dtype { LOOM_AOT_F32 = 0, LOOM_AOT_I32 = 1 };

typedef struct loom_aot_tensor {
  const char *name;     /* input or output name, or weight key ("y/kernel") */
  const char *type;     /* its IR type, "f32[B,T,5]", for messages */
  int64_t dtype;        /* loom_aot_dtype */
  int64_t rank;         /* number of dim programs in `shape` */
  const int64_t *shape; /* dim programs */
  const void *data;     /* an embedded weight's data (64-byte aligned), else null */
} loom_aot_tensor;

/// A condition on the sizes checked before a call: value(sizes) >= min, otherwise the call
/// fails with LOOM_AOT_ERR_BAD_SIZE and `message` followed by the value.
typedef struct loom_aot_check {
  const int64_t *value; /* one dim program */
  int64_t min;
  const char *message;
} loom_aot_check;

typedef void (*loom_aot_entry)(loom_rt_ctx *ctx, const int64_t *syms, void *const *inputs,
                               void *const *params, void *const *outputs);

typedef struct loom_aot_model {
  int64_t abi_version;        /* LOOM_AOT_ABI_VERSION of the compiler that emitted it */
  const char *name;           /* the C prefix (loom compile --name) */
  const char *model;          /* the model's name in its .loom file */
  int64_t num_symbols;        /* B, T, ...: ir::symbolOrder */
  const char *const *symbols; /* their names */
  int64_t num_inputs;
  const loom_aot_tensor *inputs;
  int64_t num_params;
  const loom_aot_tensor *params;
  int64_t num_outputs;
  const loom_aot_tensor *outputs;
  int64_t num_checks;
  const loom_aot_check *checks;
  int64_t weights_embedded; /* 1: params[i].data hold the weights; 0: an .npz at create */
  loom_aot_entry entry;
  const char *required_isa; /* "avx2,fma,...": extensions the code uses (__builtin_cpu_supports
                               names), checked by create */
} loom_aot_model;

typedef struct loom_aot_ctx loom_aot_ctx;

/// A context for `model`. With embedded weights, weights_path must be null; otherwise it
/// names the .npz to load. On failure *out is still a context (holding the error message
/// until destroyed) unless memory ran out, when it is null.
int loom_aot_create(const loom_aot_model *model, const char *weights_path, loom_aot_ctx **out);
void loom_aot_destroy(loom_aot_ctx *ctx);
/// The last error's text; "" after a success. Valid until the next call with this context.
const char *loom_aot_error_message(const loom_aot_ctx *ctx);
/// Runs the model: sizes holds num_symbols values, inputs and outputs dense row-major
/// buffers (outputs allocated by the caller, see loom_aot_output_shape).
int loom_aot_run(loom_aot_ctx *ctx, const int64_t *sizes, const void *const *inputs,
                 void *const *outputs);
/// The shape of output `index` (rank values into `shape`) for these sizes.
int loom_aot_output_shape(const loom_aot_model *model, int64_t index, const int64_t *sizes,
                          int64_t *shape);
/// The sizes (num_symbols values) that the inputs' shapes imply; input_shapes[i] points at
/// input i's dims. Inconsistent shapes are LOOM_AOT_ERR_BAD_SIZE, with a message in ctx.
int loom_aot_sizes_from_shapes(loom_aot_ctx *ctx, const int64_t *const *input_shapes,
                               int64_t *sizes);

#ifdef __cplusplus
}
#endif
