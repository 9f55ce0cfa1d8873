// S3Inverse (inv_kernels.h): a^-1 mod (3, Phi_n) by Bernstein-Yang divsteps on bitsliced
// trits in AVX2 registers.
//
// The algorithm is the one of ../internal/inverse_impl.h (reversed polynomials, f = Phi_n,
// g = a mod Phi_n, 2(n-1)-1 divsteps, result f0 * reversal of v), rearranged so that a step
// costs about a third of the templates' instructions:
//
// 1. One update rule for both branches. With c = -f0 g0, a divstep without swap gives
//    g' = (g + c f)/x, w' = w + c x v; with a swap, g' = (f + c g)/x, w' = x v + c w. In the swap
//    case c is a unit (c^2 = 1), and scaling the pair (g', w') by c keeps the invariant that
//    links g to w (and does not change what the algorithm computes, which only ever divides by
//    the constant of f at the end). So every step is
//        g' = (g + c f)/x,  w' = w + c x v,  f' = swap ? g : f,  v' = swap ? w : x v,
//    one select per pair instead of a conditional swap.
// 2. Trits as (nonzero, sign) bit planes, sign meaningless where nonzero is 0: c * f is two
//    instructions (AND the nonzero plane with [c != 0], XOR the sign plane with [c = -1]) and
//    a + b is seven.
// 3. An interleaved layout that makes the shifts by one coefficient cheap: with V vectors per
//    plane (4 V 64-bit words), coefficient j is bit j / 4V of word k = j mod 4V, and word k is
//    lane k / V of vector k mod V. Dividing by x moves every vector one place down (a renaming:
//    the vector index is offset by a compile-time constant that turns with the step) except the
//    one holding coefficient 0, which rotates its lanes and shifts one lane by a bit (3
//    instructions). Multiplying by x is the mirror image.
// 4. (f, g) and (v, w) are updated in two interleaved streams, (v, w) one block of steps behind
//    on masks that (f, g) stored: the (f, g) steps are one long dependency chain (each step's
//    masks come from the previous step's coefficient 0), and the independent (v, w) work fills
//    its latency.
// 5. Each step's masks (c != 0, c = -1, swap) and delta are computed from coefficient 0 in
//    general-purpose registers with arithmetic only, leaving the vector units to the planes.
// No branch or memory index depends on a coefficient.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "crypto/ntru/avx2/inv_kernels.h"
#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru::avx2 {
namespace {

using V = __m256i;

// Bit planes of one polynomial: z = coefficient nonzero, s = coefficient is -1 (where z).
template <int kV>
struct Planes {
  V z[kV];
  V s[kV];
};

// Multiplies by x^-1 the vector holding coefficient 0 (see the file comment): lanes move one
// down, and the old lane 0 becomes lane 3 shifted right by one bit.
inline V RotDown(V x) {
  const V t = _mm256_permute4x64_epi64(x, 0x39);  // lanes 1, 2, 3, 0
  return _mm256_blend_epi32(t, _mm256_srli_epi64(t, 1), 0xC0);
}
// Multiplies by x the vector holding the top coefficients: lanes move one up, the old lane 3
// becomes lane 0 shifted left by one bit.
inline V RotUp(V x) {
  const V t = _mm256_permute4x64_epi64(x, 0x93);  // lanes 3, 0, 1, 2
  return _mm256_blend_epi32(t, _mm256_slli_epi64(t, 1), 0x03);
}

// m ? b : a for a mask m that is all ones or all zeros in each 64-bit lane (vblendvpd reads one
// bit per lane, so the compiler adds no byte-mask conversion as it does for vpblendvb).
inline V Select(V a, V b, V m) {
  return _mm256_castpd_si256(
      _mm256_blendv_pd(_mm256_castsi256_pd(a), _mm256_castsi256_pd(b), _mm256_castsi256_pd(m)));
}

// (az, as) += (xz, xs) in F_3, (nonzero, sign) planes.
// Seven instructions: the sum is nonzero if exactly one term is, or both are with equal signs
// (az ^ xz | az & ~d covers both, d being meaningless only where it does not matter); its sign
// is a's if only a is nonzero, x's if only x is, and -a's if both are with equal signs.
inline void AddTo(V& az, V& as, V xz, V xs) {
  const V d = _mm256_xor_si256(xs, as);  // signs differ (where both are nonzero)
  const V flip = _mm256_and_si256(az, _mm256_xor_si256(d, xz));
  as = _mm256_xor_si256(xs, flip);
  az = _mm256_or_si256(_mm256_xor_si256(az, xz), _mm256_andnot_si256(d, az));
}

// One vector of either half of a step: x' = s ? y : x and y' = y + c x, with c given by the
// masks cz (c != 0) and cn (c = -1) -- (x, y) = (f, g) in FgStep and (x v, w) in VwStep.
inline void SelectAndAdd(V& xz, V& xs, V& yz, V& ys, V cz, V cn, V s) {
  const V oz = xz;
  const V os = xs;
  xz = Select(oz, yz, s);
  xs = Select(os, ys, s);
  AddTo(yz, ys, _mm256_and_si256(oz, cz), _mm256_xor_si256(os, cn));
}

struct StepMasks {
  std::uint64_t cz;  // c != 0
  std::uint64_t cn;  // c = -1
  std::uint64_t s;   // swap
};

// One divstep of (delta, f, g). f's vectors are in a fixed frame; g's logical vector k is
// physical vector (k + J) mod kV before the step and (k + J + 1) mod kV after it.
template <int kV, int J>
inline void FgStep(Planes<kV>& f, Planes<kV>& g, std::int64_t& delta, StepMasks* out) {
  constexpr int kG0 = J % kV;
  // The masks from coefficient 0 in general-purpose registers (scalar ALUs are otherwise idle).
  const auto lo = [](V x) {
    return static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm256_castsi256_si128(x)));
  };
  const std::uint64_t f0z = lo(f.z[0]);
  const std::uint64_t g0z = lo(g.z[kG0]);
  const std::uint64_t sign = lo(f.s[0]) ^ lo(g.s[kG0]);
  const std::uint64_t czm = 0 - (f0z & g0z & 1);
  const std::uint64_t cnm = (sign & 1) - 1;                         // c = -f0 g0 = -1: equal signs
  const auto dpos = static_cast<std::uint64_t>((0 - delta) >> 63);  // delta > 0
  const std::uint64_t sm = dpos & (0 - (g0z & 1));
  delta = static_cast<std::int64_t>((static_cast<std::uint64_t>(delta) ^ sm) - sm + 1);
  out->cz = czm;
  out->cn = cnm;
  out->s = sm;
  const V cz = _mm256_set1_epi64x(static_cast<long long>(czm));
  const V cn = _mm256_set1_epi64x(static_cast<long long>(cnm));
  const V s = _mm256_set1_epi64x(static_cast<long long>(sm));
#pragma GCC unroll 4
  for (int k = 0; k < kV; ++k) {
    const int pg = (k + J) % kV;
    SelectAndAdd(f.z[k], f.s[k], g.z[pg], g.s[pg], cz, cn, s);
  }
  g.z[kG0] = RotDown(g.z[kG0]);  // g /= x: logical vector 0 becomes the last one
  g.s[kG0] = RotDown(g.s[kG0]);
}

// The (v, w) half of the same step. w is in a fixed frame; v's logical vector k is physical
// vector (k - J) mod kV before the step and (k - J - 1) mod kV after it.
template <int kV, int J>
inline void VwStep(Planes<kV>& v, Planes<kV>& w, const StepMasks& m) {
  constexpr int kTop = ((kV - 1 - J) % kV + kV) % kV;  // physical vector of logical kV - 1
  v.z[kTop] = RotUp(v.z[kTop]);                        // v = x v: it becomes logical 0
  v.s[kTop] = RotUp(v.s[kTop]);
  const V cz = _mm256_set1_epi64x(static_cast<long long>(m.cz));
  const V cn = _mm256_set1_epi64x(static_cast<long long>(m.cn));
  const V s = _mm256_set1_epi64x(static_cast<long long>(m.s));
#pragma GCC unroll 4
  for (int k = 0; k < kV; ++k) {
    const int pv = ((k - J - 1) % kV + kV) % kV;
    SelectAndAdd(v.z[pv], v.s[pv], w.z[k], w.s[k], cz, cn, s);
  }
}

// kV steps (frames back where they started), then `count` of them.
template <int kV, std::size_t... J>
inline void FgSteps(Planes<kV>& f, Planes<kV>& g, std::int64_t& delta, StepMasks* m, int groups,
                    std::index_sequence<J...> /*steps*/) {
  for (int i = 0; i < groups; ++i) {
    (FgStep<kV, static_cast<int>(J)>(f, g, delta, m + i * kV + J), ...);
  }
}
template <int kV, std::size_t... J>
inline void VwSteps(Planes<kV>& v, Planes<kV>& w, const StepMasks* m, int groups,
                    std::index_sequence<J...> /*steps*/) {
  for (int i = 0; i < groups; ++i) {
    (VwStep<kV, static_cast<int>(J)>(v, w, m[i * kV + J]), ...);
  }
}
// Both passes in one loop, the (v, w) half one block behind: the (f, g) steps form one long
// dependency chain (each step's masks come from the previous step's coefficient 0), and the
// independent (v, w) work of the previous block fills its latency.
template <int kV, std::size_t... J>
inline void FusedSteps(Planes<kV>& f, Planes<kV>& g, std::int64_t& delta, StepMasks* m_out,
                       Planes<kV>& v, Planes<kV>& w, const StepMasks* m_in, int groups,
                       std::index_sequence<J...> /*steps*/) {
  for (int i = 0; i < groups; ++i) {
    ((FgStep<kV, static_cast<int>(J)>(f, g, delta, m_out + i * kV + J),
      VwStep<kV, static_cast<int>(J)>(v, w, m_in[i * kV + J])),
     ...);
  }
}

// Word index (0 .. 4 kV) and bit of coefficient j in the interleaved layout, and where that
// word is stored in an array of kV vectors (lane-major within a vector).
template <int kV>
constexpr int WordSlot(int k) {
  return 4 * (k % kV) + k / kV;
}

template <int kV>
inline void LoadPlanes(V* out, const std::uint64_t* words) {
  for (int k = 0; k < kV; ++k)
    out[k] = _mm256_loadu_si256(reinterpret_cast<const V*>(words + 4 * k));
}
template <int kV>
inline void StorePlanes(std::uint64_t* words, const V* in) {
  for (int k = 0; k < kV; ++k) _mm256_storeu_si256(reinterpret_cast<V*>(words + 4 * k), in[k]);
}

}  // namespace

template <class P>
void S3Inverse(std::uint16_t* r, const std::uint16_t* a) {
  constexpr int kN = P::kN;
  constexpr int kV = (kN + 255) / 256;
  constexpr int kWords = 4 * kV;
  constexpr int kSteps = 2 * (kN - 1) - 1;
  constexpr int kBlockGroups = 16;  // steps per block: 16 kV
  constexpr int kBlock = kBlockGroups * kV;

  Planes<kV> f;
  Planes<kV> g;
  Planes<kV> v;
  Planes<kV> w;
  {
    // f = Phi_n (all ones), g = reversal of (a mod Phi_n) of degree n-2, v = 0, w = 1.
    alignas(32) std::uint64_t fz[kWords] = {};
    alignas(32) std::uint64_t gz[kWords] = {};
    alignas(32) std::uint64_t gs[kWords] = {};
    const std::uint32_t top = a[kN - 1];
    for (int k = 0; k < kWords; ++k) {
      std::uint64_t z = 0;
      std::uint64_t s = 0;
      std::uint64_t ones = 0;
      for (int b = 0; b * kWords + k < kN; ++b) {
        const int j = b * kWords + k;  // coefficient j of g is a[n-2-j]
        ones |= std::uint64_t{1} << b;
        if (j < kN - 1) {
          std::uint32_t t = a[kN - 2 - j] + 2 * top;  // at most 6
          t -= 3 * ((t * 11) >> 5);                   // t mod 3 (floor(t / 3) for t <= 6)
          z |= std::uint64_t{(t | (t >> 1)) & 1} << b;
          s |= std::uint64_t{t >> 1} << b;
        }
      }
      fz[WordSlot<kV>(k)] = ones;
      gz[WordSlot<kV>(k)] = z;
      gs[WordSlot<kV>(k)] = s;
    }
    LoadPlanes<kV>(f.z, fz);
    LoadPlanes<kV>(g.z, gz);
    LoadPlanes<kV>(g.s, gs);
    for (int k = 0; k < kV; ++k) {
      f.s[k] = _mm256_setzero_si256();
      v.z[k] = _mm256_setzero_si256();
      v.s[k] = _mm256_setzero_si256();
      w.z[k] = _mm256_setzero_si256();
      w.s[k] = _mm256_setzero_si256();
    }
    w.z[0] = _mm256_setr_epi64x(1, 0, 0, 0);  // coefficient 0: word 0, vector 0 lane 0
    Wipe(gz, sizeof gz);
    Wipe(gs, sizeof gs);
  }

  std::int64_t delta = 1;
  StepMasks masks[2][kBlock];  // two blocks' masks: (f, g) fills one while (v, w) reads the other
  constexpr auto kGroup = std::make_index_sequence<kV>{};
  constexpr int kFullBlocks = kSteps / kBlock;
  static_assert(kFullBlocks >= 1);
  FgSteps<kV>(f, g, delta, masks[0], kBlockGroups, kGroup);
  for (int blk = 1; blk < kFullBlocks; ++blk) {
    FusedSteps<kV>(f, g, delta, masks[blk & 1], v, w, masks[(blk - 1) & 1], kBlockGroups, kGroup);
  }
  // The rest: kRestGroups groups of kV steps, then kTail single steps (frames end turned by
  // kTail). (v, w) catches up with the last full block on the way.
  constexpr int kRest = kSteps - kFullBlocks * kBlock;
  constexpr int kRestGroups = kRest / kV;
  StepMasks* last = masks[(kFullBlocks - 1) & 1];
  StepMasks* rest = masks[kFullBlocks & 1];
  FusedSteps<kV>(f, g, delta, rest, v, w, last, kRestGroups, kGroup);
  VwSteps<kV>(v, w, last + kRestGroups * kV, kBlockGroups - kRestGroups, kGroup);
  VwSteps<kV>(v, w, rest, kRestGroups, kGroup);
  constexpr int kTail = kRest % kV;
  StepMasks* tail_masks = rest + kRestGroups * kV;
  [&]<std::size_t... J>(std::index_sequence<J...>) {
    (FgStep<kV, static_cast<int>(J)>(f, g, delta, tail_masks + J), ...);
    (VwStep<kV, static_cast<int>(J)>(v, w, tail_masks[J]), ...);
  }
  (std::make_index_sequence<kTail>{});

  // r[i] = f0 * v[n-2-i]. v's logical vector k is physical vector (k - kTail) mod kV.
  alignas(32) std::uint64_t vz[kWords];
  alignas(32) std::uint64_t vs[kWords];
  StorePlanes<kV>(vz, v.z);
  StorePlanes<kV>(vs, v.s);
  const auto f0s = static_cast<std::uint64_t>(_mm256_extract_epi64(f.s[0], 0)) & 1;
  for (int k = 0; k < kWords; ++k) {
    const int logical_vec = k % kV;
    const int physical_vec = ((logical_vec - kTail) % kV + kV) % kV;
    const int slot = 4 * physical_vec + k / kV;
    const std::uint64_t z = vz[slot];
    const std::uint64_t s = vs[slot] ^ (0 - f0s);
    for (int b = 0; b * kWords + k < kN - 1; ++b) {
      const int j = b * kWords + k;
      const auto zb = static_cast<std::uint16_t>((z >> b) & 1);
      const auto sb = static_cast<std::uint16_t>((s >> b) & 1);
      r[kN - 2 - j] = static_cast<std::uint16_t>(zb << sb);  // 0, 1 or 2
    }
  }
  for (int i = kN - 1; i < P::kPad; ++i) r[i] = 0;
  Wipe(vz, sizeof vz);
  Wipe(vs, sizeof vs);
  Wipe(masks, sizeof masks);
  Wipe(&f, sizeof f);
  Wipe(&g, sizeof g);
  Wipe(&v, sizeof v);
  Wipe(&w, sizeof w);
}

template void S3Inverse<Hps2048509>(std::uint16_t*, const std::uint16_t*);
template void S3Inverse<Hps2048677>(std::uint16_t*, const std::uint16_t*);
template void S3Inverse<Hps4096821>(std::uint16_t*, const std::uint16_t*);
template void S3Inverse<Hrss701>(std::uint16_t*, const std::uint16_t*);

}  // namespace medmesh::ntru::avx2
