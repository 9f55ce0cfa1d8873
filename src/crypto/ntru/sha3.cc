// SHA3-256 (OpenSSL's libcrypto, the only dependency) and wiping for the NTRU library.
#include <openssl/evp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "crypto/ntru/internal/params.h"

namespace medmesh::ntru {
namespace {

// The fetched EVP_MD is cached for the life of the process (fetching costs more than hashing
// the ~1 KB inputs). A lost race frees the extra copy.
std::atomic<EVP_MD*> g_sha3_256{nullptr};

EVP_MD* Sha3Md() {
  EVP_MD* md = g_sha3_256.load(std::memory_order_acquire);
  if (md != nullptr) return md;
  EVP_MD* fresh = EVP_MD_fetch(nullptr, "SHA3-256", nullptr);
  if (fresh == nullptr) std::abort();  // libcrypto without SHA3: nothing sensible to do
  EVP_MD* expected = nullptr;
  if (g_sha3_256.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) return fresh;
  EVP_MD_free(fresh);
  return expected;
}

}  // namespace

void Sha3_256(std::uint8_t out[32], const std::uint8_t* a, std::size_t a_len, const std::uint8_t* b,
              std::size_t b_len) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, Sha3Md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, a, a_len) != 1 || (b_len > 0 && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
      EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32) {
    std::abort();  // only on allocation failure inside libcrypto
  }
  EVP_MD_CTX_free(ctx);
}

// memset plus a compiler barrier that makes the zeroed memory observable, so the stores are
// kept; several times faster than OPENSSL_cleanse on the ~10 KB each operation wipes.
void Wipe(void* p, std::size_t n) {
  std::memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

}  // namespace medmesh::ntru
