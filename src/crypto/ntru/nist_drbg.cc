#include "crypto/ntru/nist_drbg.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace medmesh::crypto::testing {
namespace {

constexpr std::size_t kBlockBytes = 16;
// Counter blocks are encrypted in batches of this many: one EVP call per batch instead of
// one per block (NIST's rng.c creates a new cipher context per block, which is ~0.3 us each).
constexpr std::size_t kBatchBlocks = 64;

}  // namespace

void NistCtrDrbg::CipherFree::operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
void NistCtrDrbg::CtxFree::operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }

NistCtrDrbg::NistCtrDrbg()
    : cipher_(EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr)), ctx_(EVP_CIPHER_CTX_new()) {
  MEDMESH_CHECK(cipher_ != nullptr, "OpenSSL: cannot fetch AES-256-ECB");
  MEDMESH_CHECK(ctx_ != nullptr, "OpenSSL: EVP_CIPHER_CTX_new failed");
  MEDMESH_CHECK(EVP_CIPHER_get_block_size(cipher_.get()) == static_cast<int>(kBlockBytes) &&
                    EVP_CIPHER_get_key_length(cipher_.get()) == static_cast<int>(key_.size()),
                "OpenSSL: AES-256-ECB has unexpected block or key size");
}

NistCtrDrbg::~NistCtrDrbg() {
  OPENSSL_cleanse(key_.data(), key_.size());
  OPENSSL_cleanse(v_.data(), v_.size());
}

void NistCtrDrbg::Init(std::span<const std::uint8_t, kSeedBytes> seed) {
  key_.fill(0);
  v_.fill(0);
  SetKey();
  Update(seed.data());
  initialized_ = true;
}

void NistCtrDrbg::Generate(std::uint8_t* out, std::size_t n) {
  MEDMESH_CHECK(initialized_, "NistCtrDrbg::Generate before Init");
  MEDMESH_CHECK(out != nullptr || n == 0, "NistCtrDrbg::Generate: null output");
  std::uint8_t buf[kBatchBlocks * kBlockBytes];
  while (n > 0) {
    const std::size_t blocks = std::min(kBatchBlocks, (n + kBlockBytes - 1) / kBlockBytes);
    EncryptCounterBlocks(buf, blocks);
    const std::size_t take = std::min(n, blocks * kBlockBytes);
    std::memcpy(out, buf, take);
    out += take;
    n -= take;
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  // rng.c runs Update(NULL) after every call, however short: the key changes per call.
  Update(nullptr);
}

void NistCtrDrbg::IncrementV() {
  // 128-bit big-endian increment, as rng.c does it (byte 15 is the least significant).
  for (std::size_t j = v_.size(); j-- > 0;) {
    if (++v_[j] != 0) break;
  }
}

void NistCtrDrbg::EncryptCounterBlocks(std::uint8_t* out, std::size_t blocks) {
  MEDMESH_CHECK(blocks <= kBatchBlocks, "NistCtrDrbg: batch too large");
  std::uint8_t counters[kBatchBlocks * kBlockBytes];
  for (std::size_t i = 0; i < blocks; ++i) {
    IncrementV();
    std::memcpy(counters + i * kBlockBytes, v_.data(), kBlockBytes);
  }
  const int len = static_cast<int>(blocks * kBlockBytes);
  int out_len = 0;
  MEDMESH_CHECK(EVP_EncryptUpdate(ctx_.get(), out, &out_len, counters, len) == 1 && out_len == len,
                "OpenSSL: AES-256-ECB encryption failed");
}

void NistCtrDrbg::Update(const std::uint8_t* data) {
  std::uint8_t temp[3 * kBlockBytes];
  EncryptCounterBlocks(temp, 3);
  if (data != nullptr) {
    for (std::size_t i = 0; i < sizeof(temp); ++i) temp[i] ^= data[i];
  }
  std::memcpy(key_.data(), temp, key_.size());
  std::memcpy(v_.data(), temp + key_.size(), v_.size());
  OPENSSL_cleanse(temp, sizeof(temp));
  SetKey();
}

void NistCtrDrbg::SetKey() {
  MEDMESH_CHECK(EVP_EncryptInit_ex2(ctx_.get(), cipher_.get(), key_.data(), nullptr, nullptr) == 1,
                "OpenSSL: AES-256-ECB key setup failed");
  // ECB with whole blocks only: padding would never trigger, but turn it off explicitly.
  MEDMESH_CHECK(EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) == 1, "OpenSSL: cannot disable padding");
}

}  // namespace medmesh::crypto::testing
