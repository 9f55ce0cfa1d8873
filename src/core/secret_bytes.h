// SecretBytes: owned, move-only bytes for key material.
//
// Wiped (with a store the compiler cannot elide) on destruction, on move-from and on Clear().
// Equality is constant time in the contents (the length is not secret). There is deliberately
// no stream operator, no implicit conversion to a view and no copy: reveal the bytes with
// `reveal()` at the one place that needs them.
// Thread safety: like any value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bytes.h"

namespace medmesh {

// Overwrites memory with zeros in a way the optimiser keeps.
void SecureWipe(void* p, std::size_t n);
// Constant-time equality of two equal-length buffers (false for different lengths).
bool ConstantTimeEqual(ByteView a, ByteView b);

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled
  explicit SecretBytes(ByteView data);     // copies `data`; the caller wipes its own copy
  ~SecretBytes();
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;

  // An explicit copy, for the rare case that needs two owners.
  SecretBytes Clone() const { return SecretBytes(reveal()); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteView reveal() const { return {data_.get(), size_}; }
  MutableByteView mutable_bytes() { return {data_.get(), size_}; }
  void Clear();

  bool operator==(const SecretBytes& other) const {
    return ConstantTimeEqual(reveal(), other.reveal());
  }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

}  // namespace medmesh
