#include "crypto/password.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "crypto/kdf.h"

namespace medmesh::crypto {
namespace {

// The cheapest Argon2id settings, so that tests of the logic stay fast.
constexpr PasswordHasherOptions kFast{.ops_limit = 1, .mem_limit_bytes = 8192};

TEST(PasswordHasherTest, InteractiveHashVerifies) {
  PasswordHasher hasher;
  auto hash = hasher.Hash("correct horse battery staple");
  ASSERT_TRUE(hash);
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=65536,t=2,p=1$")) << *hash;
  EXPECT_TRUE(hasher.Verify(*hash, "correct horse battery staple"));
  EXPECT_FALSE(hasher.NeedsRehash(*hash));
}

TEST(PasswordHasherTest, WrongPasswordIsRejectedOpaquely) {
  PasswordHasher hasher(kFast);
  std::string hash = hasher.Hash("s3cret").value();
  for (std::string_view wrong : {"s3cret ", "S3cret", "", "s3cre"}) {
    Status st = hasher.Verify(hash, wrong);
    ASSERT_FALSE(st) << wrong;
    EXPECT_TRUE(IsAuthenticationFailure(st.error()));
  }
}

TEST(PasswordHasherTest, MalformedHashesAreRejectedOpaquely) {
  PasswordHasher hasher(kFast);
  std::string hash = hasher.Hash("pw").value();
  for (const std::string& bad :
       {std::string(), std::string("$argon2id$"), hash.substr(0, hash.size() - 2),
        std::string(200, 'a'), "$argon2i$" + hash.substr(10)}) {
    Status st = hasher.Verify(bad, "pw");
    ASSERT_FALSE(st) << bad;
    EXPECT_TRUE(IsAuthenticationFailure(st.error()));
  }
}

TEST(PasswordHasherTest, SaltMakesEveryHashDifferent) {
  PasswordHasher hasher(kFast);
  EXPECT_NE(hasher.Hash("pw").value(), hasher.Hash("pw").value());
}

TEST(PasswordHasherTest, NeedsRehashWhenParametersDiffer) {
  PasswordHasher fast(kFast);
  PasswordHasher interactive;
  std::string hash = fast.Hash("pw").value();
  EXPECT_FALSE(fast.NeedsRehash(hash));
  EXPECT_TRUE(interactive.NeedsRehash(hash));
  EXPECT_TRUE(fast.NeedsRehash("not a hash"));
  EXPECT_TRUE(fast.NeedsRehash(std::string(300, '$')));
}

TEST(PasswordHasherTest, OverlongPasswordIsRefused) {
  PasswordHasher hasher(kFast);
  std::string long_password(kMaxPasswordBytes + 1, 'x');
  auto r = hasher.Hash(long_password);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(hasher.Hash(std::string(kMaxPasswordBytes, 'x')));
  EXPECT_TRUE(
      IsAuthenticationFailure(hasher.Verify(hasher.Hash("x").value(), long_password).error()));
}

// Runs `threads` hashes at once (released together) and counts the outcomes.
void HashConcurrently(const PasswordHasher& hasher, int threads, std::atomic<int>& ok,
                      std::atomic<int>& exhausted) {
  std::latch start(threads);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      start.arrive_and_wait();
      auto r = hasher.Hash("pw");
      if (r) {
        ++ok;
      } else if (r.error().code() == ErrorCode::kResourceExhausted) {
        ++exhausted;
      }
    });
  }
  for (auto& t : pool) t.join();
}

TEST(PasswordHasherTest, GateRejectsWhenFullAndNotWaiting) {
  // Each hash takes tens of milliseconds; four released together cannot all get the one slot.
  PasswordHasher hasher({.ops_limit = 3,
                         .mem_limit_bytes = 32 << 20,
                         .max_concurrent = 1,
                         .max_wait = std::chrono::milliseconds(0)});
  std::atomic<int> ok{0};
  std::atomic<int> exhausted{0};
  HashConcurrently(hasher, 4, ok, exhausted);
  EXPECT_GE(ok.load(), 1);
  EXPECT_GE(exhausted.load(), 1);
  EXPECT_EQ(ok.load() + exhausted.load(), 4);
}

TEST(PasswordHasherTest, GateQueuesWithinMaxWait) {
  PasswordHasher hasher({.ops_limit = 1,
                         .mem_limit_bytes = 1 << 20,
                         .max_concurrent = 1,
                         .max_wait = std::chrono::seconds(30)});
  std::atomic<int> ok{0};
  std::atomic<int> exhausted{0};
  HashConcurrently(hasher, 4, ok, exhausted);
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(exhausted.load(), 0);
}

}  // namespace
}  // namespace medmesh::crypto
