/* A C host embedding loom through its C API: compile a model file, load its weights, run it
 * on inputs made here (borrowed, not copied), print the outputs.
 *
 *   embed-c [MODEL.loom] [WEIGHTS.npz]
 *
 * The same inputs and output format as examples/embed-cpp: symbolic dims get B = 2, T = 4
 * and any other symbol 3; input element i is ((7 i) mod 11 - 5) / 8 for f32 and
 * 1 + (i mod 3) for i32. Without WEIGHTS.npz the weights are `loom init --seed 1`'s.
 */
#include <loom/loom_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LOOM_EXAMPLE_MODEL
#define LOOM_EXAMPLE_MODEL "simple_rnn.loom"
#endif

#define MAX_RANK 8

static int fail(loom_model *m, loom_status s) {
  fprintf(stderr, "embed-c: %s: %s\n", loom_status_name(s), loom_model_last_error(m));
  loom_model_free(m);
  return 1;
}

static void print_signature(const loom_model *m, loom_role role, const char *what) {
  int64_t n = 0;
  loom_model_count(m, role, &n);
  for (int64_t i = 0; i < n; ++i) {
    const char *name, *type;
    loom_model_info(m, role, i, &name, NULL, NULL, &type);
    printf("  %s %s: %s\n", what, name, type);
  }
}

static void print_output(const char *name, const void *data, loom_dtype dtype, int64_t rank,
                         const int64_t *dims) {
  int64_t n = 1;
  printf("%s: %s (", name, dtype == LOOM_F32 ? "f32" : "i32");
  for (int64_t d = 0; d < rank; ++d) {
    printf("%s%lld", d ? ", " : "", (long long)dims[d]);
    n *= dims[d];
  }
  printf("%s)\n", rank == 1 ? "," : "");
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == LOOM_F32)
      printf("%s%.9g", i % 8 ? " " : "  ", ((const float *)data)[i]);
    else
      printf("%s%d", i % 8 ? " " : "  ", ((const int32_t *)data)[i]);
    if (i % 8 == 7 || i + 1 == n)
      printf("\n");
  }
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : LOOM_EXAMPLE_MODEL;
  loom_model *m = NULL;
  loom_status s = loom_model_create_from_file(path, NULL, &m);
  if (s != LOOM_OK) {
    fprintf(stderr, "embed-c: %s: %s\n", loom_status_name(s), loom_last_error());
    return 1;
  }
  printf("model %s\n", loom_model_name(m));
  print_signature(m, LOOM_INPUT, "input ");
  print_signature(m, LOOM_OUTPUT, "output");
  print_signature(m, LOOM_WEIGHT, "weight");

  s = argc > 2 ? loom_model_load_weights(m, argv[2]) : loom_model_init_weights(m, 1);
  if (s != LOOM_OK)
    return fail(m, s);

  /* One buffer per input, freed after the run (the run borrows them). */
  int64_t num_inputs = 0;
  loom_model_count(m, LOOM_INPUT, &num_inputs);
  void **buffers = calloc((size_t)num_inputs + 1, sizeof(void *));
  for (int64_t i = 0; i < num_inputs && s == LOOM_OK; ++i) {
    const char *name;
    loom_dtype dtype;
    int64_t rank, dims[MAX_RANK], n = 1;
    loom_model_info(m, LOOM_INPUT, i, &name, &dtype, &rank, NULL);
    if (rank > MAX_RANK) {
      fprintf(stderr, "embed-c: input %s has rank %lld; this example handles up to %d\n", name,
              (long long)rank, MAX_RANK);
      s = LOOM_ERROR_INVALID_ARGUMENT;
      break;
    }
    for (int64_t d = 0; d < rank && d < MAX_RANK; ++d) {
      const char *symbol;
      loom_model_dim(m, LOOM_INPUT, i, d, &dims[d], &symbol);
      if (symbol)
        dims[d] = strcmp(symbol, "B") == 0 ? 2 : strcmp(symbol, "T") == 0 ? 4 : 3;
      n *= dims[d];
    }
    buffers[i] = malloc((size_t)(n > 0 ? n : 1) * 4);
    for (int64_t k = 0; k < n; ++k) {
      if (dtype == LOOM_F32)
        ((float *)buffers[i])[k] = (float)((7 * k) % 11 - 5) / 8.0f;
      else
        ((int32_t *)buffers[i])[k] = 1 + (int32_t)(k % 3);
    }
    s = loom_model_set_input(m, name, buffers[i], dtype, rank, dims);
  }
  if (s == LOOM_OK)
    s = loom_model_run(m);
  for (int64_t i = 0; i < num_inputs; ++i)
    free(buffers[i]);
  free(buffers);
  if (s != LOOM_OK)
    return fail(m, s);

  int64_t num_outputs = 0;
  loom_model_count(m, LOOM_OUTPUT, &num_outputs);
  for (int64_t i = 0; i < num_outputs; ++i) {
    const char *name;
    const void *data;
    loom_dtype dtype;
    int64_t rank;
    const int64_t *dims;
    loom_model_info(m, LOOM_OUTPUT, i, &name, NULL, NULL, NULL);
    if ((s = loom_model_get_output(m, name, &data, &dtype, &rank, &dims)) != LOOM_OK)
      return fail(m, s);
    print_output(name, data, dtype, rank, dims);
  }
  loom_model_free(m);
  return 0;
}
