// The AccountStore contract, written once: on SQLite (accounts_test) and on the PostgreSQL test
// cluster (accounts_postgres_test, the same binary; testing/test_backend.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <thread>

#include "accounts/encoding.h"
#include "accounts/postgres_account_store.h"
#include "accounts/sqlite_account_store.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"
#include "testing/test_backend.h"

namespace medmesh::accounts {
namespace {

class AccountStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      SystemRandom r;
      const std::string prefix = "t" + HexEncode(r.Generate(6)) + "_";
      auto opened = PostgresAccountStore::Open({.conninfo = pg, .schema_prefix = prefix});
      ASSERT_TRUE(opened) << opened.error().ToString();
      store_ = std::move(*opened);
    } else {
      auto opened = SqliteAccountStore::Open(dir_.File("accounts.db"));
      ASSERT_TRUE(opened) << opened.error().ToString();
      store_ = std::move(*opened);
    }
  }

  Account NewAccount(Role role, std::string login) {
    Account a;
    a.account_id = NewId("acc_", random_);
    a.role = role;
    a.login = std::move(login);
    a.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    a.display_name = "Name";
    if (role == Role::kPatient) a.patient_id = NewId("pat_", random_);
    if (role == Role::kOperator) a.cloudlet_id = "cloudlet-1";
    if (role == Role::kDoctor) {
      a.licence_number = "L-1";
      a.speciality = "cardiology";
      a.hospital = "St Elsewhere";
    }
    a.created_ms = ++now_;
    a.status_changed_ms = a.created_ms;
    return a;
  }

  SessionRow NewSession(const Account& a, std::int64_t expires_ms = 1'000'000) {
    return {NewId("ses_", random_), a.account_id, ++now_, expires_ms, 0};
  }

  testing::TempDir dir_;
  testing::DeterministicRandom random_{7};
  std::int64_t now_ = 1000;
  std::unique_ptr<AccountStore> store_;
};

TEST_F(AccountStoreTest, CreatesAndReadsBackEveryField) {
  Account a = NewAccount(Role::kPatient, "p@example.org");
  a.sealed_profile = {1, 2, 3};
  ASSERT_TRUE(store_->CreateAccount(a));
  auto by_id = store_->GetAccount(a.account_id);
  ASSERT_TRUE(by_id && *by_id);
  EXPECT_TRUE(**by_id == a);
  auto by_login = store_->FindByLogin("p@example.org");
  ASSERT_TRUE(by_login && *by_login);
  EXPECT_TRUE(**by_login == a);
  Account d = NewAccount(Role::kDoctor, "d@example.org");
  ASSERT_TRUE(store_->CreateAccount(d));
  EXPECT_TRUE(**store_->GetAccount(d.account_id) == d);
  EXPECT_FALSE(store_->GetAccount("acc_aaaaaaaaaaaaaaaaaaaaaaaaaa").value().has_value());
}

TEST_F(AccountStoreTest, InjectionLookingTextIsStoredVerbatim) {
  Account d = NewAccount(Role::kDoctor, "x@example.org");
  d.display_name = "Robert'); DROP TABLE accounts;--";
  d.hospital = "<script>alert(1)</script> \" ' \\ %";
  d.speciality = "' OR '1'='1";
  ASSERT_TRUE(store_->CreateAccount(d));
  auto back = store_->GetAccount(d.account_id);
  ASSERT_TRUE(back && *back);
  EXPECT_TRUE(**back == d);
  ASSERT_TRUE(store_->ChangeStatus(d.account_id, AccountStatus::kPending, AccountStatus::kRejected,
                                   "'; DELETE FROM sessions;--", 5));
  EXPECT_EQ((*store_->GetAccount(d.account_id))->status_reason, "'; DELETE FROM sessions;--");
  EXPECT_EQ(store_->ListByStatus(AccountStatus::kRejected, 10)->size(), 1u);
}

TEST_F(AccountStoreTest, ListsOneRoleInPagesWithoutSecrets) {
  std::vector<std::string> doctors;
  for (int i = 0; i < 5; ++i) {
    Account d = NewAccount(Role::kDoctor, "d" + std::to_string(i) + "@example.org");
    ASSERT_TRUE(store_->CreateAccount(d));
    doctors.push_back(d.account_id);
  }
  Account p = NewAccount(Role::kPatient, "p@example.org");
  p.sealed_profile = {1, 2, 3};
  ASSERT_TRUE(store_->CreateAccount(p));
  std::sort(doctors.begin(), doctors.end());
  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    auto page = store_->ListByRole(Role::kDoctor, after, 2);
    ASSERT_TRUE(page) << page.error().ToString();
    if (page->empty()) break;
    EXPECT_LE(page->size(), 2u);
    for (const Account& a : *page) {
      EXPECT_TRUE(a.role == Role::kDoctor);
      EXPECT_TRUE(a.password_hash.empty());
      EXPECT_EQ(a.speciality, "cardiology");
      seen.push_back(a.account_id);
    }
    after = page->back().account_id;
  }
  EXPECT_TRUE(seen == doctors);
  auto patients = store_->ListByRole(Role::kPatient, "", 10);
  ASSERT_TRUE(patients);
  ASSERT_EQ(patients->size(), 1u);
  EXPECT_TRUE((*patients)[0].sealed_profile.empty());
  EXPECT_EQ((*patients)[0].patient_id, p.patient_id);
  EXPECT_EQ(store_->ListByRole(Role::kAdmin, "", 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListByRole(Role::kAdmin, "", kMaxAccountsListed + 1).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(AccountStoreTest, RefusesASecondAccountWithTheSameLoginOrId) {
  Account a = NewAccount(Role::kPatient, "same@example.org");
  ASSERT_TRUE(store_->CreateAccount(a));
  Account b = NewAccount(Role::kDoctor, "same@example.org");
  auto second = store_->CreateAccount(b);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  Account c = NewAccount(Role::kPatient, "other@example.org");
  c.account_id = a.account_id;
  EXPECT_EQ(store_->CreateAccount(c).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(store_->FindByLogin("other@example.org").value().has_value());
}

TEST_F(AccountStoreTest, RefusesAccountsThatBreakTheShapeRules) {
  Account patient_without_id = NewAccount(Role::kPatient, "a@example.org");
  patient_without_id.patient_id.clear();
  EXPECT_EQ(store_->CreateAccount(patient_without_id).error().code(), ErrorCode::kInvalidArgument);
  Account doctor_with_cloudlet = NewAccount(Role::kDoctor, "b@example.org");
  doctor_with_cloudlet.cloudlet_id = "cloudlet-1";
  EXPECT_EQ(store_->CreateAccount(doctor_with_cloudlet).error().code(),
            ErrorCode::kInvalidArgument);
  Account bad_id = NewAccount(Role::kAdmin, "c@example.org");
  bad_id.account_id = "acc_1";
  EXPECT_EQ(store_->CreateAccount(bad_id).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(AccountStoreTest, ListsPendingOldestFirstAndMovesStatusOnlyFromTheExpectedOne) {
  Account a = NewAccount(Role::kPatient, "a@example.org");
  Account b = NewAccount(Role::kDoctor, "b@example.org");
  ASSERT_TRUE(store_->CreateAccount(b));  // created later but inserted first
  ASSERT_TRUE(store_->CreateAccount(a));
  auto pending = store_->ListByStatus(AccountStatus::kPending, 10);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].account_id, a.account_id);
  EXPECT_EQ(store_->ListByStatus(AccountStatus::kPending, 1)->size(), 1u);

  ASSERT_TRUE(store_->ChangeStatus(a.account_id, AccountStatus::kPending, AccountStatus::kApproved,
                                   "", 2000));
  auto again = store_->ChangeStatus(a.account_id, AccountStatus::kPending, AccountStatus::kRejected,
                                    "late", 2001);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*store_->GetAccount(a.account_id))->status, AccountStatus::kApproved);
  EXPECT_EQ((*store_->GetAccount(a.account_id))->status_changed_ms, 2000);
  EXPECT_EQ(store_
                ->ChangeStatus("acc_aaaaaaaaaaaaaaaaaaaaaaaaaa", AccountStatus::kPending,
                               AccountStatus::kApproved, "", 1)
                .error()
                .code(),
            ErrorCode::kNotFound);
}

TEST_F(AccountStoreTest, RevocationsAreNumberedWithoutGapsAndPaged) {
  Account a = NewAccount(Role::kAdmin, "a@example.org");
  a.status = AccountStatus::kApproved;
  ASSERT_TRUE(store_->CreateAccount(a));
  std::vector<SessionRow> sessions;
  for (int i = 0; i < 4; ++i) {
    sessions.push_back(NewSession(a));
    ASSERT_TRUE(store_->CreateSession(sessions.back()));
  }
  EXPECT_TRUE(store_->RevokeSession(sessions[0].session_id, 3000).value());
  EXPECT_FALSE(store_->RevokeSession(sessions[0].session_id, 3001).value());  // already
  EXPECT_EQ(store_->RevokeSession("ses_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1).error().code(),
            ErrorCode::kNotFound);
  // A password change revokes the other three.
  EXPECT_EQ(store_->ChangePassword(a.account_id, "$argon2id$new", 3002).value(), 3u);
  EXPECT_EQ((*store_->GetAccount(a.account_id))->password_hash, "$argon2id$new");
  auto all = store_->RevocationsSince(0, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->head, 4u);
  ASSERT_EQ(all->revocations.size(), 4u);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(all->revocations[i].seq, i + 1);
    ids.insert(all->revocations[i].session_id);
  }
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(all->revocations[0].session_id, sessions[0].session_id);
  auto page = store_->RevocationsSince(1, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->revocations.size(), 2u);
  EXPECT_EQ(page->revocations[0].seq, 2u);
  EXPECT_TRUE(store_->RevocationsSince(4, 10)->revocations.empty());
  auto s = store_->GetSession(sessions[1].session_id);
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->revoked_ms, 3002);
}

TEST_F(AccountStoreTest, DisablingAnApprovedAccountRevokesItsSessions) {
  Account a = NewAccount(Role::kPatient, "a@example.org");
  a.status = AccountStatus::kApproved;
  ASSERT_TRUE(store_->CreateAccount(a));
  const SessionRow s = NewSession(a);
  ASSERT_TRUE(store_->CreateSession(s));
  ASSERT_TRUE(store_->ChangeStatus(a.account_id, AccountStatus::kApproved, AccountStatus::kDisabled,
                                   "left the hospital", 4000));
  EXPECT_EQ((*store_->GetSession(s.session_id))->revoked_ms, 4000);
  EXPECT_EQ(store_->RevocationsSince(0, 10)->head, 1u);
}

TEST_F(AccountStoreTest, SessionsNeedAnAccountAndUniqueIds) {
  Account a = NewAccount(Role::kAdmin, "a@example.org");
  ASSERT_TRUE(store_->CreateAccount(a));
  SessionRow s = NewSession(a);
  ASSERT_TRUE(store_->CreateSession(s));
  EXPECT_TRUE(**store_->GetSession(s.session_id) == s);
  EXPECT_EQ(store_->CreateSession(s).error().code(), ErrorCode::kAlreadyExists);
  SessionRow orphan = NewSession(a);
  orphan.account_id = "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa";
  EXPECT_EQ(store_->CreateSession(orphan).error().code(), ErrorCode::kNotFound);
}

TEST_F(AccountStoreTest, PruneKeepsTheSequenceGoing) {
  Account a = NewAccount(Role::kAdmin, "a@example.org");
  ASSERT_TRUE(store_->CreateAccount(a));
  const SessionRow old = NewSession(a, 5000);
  ASSERT_TRUE(store_->CreateSession(old));
  ASSERT_TRUE(store_->RevokeSession(old.session_id, 4000));
  EXPECT_EQ(store_->PruneExpired(6000).value(), 2u);  // the revocation and the session
  const SessionRow fresh = NewSession(a, 90'000);
  ASSERT_TRUE(store_->CreateSession(fresh));
  ASSERT_TRUE(store_->RevokeSession(fresh.session_id, 7000));
  auto page = store_->RevocationsSince(0, 10);
  ASSERT_EQ(page->revocations.size(), 1u);
  EXPECT_EQ(page->revocations[0].seq, 2u);  // never reused
}

TEST_F(AccountStoreTest, DeleteAccountRemovesARegistration) {
  Account a = NewAccount(Role::kPatient, "a@example.org");
  ASSERT_TRUE(store_->CreateAccount(a));
  ASSERT_TRUE(store_->DeleteAccount(a.account_id));
  EXPECT_FALSE(store_->FindByLogin("a@example.org").value().has_value());
  EXPECT_EQ(store_->DeleteAccount(a.account_id).error().code(), ErrorCode::kNotFound);
}

TEST_F(AccountStoreTest, LoginFailuresLockAfterTheLimitAndWindowsExpire) {
  const ThrottlePolicy policy{.max_failures = 3, .window_ms = 1000, .lockout_ms = 5000};
  EXPECT_TRUE(store_->GetThrottle("account:x").value() == ThrottleState{});
  EXPECT_EQ(store_->AddLoginFailure("account:x", 100, policy)->failures, 1u);
  EXPECT_EQ(store_->AddLoginFailure("account:x", 200, policy)->failures, 2u);
  auto third = store_->AddLoginFailure("account:x", 300, policy);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->locked_until_ms, 5300);
  EXPECT_EQ(store_->GetThrottle("account:x")->locked_until_ms, 5300);
  // Another key is untouched; an old window starts afresh.
  EXPECT_EQ(store_->AddLoginFailure("source:1.2.3.4", 100, policy)->failures, 1u);
  EXPECT_EQ(store_->AddLoginFailure("source:1.2.3.4", 2000, policy)->failures, 1u);
  ASSERT_TRUE(store_->ClearThrottle("account:x"));
  EXPECT_TRUE(store_->GetThrottle("account:x").value() == ThrottleState{});
}

TEST_F(AccountStoreTest, ConcurrentFailuresAreAllCounted) {
  const ThrottlePolicy policy{.max_failures = 1000, .window_ms = 100'000, .lockout_ms = 1};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) ASSERT_TRUE(store_->AddLoginFailure("source:s", 50, policy));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->GetThrottle("source:s")->failures, 40u);
}

}  // namespace
}  // namespace medmesh::accounts
