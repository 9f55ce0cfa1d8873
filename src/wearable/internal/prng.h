// A small seeded PRNG for the simulator and the demo identities: xoshiro256** seeded through
// SplitMix64, with the few distributions they need. Deterministic for a seed on a given build
// (the normal draws use libm, whose last bits may differ between platforms).
// NOT for anything secret: use medmesh::Random for keys, nonces and ids.
// Thread safety: not thread-safe (a value type; give each user its own).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>

namespace medmesh::wearable::internal {

class Prng {
 public:
  explicit Prng(std::uint64_t seed) {
    for (auto& s : s_) s = SplitMix(seed);
  }

  std::uint64_t NextU64() {
    const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n), n > 0 (the modulo bias is far below anything a simulation sees).
  std::uint64_t Below(std::uint64_t n) { return NextU64() % n; }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal (Box-Muller; one of the pair is kept for the next call).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = Uniform();
    while (u1 <= 0.0) u1 = Uniform();
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }
  double Normal(double mean, double sd) { return mean + sd * Normal(); }
  // Exponential with the given mean.
  double Exponential(double mean) {
    double u = Uniform();
    while (u <= 0.0) u = Uniform();
    return -mean * std::log(u);
  }
  template <typename T>
  const T& Pick(std::span<const T> items) {
    return items[static_cast<std::size_t>(Below(items.size()))];
  }
  // A fresh generator whose stream is independent of this one's future draws.
  Prng Fork() { return Prng(NextU64()); }

 private:
  static std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t SplitMix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace medmesh::wearable::internal
