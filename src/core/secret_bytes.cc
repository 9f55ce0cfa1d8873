#include "core/secret_bytes.h"

#include <cstring>

namespace medmesh {

void SecureWipe(void* p, std::size_t n) {
  if (n == 0) return;
  std::memset(p, 0, n);
  // The barrier tells the compiler the zeroed memory is observed, so the memset stays.
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

SecretBytes::SecretBytes(std::size_t size)
    : data_(size ? std::make_unique<std::uint8_t[]>(size) : nullptr), size_(size) {}

SecretBytes::SecretBytes(ByteView data) : SecretBytes(data.size()) {
  if (size_) std::memcpy(data_.get(), data.data(), size_);
}

SecretBytes::~SecretBytes() { Clear(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void SecretBytes::Clear() {
  if (data_) SecureWipe(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

}  // namespace medmesh
