#pragma once
// loom's C++ embedding API: compile a model, load its weights, run it on your tensors.
//
//   #include <loom/loom.h>
//
//   loom::Result<loom::Model> m = loom::Model::fromFile("model.loom");
//   if (!m) { std::cerr << m.error().message() << "\n"; return 1; }
//   if (loom::Error e = m->loadWeights("weights.npz")) { ... e.message() ... }
//   std::vector<float> x(2 * 4 * 5);                        // the caller's buffer
//   auto out = m->run({{"x", loom::TensorView(x.data(), {2, 4, 5})}});
//   if (!out) { ... out.error().message() ... }
//   const loom::Tensor &y = (*out)[0].tensor;                // f32 (2, 4, 64)
//
// Errors are values: a function that can fail returns loom::Error (true when it failed,
// like llvm::Error) or loom::Result<T> (true when it holds a value, like llvm::Expected).
// No exception leaves this API and no input, however wrong, aborts the process: a bad
// model file gives "file:line:col: error: ..." and a bad tensor names the tensor and both
// shapes. This header needs only the C++17 standard library.
//
// Threads: a compiled Model may be run from several threads at once; each call gets its
// own scratch arena and its own output tensors. Replacing the weights while calls are in
// flight is safe too (those calls finish with the weights they started with).
//
// Training: loom::Trainer compiles a model file's `train` block (loss, optimizer, metrics)
// into one native step function and runs it batch by batch on the caller's tensors;
// loom::epochOrder gives the batch order `loom train` uses, so a host's epoch loop gives
// the tool's numbers bit for bit.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if defined(_WIN32)
#define LOOM_API
#else
#define LOOM_API [[gnu::visibility("default")]]
#endif

namespace loom {

/// What went wrong; the same values as the C API's loom_status.
enum class ErrorCode : int {
  Ok = 0,
  InvalidArgument = 1, // a null pointer, a negative dim, an unknown dtype or option
  Compile = 2,         // the model does not parse, type-check or compile
  IO = 3,              // a file cannot be read or written, or is not a valid .npy/.npz
  Weights = 4,         // a weight is missing, unknown, mis-shaped, or none were loaded
  Input = 5,           // an input is unknown, missing, or has the wrong dtype or shape
  Runtime = 6,         // the compiled code failed (a token id out of range, say)
  Internal = 7,        // a bug in loom (or out of memory)
};

/// A failure (or success): a code and a message. `if (Error e = f())` enters on failure.
class [[nodiscard]] LOOM_API Error {
public:
  Error() = default; // success
  Error(ErrorCode code, std::string message);
  static Error success() { return Error(); }

  bool ok() const { return code_ == ErrorCode::Ok; }
  explicit operator bool() const { return !ok(); } // true on failure, like llvm::Error
  ErrorCode code() const { return code_; }
  const std::string &message() const { return message_; }

private:
  ErrorCode code_ = ErrorCode::Ok;
  std::string message_;
};

/// The name of an error code: "ok", "invalid argument", "compile error", ...
LOOM_API const char *errorCodeName(ErrorCode code);

/// A value or the Error that prevented it. `if (r)` is true when the value is there;
/// `*r` and `r->` reach it (only then), `r.error()` tells why it is not.
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(Error error) : error_(std::move(error)) {
    if (error_.ok()) // a Result always holds one or the other
      error_ = Error(ErrorCode::Internal, "loom::Result made from a success");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }
  T &value() { return *value_; }
  const T &value() const { return *value_; }
  const Error &error() const { return error_; }

private:
  std::optional<T> value_;
  Error error_;
};

enum class DType : int { F32 = 0, I32 = 1 };
LOOM_API const char *dtypeName(DType t); // "f32", "i32"

class Tensor;

/// A tensor in memory the caller owns: dense, row-major, 4-byte aligned. Nothing is
/// copied; the memory must stay valid (and unchanged) for the duration of the call it is
/// passed to. loom never writes through a view.
class LOOM_API TensorView {
public:
  TensorView() = default;
  TensorView(DType dtype, const void *data, std::vector<int64_t> shape)
      : dtype_(dtype), data_(data), shape_(std::move(shape)) {}
  TensorView(const float *data, std::vector<int64_t> shape)
      : TensorView(DType::F32, data, std::move(shape)) {}
  TensorView(const int32_t *data, std::vector<int64_t> shape)
      : TensorView(DType::I32, data, std::move(shape)) {}
  TensorView(const Tensor &t); // NOLINT: a Tensor can go wherever a view is asked for

  DType dtype() const { return dtype_; }
  const void *data() const { return data_; }
  const std::vector<int64_t> &shape() const { return shape_; }

private:
  DType dtype_ = DType::F32;
  const void *data_ = nullptr;
  std::vector<int64_t> shape_;
};

/// A tensor that owns its memory (64-byte aligned, zero-initialised). Copies share the
/// memory; clone() makes a deep copy. Outputs of Model::run are Tensors.
class LOOM_API Tensor {
public:
  Tensor() = default;
  /// Zero-filled. A negative dim or a failed allocation gives a tensor that is not
  /// valid() (no exception, no abort).
  Tensor(DType dtype, std::vector<int64_t> shape);
  /// A deep copy of `v` (not valid() if `v` is not).
  static Tensor copyOf(const TensorView &v);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t rank() const { return (int64_t)shape_.size(); }
  int64_t numel() const;
  size_t bytes() const { return valid() ? (size_t)numel() * 4 : 0; }
  bool valid() const { return valid_; }

  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }
  float *f32() { return static_cast<float *>(data()); }
  const float *f32() const { return static_cast<const float *>(data()); }
  int32_t *i32() { return static_cast<int32_t *>(data()); }
  const int32_t *i32() const { return static_cast<const int32_t *>(data()); }

  Tensor clone() const;
  /// "f32 (2, 4, 64)", as the loom tool prints a tensor.
  std::string describe() const;

private:
  friend struct TensorAccess;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::shared_ptr<void> storage_;
  bool valid_ = false; // a default-constructed Tensor holds nothing
};

struct NamedView {
  std::string name;
  TensorView view;
};
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// The tensor called `name` in `ts`, or null.
LOOM_API const Tensor *find(const std::vector<NamedTensor> &ts, const std::string &name);

/// One dimension of a declared shape: a size, or a symbol bound when the model is called
/// ("B", "T"), or for a computed output dim its expression ("(T - 5) / 2 + 1").
struct Dim {
  int64_t size = -1;  // the size when static, -1 otherwise
  std::string symbol; // empty when static
  bool isStatic() const { return symbol.empty(); }
  std::string str() const { return isStatic() ? std::to_string(size) : symbol; }
};

/// An input, output or weight of a model: its name (a weight's npz key, "y/kernel"),
/// element type and declared shape.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<Dim> shape;
  /// "f32[B,T,5]", as the model file declares it.
  std::string typeStr() const {
    std::string s = std::string(dtype == DType::F32 ? "f32" : "i32") + "[";
    for (size_t i = 0; i < shape.size(); ++i)
      s += (i ? "," : "") + shape[i].str();
    return s + "]";
  }
};

/// Settings of a model's generate(...) calls that replace what the model file says (unset:
/// the file's; docs/language.md, "Generating sequences"). Each is checked as the file's
/// would be.
struct GenerateOptions {
  std::optional<int64_t> maxLength; // max_length, the most tokens generated
  std::optional<bool> sample;       // false: greedy (argmax); true: sampled
  std::optional<double> temperature, topP, repetitionPenalty;
  std::optional<int64_t> topK, endToken;
  std::optional<int64_t> beams;        // beam search with this many hypotheses per row
  std::optional<double> lengthPenalty; // beam search: score / length^length_penalty
};

struct CompileOptions {
  /// Which model of the file; empty: the file's only model.
  std::string model;
  /// LLVM's optimisation level, 0 to 3.
  unsigned optLevel = 3;
  /// The CPU to compile for: "native", "x86-64-v3" (AVX2) or "x86-64-v4" (AVX-512); empty:
  /// $LOOM_TARGET_CPU, else native. A target this CPU cannot run is an error.
  std::string targetCpu;
  /// The IR passes to run, by name (`loom ir --print-after-all` shows them); empty: the
  /// default pipeline.
  std::vector<std::string> passes;
  /// The most memory, in bytes, one run() may allocate (outputs and scratch), and
  /// initWeights() too; a call needing more fails with a message saying how much it needed.
  /// 0: the machine's physical memory (or the loom tool's --max-memory).
  int64_t maxMemory = 0;
  /// Settings for the model's generate(...) calls.
  GenerateOptions generate;
};

/// A model compiled to native code, with its weights. Move-only.
class LOOM_API Model {
public:
  /// Compiles the model file at `path` (.loom).
  static Result<Model> fromFile(const std::string &path, const CompileOptions &opts = {});
  /// Compiles model source text; `sourceName` is the file name errors are reported under.
  static Result<Model> fromSource(const std::string &source, const CompileOptions &opts = {},
                                  const std::string &sourceName = "<source>");

  Model(Model &&) noexcept;
  Model &operator=(Model &&) noexcept;
  ~Model();

  const std::string &name() const;
  /// The signature, in declaration order. Weights are in parameter order, by npz key.
  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;
  const std::vector<TensorInfo> &weights() const;
  /// The symbolic dims ("B", "T", ...) in order of first appearance in the inputs.
  const std::vector<std::string> &symbols() const;
  /// Seconds spent in LLVM (optimisation and machine code) for this model.
  double compileSeconds() const;
  /// The compiled model's IR graph (after the pass pipeline) as Graphviz dot text, as
  /// `loom ir --format=dot` prints it.
  Result<std::string> graphDot() const;

  /// Replaces all weights with those of a numpy .npz (keys "<binding>/<param>"). A missing,
  /// unknown or mis-shaped weight is an error and leaves the current weights unchanged.
  Error loadWeights(const std::string &npzPath);
  /// The same from named tensors, which are copied.
  Error setWeights(const std::vector<NamedView> &weights);
  /// Replaces one weight (copied); the others keep their values.
  Error setWeight(const std::string &key, const TensorView &value);
  /// Keras's default initialisers, reproducibly seeded: the weights `loom init --seed` makes.
  Error initWeights(uint64_t seed);
  /// True when every weight has a value (a model without weights always has).
  bool hasWeights() const;
  /// The current weights by key, in parameter order (deep copies).
  Result<std::vector<NamedTensor>> weightValues() const;

  /// Runs the model. `inputs` are borrowed (no copy) and matched by name; every input must
  /// be given once. The outputs come back in declaration order with their names.
  /// Safe to call from several threads at once.
  Result<std::vector<NamedTensor>> run(const std::vector<NamedView> &inputs) const;

  struct Impl;

private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// What a Trainer is built with: the train block's settings, replaced where given.
struct TrainOptions {
  /// Which model of the file; empty: the file's only model.
  std::string model;
  std::optional<int64_t> epochs, batchSize;
  std::optional<double> learningRate; // replaces the schedule's initial rate
  std::optional<int64_t> bptt;        // truncated BPTT chunk length (0: off)
  std::optional<bool> stateful;
  /// The seed of training-time randomness (dropout masks), as `loom train --seed`.
  uint64_t seed = 1;
};

/// The loss and metrics of a batch or of a whole dataset (sample-weighted means).
struct BatchResult {
  double loss = 0;
  std::vector<double> metrics; // in Trainer::metricNames() order
};

/// A model with its train block, compiled for training: a step function (forward, loss,
/// backpropagation through time, clipping, the optimizer's update) and an evaluation
/// function (forward in inference mode, loss, metrics). It keeps the weights and the
/// optimizer's state. Move-only; one thread at a time.
class LOOM_API Trainer {
public:
  /// Compiles the model file at `path`, which must have a `train` block.
  static Result<Trainer> fromFile(const std::string &path, const TrainOptions &opts = {});
  static Result<Trainer> fromSource(const std::string &source, const TrainOptions &opts = {},
                                    const std::string &sourceName = "<source>");

  Trainer(Trainer &&) noexcept;
  Trainer &operator=(Trainer &&) noexcept;
  ~Trainer();

  /// The arrays a batch holds: the model's inputs, then the train block's targets.
  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &targets() const;
  const std::vector<TensorInfo> &weights() const;
  const std::string &lossName() const;
  const std::vector<std::string> &metricNames() const;
  const std::string &optimizerName() const;
  /// The train block's epochs and batch size (or TrainOptions').
  int64_t epochs() const;
  int64_t batchSize() const;

  /// Optimizer steps taken so far.
  int64_t iterations() const;
  /// The rate the next step uses: the schedule's, or the one setLearningRate gave.
  double learningRate() const;
  /// Replaces the schedule by a constant rate from the next step on (positive, finite).
  Error setLearningRate(double lr);
  /// The seed of dropout masks from the next step on.
  void setSeed(uint64_t seed);

  /// Keras's initialisers from `seed` (Model::initWeights' values), and a fresh optimizer.
  Error initWeights(uint64_t seed);
  Error loadWeights(const std::string &npzPath);
  /// Every weight (copied), checked; the optimizer's state is kept.
  Error setWeights(const std::vector<NamedView> &weights);
  /// The current weights by key, in parameter order (deep copies).
  Result<std::vector<NamedTensor>> weightValues() const;

  /// Checks a dataset (every input and target by name, no other) as `loom train` checks its
  /// .npz before training: dtypes, static dims, one row count, symbols bound consistently,
  /// labels of sparse losses in range. `what` begins the messages. Returns the row count.
  Result<int64_t> checkData(const std::vector<NamedView> &data,
                            const std::string &what = "data") const;
  /// One optimizer step on a batch (checked as checkData does; borrowed, not copied).
  /// Returns its loss and metrics before the update.
  Result<BatchResult> trainBatch(const std::vector<NamedView> &batch);
  /// Loss and metrics of a batch in inference mode; the weights are unchanged.
  Result<BatchResult> evaluateBatch(const std::vector<NamedView> &batch) const;
  /// Forgets the recurrent state a stateful model carries between batches.
  void resetStates();

  struct Impl;

private:
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The row order of an epoch as `loom train` makes it: 0..rows-1, or with `shuffle` a
/// permutation that depends only on (seed, epoch).
LOOM_API std::vector<int64_t> epochOrder(int64_t rows, bool shuffle, uint64_t seed, int64_t epoch);

/// numpy files, as the loom tool reads and writes them (on read, f2/f8/bool become f32 and
/// other integers i32; big-endian and Fortran-ordered arrays are converted).
LOOM_API Result<Tensor> loadNpy(const std::string &path);
LOOM_API Result<std::vector<NamedTensor>> loadNpz(const std::string &path);
/// Written atomically: a failure leaves no partial file.
LOOM_API Error saveNpz(const std::string &path, const std::vector<NamedView> &arrays);

} // namespace loom
