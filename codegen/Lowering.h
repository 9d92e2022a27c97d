#pragma once
// Private to codegen/: lowering an ir::Function to an LLVM function
//   void loom_main(loom_rt_ctx *ctx, const int64_t *syms, void *const *inputs,
//                  void *const *params, void *const *outputs)
// Every IR value lives in a strided view (base pointer, runtime shape, strides in elements):
// its own scratch buffer, a slice of a sequence or stack at step t, or a view of another
// value's storage (slice, reshape, check_range). All scratch buffers are planned first and
// allocated with one loom_rt_alloc call in the entry block; the op lowering then only emits
// loops (elementwise nests are outlined into small internal functions) and runtime calls.
#include "ir/IR.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace llvm {
class TargetMachine;
}

namespace loom::codegen {

/// A tensor in memory. A stride that is a ConstantInt is known when compiling: 0 for a
/// broadcast dim, 1 for a contiguous innermost dim; the loop vectoriser relies on that.
struct View {
  llvm::Value *base = nullptr; // ptr
  ir::DType dtype = ir::DType::F32;
  std::vector<llvm::Value *> shape;   // i64
  std::vector<llvm::Value *> strides; // i64, in elements
  /// Dims >= denseFrom form a row-major contiguous block (stride[k] == stride[k+1] *
  /// shape[k+1], last stride 1); denseFrom == rank() when the last stride is not 1.
  unsigned denseFrom = 0;
  unsigned rank() const { return (unsigned)shape.size(); }
};

/// Computes one output element from the loaded operand elements (scalars).
using ElementFn =
    std::function<llvm::Value *(llvm::IRBuilder<> &, const std::vector<llvm::Value *> &)>;
/// Several outputs per element (a fused kernel).
using MultiElementFn = std::function<std::vector<llvm::Value *>(
    llvm::IRBuilder<> &, const std::vector<llvm::Value *> &)>;

/// Storage decided before any code is emitted for a loop op.
struct LoopPlan {
  std::vector<int> carryBuf, tempBuf, stackBuf; // buffer ids; tempBuf -1 when not needed
  std::map<const ir::Value *, unsigned> direct; // per-step value -> stack slot it writes
  /// Per carry, the buffer it alternates with when the body computes its next value in
  /// place (step s reads one buffer and writes the other; no copy per step), else -1.
  /// A carry's next value that is also stacked directly is stored into both by its kernel
  /// (extraOut); otherwise it is computed straight into the buffer.
  std::vector<int> nextBuf;
  /// An until loop's step count (i32[]), else -1.
  int countBuf = -1;
  /// The row symbol when the loop runs over ranges of rows on several threads at once
  /// (codegen/Loops.cpp); then its body's buffers live for the whole loop.
  std::optional<std::string> rows;
  /// When the loop can also run split over its units (codegen/Loops.cpp, unitSplit): every
  /// thread runs every step for its range of the carries' columns, with a barrier per step.
  /// Its body's buffers live for the whole loop too.
  struct UnitSplit {
    int64_t width;                // the carries' last dim: the units
    const ir::Op *matmul;         // the one product, of a carry by a weight
    std::vector<int64_t> offsets; // the columns of its result read: o + [lo, hi) for each
  };
  std::optional<UnitSplit> units;
};

class Lowerer {
public:
  Lowerer(llvm::Module &m, const ir::Function &f);
  /// Emits loom_main into the module.
  llvm::Error run();

  // --- shared by the lowering files ---
  llvm::Module &mod;
  llvm::LLVMContext &ctx;
  llvm::IRBuilder<> b;
  const ir::Function &func;
  llvm::Type *i64, *i32, *f32, *ptr;

  llvm::Value *i64c(int64_t v) { return llvm::ConstantInt::get(i64, v); }
  llvm::Type *elemType(ir::DType t) { return t == ir::DType::F32 ? f32 : i32; }
  /// The size of `d` (a constant, a loaded symbol, or an expression computed on entry).
  llvm::Value *dim(const ir::Dim &d);
  llvm::Value *dimExpr(const ir::Dim &d);
  std::vector<llvm::Value *> shapeOf(const ir::Type &t);
  View denseView(llvm::Value *base, const ir::Type &t);
  View &view(const ir::Value *v);
  /// seq with axis 1 removed at index t.
  View sliceView(const View &seq, llvm::Value *t);
  /// `v` with the order along `axis` reversed (a negative stride).
  View reversedView(const View &v, unsigned axis);
  /// Buffer `buf` as a value of the code being emitted sees it: the rows of the range in a
  /// loop over rows, the units' columns in a loop over units (unless `full`).
  View bufferView(int buf, bool full = false);

  enum class LoopHint { None, NoUnroll, Interleave, UnrollCount, FoldTail };
  /// for (i = 0; i < n; ++i) body(i); the builder ends after the loop. UnrollCount: LLVM
  /// unrolls it `count` times (with a remainder loop when n is not a multiple). Interleave:
  /// the vectoriser interleaves `count` vectors per iteration (1: none). FoldTail: one
  /// vector per iteration and no scalar remainder loop (the last vector is masked): the
  /// least code, for short loops whose count is not known when compiling.
  /// With `until`, the loop also ends after an iteration whose until() is true.
  void forLoop(llvm::Value *n, const std::function<void(llvm::Value *)> &body,
               LoopHint hint = LoopHint::None, const char *name = "i", unsigned count = 0,
               const std::function<llvm::Value *()> &until = nullptr);
  /// if (cond) then(); the builder ends after it.
  void ifThen(llvm::Value *cond, const std::function<void()> &then);

  /// out[i...] = fn(ins[i...]) over out's shape; ins broadcast numpy-style (a dim of static
  /// size 1, or a missing leading dim, is read with stride 0). out must not overlap ins.
  /// The loop nest is an internal function named after `name`; identical ones are shared.
  /// One loop nest writing every output (all of one shape) from broadcast inputs.
  /// `cost` is the work per element in about scalar ops; large kernels are split over the
  /// threads by their outermost loop (loom_rt_parallel_for).
  void emitKernel(const std::vector<View> &outs, const std::vector<View> &ins,
                  const MultiElementFn &fn, const std::string &name, unsigned cost = 1);
  llvm::Error lowerFused(const ir::Op &op);
  /// random_uniform: each element from its row-major index (runtime/Random.h), in any view.
  llvm::Error lowerRandomUniform(const ir::Op &op);
  void emitKernel(const View &out, const std::vector<View> &ins, const ElementFn &fn,
                  const std::string &name = "copy");
  void copy(const View &dst, const View &src);
  /// How an outlined function uses a value it is given (for its parameter attributes).
  enum class ArgUse { Value, Out, In };
  /// Emits body() into a new internal noinline function and calls it. The non-constant
  /// values behind `uses` become its parameters; body() sees them through the same slots,
  /// which are remapped before it runs. An identical function emitted before is reused.
  /// body returns the function's result (null for void, then retTy is null).
  llvm::CallInst *outline(const std::string &name,
                          const std::vector<std::pair<llvm::Value **, ArgUse>> &uses,
                          llvm::Type *retTy, const std::function<llvm::Value *()> &body);
  /// outline() without the call: the function and the caller's values for its parameters.
  /// `extra` parameters follow those; body() finds them in outlineExtra.
  std::pair<llvm::Function *, std::vector<llvm::Value *>>
  outlineFunction(const std::string &name,
                  const std::vector<std::pair<llvm::Value **, ArgUse>> &uses, llvm::Type *retTy,
                  const std::vector<llvm::Type *> &extra,
                  const std::function<llvm::Value *()> &body);
  std::vector<llvm::Value *> outlineExtra;
  /// void w(ptr args, i64 lo, i64 hi): loads kernel `k`'s arguments from the struct at args
  /// and calls k(args..., lo, hi); what loom_rt_parallel_for runs. One per kernel.
  llvm::Function *rangeWrapper(llvm::Function *k, llvm::StructType *argsTy);
  /// Runs `kf(args..., lo, hi)` over [0, n): directly when known to be small when compiling,
  /// else through loom_rt_parallel_for with `itemCost` per index, split at multiples of
  /// `align`.
  void callRanged(llvm::Function *kf, std::vector<llvm::Value *> args, llvm::Value *n,
                  llvm::Value *itemCost, int64_t align);
  std::map<llvm::Function *, llvm::Function *> rangeWrappers;
  llvm::Expected<ElementFn> elementFn(const ir::Op &op);

  // --- layout ops, reductions, windows (Layout.cpp) ---
  /// The value whose buffer `v` is a view of (itself when it owns its storage).
  const ir::Value *rootOf(const ir::Value *v);
  unsigned layoutOf(const ir::Value *v);
  llvm::Value *numel(const std::vector<llvm::Value *> &shape);
  /// [start, start + size) of `v` along `axis`.
  View sliceAxisView(const View &v, unsigned axis, llvm::Value *start, llvm::Value *size);
  llvm::Value *globalString(const std::string &s);
  /// if (cond) { loom_rt_fail(message) unless empty; return; }
  void returnIf(llvm::Value *cond, const std::string &message = "");
  /// Returns from loom_main when the runtime has recorded an error.
  void returnIfFailed();
  /// Fills buffer `buf` with 0, 1, ..., n-1.
  View arange(int buf, llvm::Value *n, ir::DType dt);
  /// Checks every element of the dense i32 view against [lo, hi] (loom_rt_range_error and
  /// return on the first bad one); with `table`, also gathers its rows into dense `out`.
  void rangeCheck(const View &dense, llvm::Value *lo, llvm::Value *hi, const std::string &what,
                  const View *table, const View *out);
  /// Buffers or views for ops other than elementwise ones; false if `op` is not one.
  llvm::Expected<bool> planSpecial(const ir::Op &op);
  llvm::Expected<bool> lowerSpecial(const ir::Op &op);
  void lowerReduce(const ir::Op &op);
  llvm::Expected<bool> lowerWindow(const ir::Op &op);
  void lowerBatchMatMul(const ir::Op &op);
  View denseOperand(const ir::Op &op, unsigned i);
  std::map<const ir::Value *, const ir::Value *> viewRoot;
  std::map<const ir::Op *, std::vector<int>> scratch; // extra buffers of an op (-1: none)
  std::map<std::string, llvm::Value *> strings;

  llvm::Error lowerBlock(const ir::Block &blk);
  llvm::Error lowerOp(const ir::Op &op);
  llvm::Error lowerMatMul(const ir::Op &op);
  llvm::Error lowerLoop(const ir::Op &op);
  /// The loop over ranges of rows when its rows are independent (LoopPlan::rows), else in
  /// the current function.
  llvm::Error lowerLoopRows(const ir::Op &op);
  /// The loop itself, in the current function (lowerLoop calls it directly or inside a
  /// function over a range of rows).
  llvm::Error lowerLoopSteps(const ir::Op &op);
  /// While a loop is lowered for a range of rows (see lowerLoop): the symbol of the row dim,
  /// the first row and the row count. dim() gives the count for the symbol and bufferView()
  /// starts buffers whose first dim is the symbol at the first row.
  struct RowWindow {
    std::string sym;
    llvm::Value *lo = nullptr, *n = nullptr;
  };
  std::optional<RowWindow> window;
  /// Rows [lo, lo + n) of `v`, whose first dim is the window's symbol.
  View windowed(const View &v);
  /// While a loop is lowered for a range of units (see lowerLoop and LoopPlan::units): the
  /// loop's split (the units' width, its product and the product's offsets), the first
  /// unit, the unit count, and whether the step is odd. Every value whose last dim is the
  /// width is seen through its columns [lo, lo + n) (bufferView, slices and the loop's
  /// outside values); the product reads fullViews and computes its columns of the result.
  struct UnitWindow {
    const LoopPlan::UnitSplit *split;
    llvm::Value *lo = nullptr, *n = nullptr, *odd = nullptr;
    int64_t width() const { return split->width; }
    /// Whether a value of type `t` is split by units (its last dim is the width).
    bool splits(const ir::Type &t) const {
      return t.rank() >= 1 && t.shape.back().isStatic() && t.shape.back().value() == width();
    }
  };
  std::optional<UnitWindow> unitWindow;
  /// Columns [lo, lo + n) of `v`, whose last dim is the unit window's width.
  View unitWindowed(const View &v);
  /// Whole views of values that a loop over rows or units sees narrowed (the product of a
  /// loop over units reads them).
  std::map<const ir::Value *, View> fullViews;
  /// The loop over units' function: every step for the units [lo, hi).
  llvm::Error lowerLoopUnits(const ir::Op &op);
  /// Runs `lower` with the loop's outside values whose type `narrows` accepts seen through
  /// narrow(view) (their rows or units of the range), their whole views in fullViews;
  /// restores both after.
  llvm::Error withOutsideNarrowed(const ir::Op &op,
                                  const std::function<bool(const ir::Type &)> &narrows,
                                  const std::function<View(const View &)> &narrow,
                                  const std::function<llvm::Error()> &lower);

  /// Emits lower(lo, hi) into a new internal function name(ptr args, i64 lo, i64 hi); the
  /// caller's values its code uses are passed in a struct that the caller fills here.
  /// Returns the function and the struct (what loom_rt_parallel_for or the team runs).
  llvm::Expected<std::pair<llvm::Function *, llvm::Value *>>
  rangeFunction(const char *name,
                const std::function<llvm::Error(llvm::Value *, llvm::Value *)> &lower);
  /// The loop's results are its carries' and stacks' whole buffers.
  void bindLoopResults(const ir::Op &op);
  llvm::FunctionCallee teamFn, barrierFn, numThreadsFn, sgemmColsFn;

  // --- planning (before code) ---
  llvm::Error plan(const ir::Block &blk);
  llvm::Error planLoop(const ir::Op &op);
  int newBuffer(const ir::Type &t);
  /// Per buffer, the first and last position (ops in the order they run) at which it is
  /// live (codegen/Arena.cpp).
  std::vector<std::pair<int64_t, int64_t>> liveRanges() const;
  /// Emits each buffer's byte offset into the arena (buffers live at the same time never
  /// overlap) and returns the arena's size.
  llvm::Value *planArena(std::vector<llvm::Value *> &offsets);
  /// Layout of a value known when compiling: its View::denseFrom.
  std::map<const ir::Value *, unsigned> layout;
  std::map<const ir::Value *, int> bufOf;
  /// Values written straight into storage that is not their own (a stack slot, a carry's
  /// next buffer, a concat's slice), with that view's layout.
  std::map<const ir::Value *, unsigned> directDenseFrom;
  /// Concat operands written in place: the concat and the operand's index.
  struct ConcatSlot {
    const ir::Op *concat;
    unsigned index;
  };
  std::map<const ir::Value *, ConcatSlot> concatSlots;
  /// Plans the operands of the block's concats that can be written into their slice of the
  /// concat's storage (before the block's ops are planned).
  void planConcatsInPlace(const ir::Block &blk);
  /// The view of a concat operand written in place: its slice of the concat's storage.
  View concatSlotView(const ir::Value *v);
  /// Second destinations of values while a loop step is lowered (a carry's next value that
  /// is also stacked, see LoopPlan::nextBuf): the kernel computing the value stores it
  /// there too.
  std::map<const ir::Value *, View> extraOut;
  /// Appends the second destinations of `op`'s results to its kernel's `outs`; returns the
  /// results they repeat, in that order.
  std::vector<unsigned> addExtraOuts(const ir::Op &op, std::vector<View> &outs);
  std::map<const ir::Op *, LoopPlan> loopPlans;
  std::map<const ir::Op *, std::pair<int, int>> matmulCopies; // dense copies of lhs / rhs
  std::vector<ir::Type> bufTypes;
  std::vector<llvm::Value *> bufBytes, bufBase;

  llvm::Function *fn = nullptr;
  llvm::Value *rtCtx = nullptr;
  llvm::FunctionCallee allocFn, sgemmFn, sgemmBatchFn, sampleFn, failFn, failedFn, conv1dFn,
      maxPoolFn, rangeErrorFn;
  llvm::FunctionCallee conv1dGradInputFn, conv1dGradKernelFn, maxPoolGradFn, parallelForFn;
  llvm::FunctionCallee prepareRhsFn, sgemmPreparedFn;
  /// Matmuls whose right-hand side (a weight) loom_rt_prepare_rhs prepared on entry: the
  /// prepared layout, possibly null at run time (then the product reads the weight as is).
  std::map<const ir::Op *, llvm::Value *> preparedRhs;
  std::map<std::string, llvm::Value *> syms;
  std::map<std::string, llvm::Value *> exprDims; // by Dim::str()
  std::map<const ir::Value *, View> views;
  std::map<std::string, llvm::Function *> kernels; // by body text, for sharing
};

using ir::walkConst;

/// Ops that can write their result through a strided view of storage that is not their
/// own (a stack slot at t, a slice of a concat).
bool writesThroughView(const ir::Op &op);

/// About how many scalar ops one element of an elementwise op costs.
unsigned elementCost(ir::OpKind k);

/// Per-step layout of a sequence of layout `seqDenseFrom` and rank `seqRank`, axis 1 removed.
unsigned sliceDenseFrom(unsigned seqDenseFrom, unsigned seqRank);

/// Builds the LLVM module for `f` (no optimisation).
llvm::Expected<std::unique_ptr<llvm::Module>> lowerToLLVM(const ir::Function &f,
                                                          llvm::LLVMContext &ctx);

/// Sets `tm`'s data layout, triple, CPU and features on `m` and, with runPasses, runs the
/// default pipeline at `opt` (0-3). The JIT and the AOT compiler (codegen/Object.cpp) both
/// go through it, so they generate the same code for the same CPU.
struct TargetSpec;
void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm, const TargetSpec &t, unsigned opt,
                    bool runPasses);
/// The target machine for `t` (codegen/Target.h) at optimisation level `opt`, with
/// position-independent code when `pic` (AOT objects).
llvm::Expected<std::unique_ptr<llvm::TargetMachine>> createTargetMachine(const TargetSpec &t,
                                                                         unsigned opt, bool pic);

} // namespace loom::codegen
