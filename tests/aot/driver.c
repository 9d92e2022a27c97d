/* Test driver for any AOT-compiled model: runs it on .npy inputs, writes .npy outputs.
 * Built per model: cc -DMODEL=name -DMODEL_UPPER=NAME -DMODEL_HEADER='"name.h"' ...
 *
 *   driver [-w WEIGHTS.npz] RUN...     RUN = IN0.npy[,IN1.npy...]=OUTPREFIX
 *
 * Every RUN is one call on the same context (so one process covers several sizes); output
 * k is written to OUTPREFIX<k>.npy. The sizes come from the inputs' shapes through
 * <name>_sizes_from_shapes, the outputs' shapes from <name>_output_shape. Only what the
 * tests write is read: little-endian '<f4' / '<i4', C order. */
#include MODEL_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(MODEL, x)
#define MAC(x) CAT(MODEL_UPPER, x)

#define MAX_RANK 8

typedef struct {
  int is_int;
  int rank;
  int64_t shape[MAX_RANK];
  void *data;
} array;

static int64_t numel(const array *a) {
  int64_t n = 1;
  int i;
  for (i = 0; i < a->rank; ++i)
    n *= a->shape[i];
  return n;
}

static int read_npy(const char *path, array *a) {
  FILE *f = fopen(path, "rb");
  unsigned char pre[10];
  char header[4096];
  unsigned len;
  const char *p;
  if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1)
    return fprintf(stderr, "%s: not an .npy file (version 1)\n", path), -1;
  len = pre[8] | (pre[9] << 8);
  if (len >= sizeof header || fread(header, 1, len, f) != len)
    return fprintf(stderr, "%s: bad header\n", path), -1;
  header[len] = 0;
  if (strstr(header, "'<f4'"))
    a->is_int = 0;
  else if (strstr(header, "'<i4'"))
    a->is_int = 1;
  else
    return fprintf(stderr, "%s: dtype is not <f4 or <i4\n", path), -1;
  p = strstr(header, "'shape': (");
  if (!p || strstr(header, "'fortran_order': True"))
    return fprintf(stderr, "%s: no C-order shape\n", path), -1;
  p += 10;
  a->rank = 0;
  while (*p != ')') {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || a->rank == MAX_RANK)
      return fprintf(stderr, "%s: bad shape\n", path), -1;
    a->shape[a->rank++] = v;
    p = end;
    while (*p == ',' || *p == ' ')
      ++p;
  }
  a->data = malloc((size_t)(numel(a) > 0 ? numel(a) : 1) * 4);
  if (!a->data || fread(a->data, 4, (size_t)numel(a), f) != (size_t)numel(a))
    return fprintf(stderr, "%s: short data\n", path), -1;
  fclose(f);
  return 0;
}

static int write_npy(const char *path, const array *a) {
  char header[256], dims[200] = "";
  size_t n;
  int i;
  FILE *f = fopen(path, "wb");
  if (!f)
    return fprintf(stderr, "%s: cannot write\n", path), -1;
  for (i = 0; i < a->rank; ++i)
    sprintf(dims + strlen(dims), "%lld,%s", (long long)a->shape[i], i + 1 < a->rank ? " " : "");
  if (a->rank > 1)
    dims[strlen(dims) - 1] = 0; /* numpy writes (3,) but (3, 4) */
  sprintf(header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
          a->is_int ? "<i4" : "<f4", dims);
  n = strlen(header);
  while ((10 + n + 1) % 64)
    header[n++] = ' ';
  header[n++] = '\n';
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc((int)(n & 0xff), f);
  fputc((int)(n >> 8), f);
  fwrite(header, 1, n, f);
  fwrite(a->data, 4, (size_t)numel(a), f);
  return fclose(f) == 0 ? 0 : -1;
}

static int fail(CAT(MODEL, _ctx) * ctx, int rc) {
  printf("error %d: %s\n", rc, FN(_error_message)(ctx));
  FN(_destroy)(ctx);
  return 1;
}

int main(int argc, char **argv) {
  static const char *const output_names[] = MAC(_OUTPUT_NAMES);
  static const int output_ranks[] = MAC(_OUTPUT_RANKS);
  CAT(MODEL, _ctx) *ctx = NULL;
  int arg = 1, rc, run = 0;
#if MAC(_WEIGHTS_EMBEDDED)
  rc = FN(_create)(&ctx);
#else
  if (argc < 3 || strcmp(argv[1], "-w") != 0)
    return fprintf(stderr, "usage: %s -w WEIGHTS.npz RUN...\n", argv[0]), 2;
  rc = FN(_create)(&ctx, argv[2]);
  arg = 3;
#endif
  if (rc != LOOM_AOT_OK)
    return fail(ctx, rc);
  for (; arg < argc; ++arg, ++run) {
    array in[MAC(_NUM_INPUTS)], out[MAC(_NUM_OUTPUTS)];
    const int64_t *shapes[MAC(_NUM_INPUTS)];
    const void *ins[MAC(_NUM_INPUTS)];
    void *outs[MAC(_NUM_OUTPUTS)];
    int64_t sizes[MAC(_NUM_SIZES) + 1];
    char spec[1024], path[1100], *eq, *name;
    int i, k;
    strncpy(spec, argv[arg], sizeof spec - 1);
    spec[sizeof spec - 1] = 0;
    eq = strchr(spec, '=');
    if (!eq)
      return fprintf(stderr, "bad RUN '%s'\n", argv[arg]), 2;
    *eq = 0;
    for (i = 0, name = strtok(spec, ","); i < MAC(_NUM_INPUTS); ++i, name = strtok(NULL, ",")) {
      if (!name || read_npy(name, &in[i]) != 0)
        return fprintf(stderr, "run %d: input %d missing\n", run, i), 2;
      shapes[i] = in[i].shape;
      ins[i] = in[i].data;
    }
    rc = FN(_sizes_from_shapes)(ctx, shapes, sizes);
    if (rc != LOOM_AOT_OK)
      return fail(ctx, rc);
    printf("run %d:", run);
    for (k = 0; k < MAC(_NUM_SIZES); ++k)
      printf(" %lld", (long long)sizes[k]);
    for (i = 0; i < MAC(_NUM_OUTPUTS); ++i) {
      out[i].rank = output_ranks[i];
      rc = FN(_output_shape)(sizes, i, out[i].shape);
      if (rc != LOOM_AOT_OK)
        return printf("\n"), fail(ctx, rc);
      out[i].is_int = 0;
      out[i].data = malloc((size_t)(numel(&out[i]) > 0 ? numel(&out[i]) : 1) * 4);
      outs[i] = out[i].data;
      printf(" %s(", output_names[i]);
      for (k = 0; k < out[i].rank; ++k)
        printf("%s%lld", k ? ", " : "", (long long)out[i].shape[k]);
      printf(")");
    }
    printf("\n");
    rc = FN(_run_arrays)(ctx, sizes, ins, outs);
    if (rc != LOOM_AOT_OK)
      return fail(ctx, rc);
    for (i = 0; i < MAC(_NUM_OUTPUTS); ++i) {
      sprintf(path, "%s%d.npy", eq + 1, i);
      if (write_npy(path, &out[i]) != 0)
        return 1;
      free(out[i].data);
    }
    for (i = 0; i < MAC(_NUM_INPUTS); ++i)
      free(in[i].data);
  }
  FN(_destroy)(ctx);
  return 0;
}
