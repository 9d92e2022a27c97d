/* Bad inputs to AOT-compiled models: every case prints its status code and message, and
 * tests/lit/aot/errors.test checks them. Three models in one program (their symbols must
 * not clash): reber_file (examples/layers/reber.loom, --weights-file), mgru
 * (masked_gru.loom, embedded) and conv (conv1d_strided.loom, embedded).
 *
 *   errors GOOD.npz MISSING.npz MISSHAPED.npz EXTRA.npz   (weights files for reber_file) */
#include "conv.h"
#include "mgru.h"
#include "reber_file.h"

#include <stdio.h>
#include <string.h>

static void show(const char *what, int rc, const char *msg) {
  printf("%s: %d %s\n", what, rc, msg ? msg : "(null)");
}

static void reber_cases(char **argv) {
  reber_file_ctx *ctx = NULL;
  int32_t x[2 * 3] = {1, 2, 3, 4, 5, 6};
  float y[2];
  int rc;
  const char *names[] = {"missing", "misshaped", "extra"};
  int i;

  rc = reber_file_create(&ctx, NULL);
  show("create null path", rc, reber_file_error_message(ctx));
  rc = reber_file_run(ctx, 2, 3, x, y);
  show("run after failed create", rc, reber_file_error_message(ctx));
  reber_file_destroy(ctx);
  rc = reber_file_create(&ctx, "no/such/weights.npz");
  show("create no file", rc, reber_file_error_message(ctx));
  reber_file_destroy(ctx);
  for (i = 0; i < 3; ++i) {
    char what[64];
    rc = reber_file_create(&ctx, argv[2 + i]);
    sprintf(what, "create %s", names[i]);
    show(what, rc, reber_file_error_message(ctx));
    reber_file_destroy(ctx);
  }
  rc = reber_file_create(NULL, argv[1]);
  show("create null out", rc, "");

  rc = reber_file_create(&ctx, argv[1]);
  show("create good", rc, reber_file_error_message(ctx));
  rc = reber_file_run(NULL, 2, 3, x, y);
  show("run null ctx", rc, reber_file_error_message(NULL));
  rc = reber_file_run(ctx, 2, 3, NULL, y);
  show("run null input", rc, reber_file_error_message(ctx));
  rc = reber_file_run(ctx, 2, 3, x, NULL);
  show("run null output", rc, reber_file_error_message(ctx));
  rc = reber_file_run(ctx, 0, 3, x, y);
  show("run B=0", rc, reber_file_error_message(ctx));
  rc = reber_file_run(ctx, 2, -1, x, y);
  show("run T=-1", rc, reber_file_error_message(ctx));
  rc = reber_file_run(ctx, (int64_t)1 << 40, (int64_t)1 << 20, x, y);
  show("run huge", rc, reber_file_error_message(ctx));
  x[4] = 8;
  rc = reber_file_run(ctx, 2, 3, x, y);
  show("run token 8", rc, reber_file_error_message(ctx));
  x[4] = -2;
  rc = reber_file_run(ctx, 2, 3, x, y);
  show("run token -2", rc, reber_file_error_message(ctx));
  x[4] = 5;
  rc = reber_file_run(ctx, 2, 3, x, y);
  show("run good again", rc, reber_file_error_message(ctx));
  rc = reber_file_run_arrays(ctx, NULL, NULL, NULL);
  show("run_arrays null sizes", rc, reber_file_error_message(ctx));
  reber_file_destroy(ctx);
}

static void mgru_cases(void) {
  mgru_ctx *ctx = NULL;
  int64_t xs[3] = {3, 4, 8}, ls[1] = {2}, sizes[2] = {0, 0};
  const int64_t *shapes[2];
  float x[3 * 4 * 8], y[3 * 4 * 16];
  int32_t lengths[3] = {1, 4, 2};
  int rc, i;
  for (i = 0; i < 3 * 4 * 8; ++i)
    x[i] = (float)(i % 7) / 7.0f;
  rc = mgru_create(&ctx);
  show("mgru create", rc, mgru_error_message(ctx));
  shapes[0] = xs;
  shapes[1] = ls;
  rc = mgru_sizes_from_shapes(ctx, shapes, sizes);
  show("mgru batch mismatch", rc, mgru_error_message(ctx));
  ls[0] = 3;
  xs[2] = 7;
  rc = mgru_sizes_from_shapes(ctx, shapes, sizes);
  show("mgru feature mismatch", rc, mgru_error_message(ctx));
  xs[2] = 8;
  rc = mgru_sizes_from_shapes(ctx, shapes, sizes);
  printf("mgru sizes: %d B=%lld T=%lld\n", rc, (long long)sizes[MGRU_SIZE_B],
         (long long)sizes[MGRU_SIZE_T]);
  rc = mgru_run(ctx, 3, 4, x, lengths, y);
  show("mgru good", rc, mgru_error_message(ctx));
  lengths[1] = 5;
  rc = mgru_run(ctx, 3, 4, x, lengths, y);
  show("mgru length 5", rc, mgru_error_message(ctx));
  lengths[1] = 0;
  rc = mgru_run(ctx, 3, 4, x, lengths, y);
  show("mgru length 0", rc, mgru_error_message(ctx));
  mgru_destroy(ctx);
}

static void conv_cases(void) {
  conv_ctx *ctx = NULL;
  float x[2 * 9 * 3], y[2 * 3 * 32];
  int64_t sizes[2], shape[3] = {-1, -1, -1};
  int rc;
  memset(x, 0, sizeof x);
  rc = conv_create(&ctx);
  show("conv create", rc, conv_error_message(ctx));
  rc = conv_run(ctx, 2, 3, x, y);
  show("conv T=3", rc, conv_error_message(ctx));
  sizes[CONV_SIZE_B] = 2;
  sizes[CONV_SIZE_T] = 4;
  rc = conv_output_shape(sizes, CONV_OUTPUT_Y, shape);
  printf("conv shape T=4: %d\n", rc);
  sizes[CONV_SIZE_T] = 9;
  rc = conv_output_shape(sizes, CONV_OUTPUT_Y, shape);
  printf("conv shape T=9: %d (%lld, %lld, %lld) macro %lld\n", rc, (long long)shape[0],
         (long long)shape[1], (long long)shape[2], (long long)CONV_OUTPUT_Y_DIM1(2, 9));
  rc = conv_output_shape(sizes, 1, shape);
  printf("conv shape index 1: %d\n", rc);
  rc = conv_run(ctx, 2, 9, x, y);
  show("conv T=9", rc, conv_error_message(ctx));
  conv_destroy(ctx);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s GOOD.npz MISSING.npz MISSHAPED.npz EXTRA.npz\n", argv[0]);
    return 2;
  }
  reber_cases(argv);
  mgru_cases();
  conv_cases();
  return 0;
}
