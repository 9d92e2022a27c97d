/* The bad-input catalogue's host for C API calls (tests/badinputs/cases.py): a model made
 * with loom_model_create_from_file and called as the arguments say.
 *
 *   capi_call MODEL.loom OP...
 *     weights:PATH|null        loom_model_load_weights
 *     init                     loom_model_init_weights (seed 1)
 *     in:NAME:DTYPE:DIMS[:null-data]
 *                              loom_model_set_input with a zeroed buffer of exactly the
 *                              stated size. NAME "null" is a null name; DTYPE f32, i32 or a
 *                              number; DIMS "2,4,5", "-" (rank 0), "null/R" (rank R, null
 *                              dims) or "rank/R" (rank R, dims 1)
 *     run                      loom_model_run
 *     out:NAME                 loom_model_get_output
 *
 * The first failure is printed on stderr as "STATUS_NAME: MESSAGE" and is the exit status. */
#include <loom/loom_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *buffers[64];
static int num_buffers;

static void release(loom_model *m) {
  loom_model_free(m);
  while (num_buffers > 0)
    free(buffers[--num_buffers]);
}

static int fail(loom_model *m, loom_status s) {
  fprintf(stderr, "%s: %s\n", loom_status_name(s),
          m ? loom_model_last_error(m) : loom_last_error());
  release(m);
  return (int)s;
}

int main(int argc, char **argv) {
  loom_model *m = NULL;
  loom_status s;
  int i;
  if (argc < 2)
    return fprintf(stderr, "usage: %s MODEL.loom OP...\n", argv[0]), 100;
  s = loom_model_create_from_file(argv[1], NULL, &m);
  if (s != LOOM_OK)
    return fail(NULL, s);
  for (i = 2; i < argc; ++i) {
    char *op = argv[i];
    if (strncmp(op, "weights:", 8) == 0) {
      s = loom_model_load_weights(m, strcmp(op + 8, "null") == 0 ? NULL : op + 8);
    } else if (strcmp(op, "init") == 0) {
      s = loom_model_init_weights(m, 1);
    } else if (strcmp(op, "run") == 0) {
      s = loom_model_run(m);
    } else if (strncmp(op, "out:", 4) == 0) {
      const void *data;
      s = loom_model_get_output(m, op + 4, &data, NULL, NULL, NULL);
    } else if (strncmp(op, "in:", 3) == 0) {
      char *name = strtok(op + 3, ":"), *dt = strtok(NULL, ":"), *ds = strtok(NULL, ":");
      char *opt = strtok(NULL, ":");
      int64_t dims[16], rank = 0, n = 1, k;
      const int64_t *dimsp = dims;
      loom_dtype dtype;
      void *data;
      if (!name || !dt || !ds)
        return fprintf(stderr, "bad op '%s'\n", argv[i]), 100;
      dtype = strcmp(dt, "f32") == 0   ? LOOM_F32
              : strcmp(dt, "i32") == 0 ? LOOM_I32
                                       : (loom_dtype)atoi(dt);
      if (strncmp(ds, "null/", 5) == 0 || strncmp(ds, "rank/", 5) == 0) {
        rank = atoll(ds + 5);
        for (k = 0; k < rank && k < 16; ++k)
          dims[k] = 1;
        if (ds[0] == 'n')
          dimsp = NULL;
      } else if (strcmp(ds, "-") != 0) {
        for (char *p = strtok(ds, ","); p && rank < 16; p = strtok(NULL, ","))
          dims[rank++] = strtoll(p, NULL, 10);
      }
      for (k = 0; k < rank && k < 16 && dimsp; ++k)
        n *= dims[k] > 0 ? dims[k] : 0;
      if (num_buffers == 64)
        return fprintf(stderr, "too many inputs\n"), 100;
      data = buffers[num_buffers++] = calloc((size_t)(n > 0 ? n : 1), 4);
      s = loom_model_set_input(m, strcmp(name, "null") == 0 ? NULL : name,
                               opt && strcmp(opt, "null-data") == 0 ? NULL : data, dtype, rank,
                               dimsp);
      /* The model keeps a view of the buffer until the run: freed with the model. */
    } else {
      return fprintf(stderr, "bad op '%s'\n", argv[i]), 100;
    }
    if (s != LOOM_OK)
      return fail(m, s);
  }
  release(m);
  return 0;
}
