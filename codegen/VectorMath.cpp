// Transcendentals as branch-free LLVM IR (Cephes-style range reduction + polynomials).
// fmuladd becomes one FMA instruction on the host (AVX2 + FMA) and never a libm call.
#include "codegen/VectorMath.h"

#include "llvm/IR/Intrinsics.h"

#include <initializer_list>

using namespace llvm;

namespace loom::codegen {
namespace {

Value *fc(IRBuilder<> &b, Type *ty, double v) { return ConstantFP::get(ty, v); }

Type *intTypeFor(Type *fty) { return fty->getWithNewType(Type::getInt32Ty(fty->getContext())); }

Value *ic(Type *ity, int64_t v) { return ConstantInt::get(ity, v, /*IsSigned=*/true); }

Value *fma(IRBuilder<> &b, Value *x, Value *y, Value *z) {
  return b.CreateIntrinsic(Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}

/// Horner evaluation, highest coefficient first.
Value *poly(IRBuilder<> &b, Value *x, std::initializer_list<double> coeffs) {
  Type *ty = x->getType();
  auto it = coeffs.begin();
  Value *p = fc(b, ty, *it++);
  for (; it != coeffs.end(); ++it)
    p = fma(b, p, x, fc(b, ty, *it));
  return p;
}

/// 2^n as a float for an integer n in [-126, 127].
Value *pow2(IRBuilder<> &b, Value *n, Type *fty) {
  Type *ity = n->getType();
  Value *bits = b.CreateShl(b.CreateAdd(n, ic(ity, 127)), ic(ity, 23));
  return b.CreateBitCast(bits, fty);
}

/// e^(x - fn*ln2) for fn = round(x*log2(e)): r = x - fn*ln2 in Cody and Waite's two parts
/// (the high part has 9 significant bits, so fn*C1 is exact), then Cephes' degree-5 minimax
/// polynomial on |r| <= ln2/2.
Value *expReduced(IRBuilder<> &b, Value *x, Value *fn) {
  Type *ty = x->getType();
  Value *r = fma(b, fn, fc(b, ty, -0.693359375), x);
  r = fma(b, fn, fc(b, ty, 2.12194440e-4), r);
  Value *z = b.CreateFMul(r, r);
  Value *p = poly(b, r,
                  {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                   1.6666665459E-1, 5.0000001201E-1});
  return b.CreateFAdd(fma(b, p, z, r), fc(b, ty, 1.0));
}

/// x > hi ? hi : x, one vminps: an ordered compare, so a NaN x passes through.
Value *clampAbove(IRBuilder<> &b, Value *x, double hi) {
  Value *h = fc(b, x->getType(), hi);
  return b.CreateSelect(b.CreateFCmpOGT(x, h), h, x);
}

/// x < lo ? lo : x, one vmaxps; a NaN x passes through.
Value *clampBelow(IRBuilder<> &b, Value *x, double lo) {
  Value *l = fc(b, x->getType(), lo);
  return b.CreateSelect(b.CreateFCmpOLT(x, l), l, x);
}

/// exp(x) for the activations, whose results never need the denormal range: x is clamped to
/// [-87, 89], so results below 2^-126 * e^0.35 are not produced and from x ~ 88.5 on the result
/// is +inf. Otherwise as emitExp (same reduction and polynomial), but n comes from the
/// round-to-nearest of one FMA with a magic constant, 1.5 * 2^23 + 127: the sum's low mantissa
/// bits are n + 127, which shifted left by 23 are the bits of 2^n (no rint, no float-to-int
/// conversion, one scale). A NaN x gives NaN (the scale's bits are then 0, NaN * 0 = NaN).
Value *expForActivation(IRBuilder<> &b, Value *x) {
  Type *ty = x->getType();
  Type *ity = intTypeFor(ty);
  const double magic = 12582912.0 + 127.0;
  Value *xc = clampAbove(b, clampBelow(b, x, -87.0), 89.0);
  Value *t = fma(b, xc, fc(b, ty, 1.44269504088896341), fc(b, ty, magic));
  Value *y = expReduced(b, xc, b.CreateFSub(t, fc(b, ty, magic)));
  Value *scale = b.CreateBitCast(b.CreateShl(b.CreateBitCast(t, ity), ic(ity, 23)), ty);
  return b.CreateFMul(y, scale);
}

} // namespace

// exp(x) = 2^n * e^r, n = rint(x*log2(e)), r = x - n*ln2 (Cody-Waite, two parts; the
// high part has 9 significant bits so n*C1 is exact), e^r by Cephes' degree-5 minimax
// polynomial on |r| <= ln2/2. The scale 2^n is applied as two factors 2^(n>>1) and
// 2^(n-(n>>1)) so that results in the overflow and denormal ranges round once.
Value *emitExp(IRBuilder<> &b, Value *x) {
  Type *ty = x->getType();
  Type *ity = intTypeFor(ty);
  // NaN and +inf become 89 here (result +inf; NaN is restored at the end); below -104 the
  // result rounds to +0.
  Value *xc = b.CreateSelect(b.CreateFCmpUGT(x, fc(b, ty, 89.0)), fc(b, ty, 89.0), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, fc(b, ty, -104.0)), fc(b, ty, -104.0), xc);
  Value *fn =
      b.CreateUnaryIntrinsic(Intrinsic::rint, b.CreateFMul(xc, fc(b, ty, 1.44269504088896341)));
  Value *y = expReduced(b, xc, fn);
  Value *n = b.CreateFPToSI(fn, ity); // |n| <= 150: always representable
  Value *n1 = b.CreateAShr(n, ic(ity, 1));
  Value *n2 = b.CreateSub(n, n1);
  y = b.CreateFMul(b.CreateFMul(y, pow2(b, n1, ty)), pow2(b, n2, ty));
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, y, "exp");
}

// log(x) = e*ln2 + log(m), x = m*2^e with m in [sqrt(1/2), sqrt(2)); log(1+f) by Cephes'
// degree-8 polynomial f - f^2/2 + f^3*P(f); ln2 split in two parts as in exp.
// Denormal inputs are scaled by 2^23 first. log(0) = -inf, log(x<0) = NaN, log(inf) = inf.
Value *emitLog(IRBuilder<> &b, Value *x) {
  Type *ty = x->getType();
  Type *ity = intTypeFor(ty);
  Value *tiny = b.CreateFCmpOLT(x, fc(b, ty, 1.17549435e-38));
  Value *xs = b.CreateSelect(tiny, b.CreateFMul(x, fc(b, ty, 8388608.0)), x);
  Value *eadj = b.CreateSelect(tiny, fc(b, ty, -23.0), fc(b, ty, 0.0));
  Value *bits = b.CreateBitCast(xs, ity);
  Value *e = b.CreateSub(b.CreateLShr(bits, ic(ity, 23)), ic(ity, 126));
  Value *m =
      b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ic(ity, 0x007fffff)), ic(ity, 0x3f000000)), ty);
  Value *fe = b.CreateFAdd(b.CreateSIToFP(e, ty), eadj);
  Value *small = b.CreateFCmpOLT(m, fc(b, ty, 0.707106781186547524));
  fe = b.CreateSelect(small, b.CreateFSub(fe, fc(b, ty, 1.0)), fe);
  Value *f = b.CreateSelect(small, b.CreateFSub(b.CreateFAdd(m, m), fc(b, ty, 1.0)),
                            b.CreateFSub(m, fc(b, ty, 1.0)));
  Value *z = b.CreateFMul(f, f);
  Value *p =
      poly(b, f,
           {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
            -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  Value *y = b.CreateFMul(b.CreateFMul(p, f), z);
  y = fma(b, fe, fc(b, ty, -2.12194440e-4), y);
  y = fma(b, z, fc(b, ty, -0.5), y);
  Value *r = b.CreateFAdd(f, y);
  r = fma(b, fe, fc(b, ty, 0.693359375), r);
  Value *inf = ConstantFP::getInfinity(ty);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, inf), inf, r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, fc(b, ty, 0.0)), ConstantFP::getInfinity(ty, true), r);
  return b.CreateSelect(b.CreateFCmpULT(x, fc(b, ty, 0.0)), ConstantFP::getNaN(ty), r, "log");
}

// tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9.2, a rational fit with P(0) = Q(0) = 1 (so small
// inputs keep their relative accuracy) whose coefficients come from scripts/fit_tanh.py. The
// result is capped at 1 and takes the sign of x. About 20 instructions a vector and no
// exp: tanh is most of an LSTM step's gate math.
Value *emitTanh(IRBuilder<> &b, Value *x) {
  Value *ax = b.CreateUnaryIntrinsic(Intrinsic::fabs, x);
  Value *xc = clampAbove(b, ax, 9.2);
  Value *s = b.CreateFMul(xc, xc);
  Value *p = poly(b, s,
                  {-7.9520002e-14, 5.06850326e-11, -1.97896757e-08, 1.10468682e-05, 0.0030936806,
                   0.130748108, 1.0});
  Value *q = poly(b, s, {0.000253118371, 0.0244542547, 0.464081377, 1.0});
  Value *r = clampAbove(b, b.CreateFDiv(b.CreateFMul(xc, p), q), 1.0);
  return b.CreateBinaryIntrinsic(Intrinsic::copysign, r, x, nullptr, "tanh");
}

// sigmoid(x) = 1 / (1 + exp(-x)) with expForActivation: exp(-x) is +inf (result 0) from
// x <= -88.5 and at most 2^-126 * e^0.35 (result 1) from x >= 87, so the result saturates
// exactly and is never NaN unless x is.
Value *emitSigmoid(IRBuilder<> &b, Value *x) {
  Type *ty = x->getType();
  Value *e = expForActivation(b, b.CreateFNeg(x));
  return b.CreateFDiv(fc(b, ty, 1.0), b.CreateFAdd(fc(b, ty, 1.0), e), "sigmoid");
}

// erf: for |x| < 1 its Taylor series x * P10(x^2) (the first omitted term is 1.2e-9 at
// |x| = 1); above, Abramowitz and Stegun 7.1.26, 1 - t*P5(t)*exp(-x^2) with
// t = 1/(1 + 0.3275911|x|) (absolute error 1.5e-7), with the sign of x. exp(-x^2) becomes 0
// for large |x|, so the result saturates at exactly +-1.
Value *emitErf(IRBuilder<> &b, Value *x) {
  Type *ty = x->getType();
  Value *ax = b.CreateUnaryIntrinsic(Intrinsic::fabs, x);
  Value *z = b.CreateFMul(x, x);
  Value *small =
      b.CreateFMul(x, poly(b, z,
                           {1.4807192815879218e-08, -1.6365844691234924e-07, 1.6462114365889246e-06,
                            -1.492565035840625e-05, 0.00012055332981789664, -0.00085483270234508522,
                            0.0052239776254421879, -0.026866170645131252, 0.11283791670955126,
                            -0.37612638903183754, 1.1283791670955126}));
  Value *t = b.CreateFDiv(fc(b, ty, 1.0), fma(b, ax, fc(b, ty, 0.3275911), fc(b, ty, 1.0)));
  Value *p = b.CreateFMul(
      t, poly(b, t, {1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592}));
  Value *big = b.CreateFSub(fc(b, ty, 1.0), b.CreateFMul(p, emitExp(b, b.CreateFNeg(z))));
  Value *r = b.CreateSelect(b.CreateFCmpOGE(ax, fc(b, ty, 1.0)), big, small);
  return b.CreateBinaryIntrinsic(Intrinsic::copysign, r, x, nullptr, "erf");
}

} // namespace loom::codegen
