/* The bad-input catalogue's host for AOT calls (tests/badinputs/cases.py): the reber model
 * compiled with --weights-file (tests/aot.cmake), created and called as the arguments say.
 *
 *   aot_call WEIGHTS.npz|null OP...
 *     shape:D0,D1,...          <name>_sizes_from_shapes with this shape for input x
 *     run:B,T[:null-x|null-y|null-sizes|token=N]
 *                              <name>_run_arrays with buffers of exactly B*T tokens (all 1,
 *                              or N) and B outputs; one pointer null if asked
 *
 * The first failure is printed on stderr as "error CODE: MESSAGE" and is the exit status. */
#include "reber.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(reber_ctx *ctx, int rc) {
  fprintf(stderr, "error %d: %s\n", rc, reber_error_message(ctx));
  reber_destroy(ctx);
  return rc;
}

int main(int argc, char **argv) {
  reber_ctx *ctx = NULL;
  int rc, i;
  if (argc < 2)
    return fprintf(stderr, "usage: %s WEIGHTS.npz|null OP...\n", argv[0]), 100;
  rc = reber_create(&ctx, strcmp(argv[1], "null") == 0 ? NULL : argv[1]);
  if (rc != LOOM_AOT_OK)
    return fail(ctx, rc);
  for (i = 2; i < argc; ++i) {
    char *op = argv[i], *rest = strchr(op, ':'), *opt;
    int64_t dims[8], sizes[2];
    int rank = 0;
    if (!rest)
      return fprintf(stderr, "bad op '%s'\n", op), 100;
    *rest++ = 0;
    opt = strchr(rest, ':');
    if (opt)
      *opt++ = 0;
    for (char *p = strtok(rest, ","); p && rank < 8; p = strtok(NULL, ","))
      dims[rank++] = strtoll(p, NULL, 10);
    if (strcmp(op, "shape") == 0) {
      const int64_t *shapes[1] = {dims};
      rc = reber_sizes_from_shapes(ctx, shapes, sizes);
    } else if (strcmp(op, "run") == 0) {
      int64_t n = dims[0] * dims[1], k;
      int32_t *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
      float *y = malloc((size_t)(dims[0] > 0 ? dims[0] : 1) * sizeof(float));
      const void *ins[1];
      void *outs[1];
      int32_t token = opt && strncmp(opt, "token=", 6) == 0 ? atoi(opt + 6) : 1;
      for (k = 0; k < n; ++k)
        x[k] = token;
      ins[0] = opt && strcmp(opt, "null-x") == 0 ? NULL : x;
      outs[0] = opt && strcmp(opt, "null-y") == 0 ? NULL : y;
      rc = reber_run_arrays(ctx, opt && strcmp(opt, "null-sizes") == 0 ? NULL : dims, ins, outs);
      free(x);
      free(y);
    } else {
      return fprintf(stderr, "bad op '%s'\n", op), 100;
    }
    if (rc != LOOM_AOT_OK)
      return fail(ctx, rc);
  }
  reber_destroy(ctx);
  return 0;
}
