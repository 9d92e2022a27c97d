/* loom's C embedding API: the C++ API (loom/loom.h) for hosts in C and other languages.
 *
 *   loom_model *m = NULL;
 *   if (loom_model_create_from_file("model.loom", NULL, &m) != LOOM_OK) {
 *     fprintf(stderr, "%s\n", loom_last_error());
 *     return 1;
 *   }
 *   if (loom_model_load_weights(m, "weights.npz") != LOOM_OK) ... loom_model_last_error(m)
 *   int64_t dims[3] = {2, 4, 5};
 *   loom_model_set_input(m, "x", x, LOOM_F32, 3, dims);     // borrowed until the run
 *   loom_model_run(m);
 *   const void *y; loom_dtype dt; int64_t rank; const int64_t *ydims;
 *   loom_model_get_output(m, "y", &y, &dt, &rank, &ydims);  // owned by m
 *   loom_model_free(m);
 *
 * Every function that can fail returns a loom_status; on failure the message is in
 * loom_model_last_error(m) / loom_call_last_error(c) for the handle it was called on, and
 * in loom_last_error() (per thread) for creation failures and calls with a null handle.
 * Null pointers, wrong shapes and unknown names give error codes, never a crash.
 * Messages are the same as the loom tool's: "file:line:col: error: ..." for the model
 * file, the tensor's name and both shapes for data.
 *
 * Threads: a model may be run from several threads at once through one loom_call per
 * thread (loom_call_create). The loom_model_set_input / run / get_output shortcuts use one
 * call object inside the model, so they are for one thread at a time.
 *
 * Training is not available yet (TODO(training): loom_model_train_step once loom compiles
 * `train` blocks).
 */
#ifndef LOOM_C_H
#define LOOM_C_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LOOM_C_API
#else
#define LOOM_C_API __attribute__((visibility("default")))
#endif

/* The same values as loom::ErrorCode. */
typedef enum loom_status {
  LOOM_OK = 0,
  LOOM_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a negative rank or dim, a bad dtype */
  LOOM_ERROR_COMPILE = 2,          /* the model does not parse, type-check or compile */
  LOOM_ERROR_IO = 3,               /* a file cannot be read, or is not a valid .npz */
  LOOM_ERROR_WEIGHTS = 4,          /* a weight is missing, unknown, mis-shaped or not set */
  LOOM_ERROR_INPUT = 5,            /* an input is unknown, missing, or mis-shaped */
  LOOM_ERROR_RUNTIME = 6,          /* the compiled code failed (a token id out of range) */
  LOOM_ERROR_INTERNAL = 7,         /* a bug in loom, or out of memory */
  LOOM_ERROR_NOT_RUN = 8           /* outputs asked for before a successful run */
} loom_status;

/* The last two enumerators make every int, negative ones too, a valid value of the type
   (its range is then int's), so that loom can check a value a caller computed (C lets any
   int through) without undefined behaviour in C++. */
typedef enum loom_dtype {
  LOOM_F32 = 0,
  LOOM_I32 = 1,
  LOOM_DTYPE_INT_ = 0x7fffffff,
  LOOM_DTYPE_INT_MIN_ = -0x7fffffff - 1
} loom_dtype;

/* Which list of a model's tensors a signature query is about. */
typedef enum loom_role {
  LOOM_INPUT = 0,
  LOOM_OUTPUT = 1,
  LOOM_WEIGHT = 2,
  LOOM_ROLE_INT_ = 0x7fffffff, /* as for loom_dtype */
  LOOM_ROLE_INT_MIN_ = -0x7fffffff - 1
} loom_role;

typedef struct loom_model loom_model; /* a compiled model and its weights */
typedef struct loom_call loom_call;   /* one thread's inputs and outputs for a model */

/* "ok", "invalid argument", ... (never null). */
LOOM_C_API const char *loom_status_name(loom_status status);

/* The message of the last failure on this thread that had no handle to record it in
 * (creation, or a null handle); "" if none. Valid until the next such failure. */
LOOM_C_API const char *loom_last_error(void);

/* ----- Models ----- */

/* Compiles a .loom file. `model_name` picks a model of a file with several (NULL or "":
 * the file's only model). On success *out is a new model, else NULL. */
LOOM_C_API loom_status loom_model_create_from_file(const char *path, const char *model_name,
                                                   loom_model **out);
/* The same from source text; `source_name` (NULL: "<source>") is the file name in errors. */
LOOM_C_API loom_status loom_model_create_from_source(const char *source, const char *source_name,
                                                     const char *model_name, loom_model **out);
/* Frees the model and everything it returned. NULL is ignored. */
LOOM_C_API void loom_model_free(loom_model *m);

/* The message of the last failure on `m` ("" if none); valid until the next call on `m`
 * that fails. NULL gives loom_last_error(). */
LOOM_C_API const char *loom_model_last_error(const loom_model *m);

/* The model's name (owned by m). */
LOOM_C_API const char *loom_model_name(const loom_model *m);

/* ----- Signature ----- */

/* How many inputs, outputs or weights the model has. */
LOOM_C_API loom_status loom_model_count(const loom_model *m, loom_role role, int64_t *count);
/* The tensor at `index` of `role`: its name (a weight's npz key), dtype, rank and declared
 * type ("f32[B,T,5]"). Any output pointer may be NULL; strings are owned by m. */
LOOM_C_API loom_status loom_model_info(const loom_model *m, loom_role role, int64_t index,
                                       const char **name, loom_dtype *dtype, int64_t *rank,
                                       const char **type);
/* One declared dim: *size is its size, or -1 when symbolic, and *symbol its symbol ("B",
 * "T", or an expression for a computed output dim) or NULL when static. */
LOOM_C_API loom_status loom_model_dim(const loom_model *m, loom_role role, int64_t index,
                                      int64_t axis, int64_t *size, const char **symbol);

/* ----- Weights (copied into the model) ----- */

/* Replaces every weight with those of a numpy .npz (keys "<binding>/<param>"). A missing,
 * unknown or mis-shaped weight is an error and changes nothing. */
LOOM_C_API loom_status loom_model_load_weights(loom_model *m, const char *npz_path);
/* Sets one weight from a dense row-major buffer (copied). */
LOOM_C_API loom_status loom_model_set_weight(loom_model *m, const char *key, const void *data,
                                             loom_dtype dtype, int64_t rank, const int64_t *dims);
/* Keras's default initialisers with this seed (the weights `loom init --seed` makes). */
LOOM_C_API loom_status loom_model_init_weights(loom_model *m, uint64_t seed);

/* ----- Running, one thread at a time (the model's own call object) ----- */

/* Gives input `name` a dense row-major buffer of `rank` dims. The buffer is borrowed, not
 * copied: it must stay valid until the run. Checked against the signature at the run. */
LOOM_C_API loom_status loom_model_set_input(loom_model *m, const char *name, const void *data,
                                            loom_dtype dtype, int64_t rank, const int64_t *dims);
LOOM_C_API loom_status loom_model_run(loom_model *m);
/* Output `name` of the last successful run; the buffer and dims are owned by m and valid
 * until the next run or loom_model_free. Any output pointer may be NULL. */
LOOM_C_API loom_status loom_model_get_output(const loom_model *m, const char *name,
                                             const void **data, loom_dtype *dtype, int64_t *rank,
                                             const int64_t **dims);

/* ----- Running from several threads: one loom_call per thread ----- */

/* A new call object for `m` (which must outlive it). */
LOOM_C_API loom_status loom_call_create(loom_model *m, loom_call **out);
LOOM_C_API void loom_call_free(loom_call *c);
LOOM_C_API const char *loom_call_last_error(const loom_call *c);
LOOM_C_API loom_status loom_call_set_input(loom_call *c, const char *name, const void *data,
                                           loom_dtype dtype, int64_t rank, const int64_t *dims);
LOOM_C_API loom_status loom_call_run(loom_call *c);
LOOM_C_API loom_status loom_call_get_output(const loom_call *c, const char *name, const void **data,
                                            loom_dtype *dtype, int64_t *rank, const int64_t **dims);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_C_H */
