/* A C program that runs examples/layers/reber.loom compiled ahead of time:
 *
 *   loom init examples/layers/reber.loom -o reber.npz --seed 1
 *   loom compile examples/layers/reber.loom --weights reber.npz -o reber.o --header reber.h
 *   cc -I. main.c reber.o -lloom_runtime -ldnnl -o reber-demo
 *
 * Tokens are the symbols of the embedded Reber grammar as ids: B=0 T=1 P=2 S=3 X=4 V=5 E=6.
 * Every string of one batch has the same length T; batches of different B and T run on the
 * same context, since the compiled model has symbolic sizes. With `loom compile
 * --weights-file`, the weights come from the .npz named on the command line instead.
 * Plain C89 apart from <stdint.h>. */
#include "reber.h"

#include <stdio.h>
#include <stdlib.h>

/* Three strings of 8 symbols, then two of 12. */
static const int32_t batch1[3 * 8] = {0, 1, 3, 3, 4, 4, 1, 6, /* B T S S X X T E */
                                      0, 2, 5, 5, 6, 2, 6, 6, /* B P V V E P E E */
                                      0, 1, 4, 3, 4, 5, 1, 6};
static const int32_t batch2[2 * 12] = {0, 2, 1, 4, 1, 1, 5, 5, 6, 2, 6, 6,
                                       0, 1, 3, 4, 4, 1, 1, 5, 2, 5, 1, 6};

static int run_batch(reber_ctx *ctx, int64_t B, int64_t T, const int32_t *tokens) {
  float *y = (float *)malloc(sizeof(float) * (size_t)REBER_OUTPUT_Y_NUMEL(B, T));
  int64_t b, t;
  int rc;
  if (!y)
    return LOOM_AOT_ERR_OUT_OF_MEMORY;
  rc = reber_run(ctx, B, T, tokens, y);
  if (rc == LOOM_AOT_OK) {
    printf("batch B=%d T=%d\n", (int)B, (int)T);
    for (b = 0; b < B; ++b) {
      printf("  tokens");
      for (t = 0; t < T; ++t)
        printf(" %d", (int)tokens[b * T + t]);
      printf(" -> y = %.9g\n", y[b]);
    }
  }
  free(y);
  return rc;
}

int main(int argc, char **argv) {
  reber_ctx *ctx = NULL;
  int rc;
#if REBER_WEIGHTS_EMBEDDED
  rc = reber_create(&ctx);
  (void)argc;
  (void)argv;
#else
  if (argc != 2) {
    fprintf(stderr, "usage: %s WEIGHTS.npz\n", argv[0]);
    return 2;
  }
  rc = reber_create(&ctx, argv[1]);
#endif
  if (rc == LOOM_AOT_OK)
    rc = run_batch(ctx, 3, 8, batch1);
  if (rc == LOOM_AOT_OK)
    rc = run_batch(ctx, 2, 12, batch2);
  if (rc != LOOM_AOT_OK)
    fprintf(stderr, "reber: error %d: %s\n", rc, reber_error_message(ctx));
  reber_destroy(ctx);
  return rc == LOOM_AOT_OK ? 0 : 1;
}
