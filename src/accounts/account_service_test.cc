// AccountService on a SQLite store, with a recording audit sink and a real IDS log.
#include "accounts/account_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "accounts/encoding.h"
#include "accounts/sqlite_account_store.h"
#include "audit/recording_audit_sink.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/wait.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

using audit::testing::RecordingAuditSink;

constexpr char kPassword[] = "correct horse battery";

class AccountServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(cloud);
    cloud_.emplace(std::move(*cloud));
    issuer_.emplace(crypto::NewEd25519Signer(cloud_->signing_key.Clone()), "cloud-1");
    verifier_.emplace(cloud_->certificate);
    store_ = SqliteAccountStore::Open(dir_.File("accounts.db")).value();
    ids_ = store::IdsEventLog::Open(dir_.File("ids.db")).value();
    service_ = std::make_unique<AccountService>(
        AccountServiceContext{*store_, hasher_, *issuer_, audit_, *ids_, clock_, random_},
        AccountServiceOptions{.account_throttle = {3, 60'000, 300'000},
                              .source_throttle = {10, 60'000, 300'000}});
    admin_account_ = service_->CreateAdmin({"admin@example.org", kPassword}, "Admin").value();
    admin_ = LoginOk("admin@example.org", kPassword);
  }

  Principal LoginOk(const std::string& email, const std::string& password,
                    const std::string& source = "10.0.0.1") {
    auto outcome = service_->Login({email, password}, source);
    EXPECT_TRUE(outcome);
    if (!outcome) return {};
    const auto* issued = std::get_if<IssuedSession>(&*outcome);
    EXPECT_NE(issued, nullptr);
    if (issued == nullptr) return {};
    auto claims = verifier_->Verify(issued->token, wire::NowMs(clock_));
    EXPECT_TRUE(claims);
    return claims ? claims->ToPrincipal(false) : Principal{};
  }

  LoginRefusal::Kind Refused(const std::string& email, const std::string& password,
                             const std::string& source = "10.0.0.1",
                             std::chrono::seconds* retry = nullptr) {
    auto outcome = service_->Login({email, password}, source);
    EXPECT_TRUE(outcome);
    const auto* refusal = outcome ? std::get_if<LoginRefusal>(&*outcome) : nullptr;
    EXPECT_NE(refusal, nullptr);
    if (refusal == nullptr) return LoginRefusal::Kind::kBusy;
    if (retry != nullptr) *retry = refusal->retry_after;
    return refusal->kind;
  }

  std::uint64_t IdsCount(store::IdsEventKind kind) {
    store::IdsEventFilter f;
    f.kind = kind;
    return ids_->Count(f).value();
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  std::optional<node::NodeIdentity> cloud_;
  std::optional<TokenIssuer> issuer_;
  std::optional<TokenVerifier> verifier_;
  crypto::PasswordHasher hasher_{{.ops_limit = 1, .mem_limit_bytes = 1 << 20}};
  RecordingAuditSink audit_;
  testing::FakeClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  std::unique_ptr<SqliteAccountStore> store_;
  std::unique_ptr<store::IdsEventLog> ids_;
  std::unique_ptr<AccountService> service_;
  Account admin_account_;
  Principal admin_;
};

TEST_F(AccountServiceTest, PatientRegistersIsPendingThenApprovedThenLogsIn) {
  std::string sealed_for;
  auto patient = service_->RegisterPatient(
      {{" Pat@Example.org ", kPassword}, "Pat"},
      [&](const std::string& patient_id) -> Result<Bytes> {
        sealed_for = patient_id;
        return Bytes{9, 9};
      },
      "10.0.0.2");
  ASSERT_TRUE(patient) << patient.error().ToString();
  EXPECT_EQ(patient->login, "pat@example.org");
  EXPECT_EQ(patient->status, AccountStatus::kPending);
  EXPECT_TRUE(IsIdWithPrefix(patient->patient_id, "pat_"));
  EXPECT_EQ(sealed_for, patient->patient_id);
  EXPECT_EQ((*store_->GetAccount(patient->account_id))->sealed_profile, (Bytes{9, 9}));
  EXPECT_EQ(patient->password_hash.rfind("$argon2id$", 0), 0u);

  EXPECT_EQ(Refused("pat@example.org", kPassword), LoginRefusal::Kind::kPending);
  auto pending = service_->ListPending(admin_, "10.0.0.1");
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  ASSERT_TRUE(service_->Approve(admin_, patient->account_id, "10.0.0.1"));
  const Principal p = LoginOk("PAT@example.org", kPassword);
  EXPECT_TRUE(p.is(Role::kPatient));
  EXPECT_EQ(p.patient_id, patient->patient_id);
  EXPECT_EQ(audit_.Of("account.register").size(), 1u);
  EXPECT_EQ(audit_.Of("account.approve").size(), 1u);
  EXPECT_EQ(audit_.Of("session.login").back().outcome, audit::Outcome::kSuccess);
}

TEST_F(AccountServiceTest, DoctorRejectedWithAReasonCannotLogIn) {
  auto doctor = service_->RegisterDoctor(
      {{"doc@example.org", kPassword}, "Dr Who", "GMC-1", "cardiology", "St Elsewhere"}, "s");
  ASSERT_TRUE(doctor);
  EXPECT_EQ(service_->Reject(admin_, doctor->account_id, "", "s").error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(service_->Reject(admin_, doctor->account_id, "licence not found", "s"));
  EXPECT_EQ((*store_->GetAccount(doctor->account_id))->status_reason, "licence not found");
  EXPECT_EQ(service_->Approve(admin_, doctor->account_id, "s").error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(Refused("doc@example.org", kPassword), LoginRefusal::Kind::kRejected);
  ASSERT_EQ(audit_.Of("account.reject").size(), 2u);  // the refused one is audited too
  EXPECT_EQ(audit_.Of("account.reject").back().purpose, "licence not found");
}

TEST_F(AccountServiceTest, OnlyAdminsApproveAndUnknownIdsAreNotFound) {
  auto doctor =
      service_->RegisterDoctor({{"doc@example.org", kPassword}, "Dr", "L", "S", "H"}, "s");
  ASSERT_TRUE(doctor);
  Principal not_admin = admin_;
  not_admin.role = Role::kDoctor;
  EXPECT_EQ(service_->Approve(not_admin, doctor->account_id, "s").error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(service_->ListPending(not_admin, "s").error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(service_->Approve(admin_, "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "s").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(audit_.Of("account.approve").size(), 2u);  // refusals are audited too
  // Ids that cannot be an account's (not UTF-8, too long, SQL) are as unknown, never a store
  // error (PostgreSQL refuses text that is not UTF-8).
  for (const std::string& id :
       {std::string("\xff\xfe"), std::string(2000, 'a'), std::string("' OR '1'='1"),
        std::string("acc_AAAAAAAAAAAAAAAAAAAAAAAAAA")}) {
    EXPECT_EQ(service_->Approve(admin_, id, "s").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(service_->Reject(admin_, id, "why", "s").error().code(), ErrorCode::kNotFound);
  }
}

TEST_F(AccountServiceTest, RegistrationRefusesBadInputAndTakenLogins) {
  EXPECT_EQ(service_->RegisterDoctor({{"doc@example.org", "short"}, "Dr", "L", "S", "H"}, "s")
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->RegisterDoctor({{"not-an-email", kPassword}, "Dr", "L", "S", "H"}, "s")
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->RegisterDoctor({{"doc@example.org", kPassword}, "Dr", "", "S", "H"}, "s")
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->RegisterDoctor({{"doc@example.org", kPassword}, "Dr\n", "L", "S", "H"}, "s")
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      service_->RegisterPatient({{"ADMIN@example.org", kPassword}, "X"}, {}, "s").error().code(),
      ErrorCode::kAlreadyExists);
  EXPECT_TRUE(store_->ListByStatus(AccountStatus::kPending, 10)->empty());
}

TEST_F(AccountServiceTest, WrongPasswordsLockTheAccountAndAreRecorded) {
  const auto before = IdsCount(store::IdsEventKind::kAuthFailure);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Refused("admin@example.org", "wrong password!!"),
              LoginRefusal::Kind::kBadCredentials);
  }
  std::chrono::seconds retry{0};
  EXPECT_EQ(Refused("admin@example.org", kPassword, "10.0.0.9", &retry),
            LoginRefusal::Kind::kLockedOut);
  EXPECT_GT(retry.count(), 0);
  EXPECT_LE(retry.count(), 300);
  EXPECT_EQ(IdsCount(store::IdsEventKind::kAuthFailure), before + 3);
  EXPECT_GE(IdsCount(store::IdsEventKind::kRateLimited), 1u);
  std::size_t failures = 0;
  for (const auto& e : audit_.Of("session.login")) {
    if (e.outcome == audit::Outcome::kMinorFailure) ++failures;
  }
  EXPECT_EQ(failures, 3u);
  clock_.Advance(std::chrono::minutes(5));
  LoginOk("admin@example.org", kPassword);
}

TEST_F(AccountServiceTest, UnknownLoginsCountAgainstTheSource) {
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Refused("nobody" + std::to_string(i) + "@example.org", kPassword, "10.6.6.6"),
              LoginRefusal::Kind::kBadCredentials);
  }
  EXPECT_EQ(Refused("admin@example.org", kPassword, "10.6.6.6"), LoginRefusal::Kind::kLockedOut);
  LoginOk("admin@example.org", kPassword, "10.0.0.7");  // other sources are not affected
}

TEST_F(AccountServiceTest, ABusyPasswordGateAnswersBusyAtOnce) {
  crypto::PasswordHasher tight({.ops_limit = 1,
                                .mem_limit_bytes = 4 << 20,
                                .max_concurrent = 1,
                                .max_wait = std::chrono::milliseconds(0)});
  AccountService service({*store_, tight, *issuer_, audit_, *ids_, clock_, random_});
  std::atomic<bool> stop{false};
  std::thread hog([&] {
    while (!stop) (void)tight.Hash("keep the gate busy");
  });
  bool busy = false;
  EXPECT_TRUE(medmesh::testing::WaitUntil([&] {
    auto outcome = service.Login({"admin@example.org", kPassword}, "10.0.0.1");
    const auto* refusal = outcome ? std::get_if<LoginRefusal>(&*outcome) : nullptr;
    busy = refusal != nullptr && refusal->kind == LoginRefusal::Kind::kBusy;
    if (busy) {
      EXPECT_EQ(refusal->retry_after.count(), 1);
    }
    return busy;
  }));
  stop = true;
  hog.join();
  // A busy gate is not a failed attempt.
  EXPECT_EQ(store_->GetThrottle("account:" + admin_account_.account_id)->failures, 0u);
}

TEST_F(AccountServiceTest, BeginLoginDoesTheChecksAndFinishLoginTheRest) {
  // A good login: Begin leaves it pending (nothing counted, nothing audited), Finish issues.
  const std::size_t audited = audit_.Of("session.login").size();
  auto begun = service_->BeginLogin({"admin@example.org", kPassword}, "10.0.0.3");
  ASSERT_TRUE(begun);
  const auto* pending = std::get_if<PendingLogin>(&*begun);
  ASSERT_NE(pending, nullptr);
  EXPECT_TRUE(pending->account.has_value());
  EXPECT_EQ(audit_.Of("session.login").size(), audited);
  auto finished = service_->FinishLogin(*pending);
  ASSERT_TRUE(finished);
  EXPECT_NE(std::get_if<IssuedSession>(&*finished), nullptr);
  EXPECT_EQ(audit_.Of("session.login").size(), audited + 1);

  // An unknown login is pending too (it costs the same Argon2id work), without an account.
  auto unknown = service_->BeginLogin({"nobody@example.org", kPassword}, "10.0.0.3");
  ASSERT_TRUE(unknown);
  ASSERT_NE(std::get_if<PendingLogin>(&*unknown), nullptr);
  EXPECT_FALSE(std::get<PendingLogin>(*unknown).account.has_value());

  // A locked account is refused by Begin: no PendingLogin, so no Argon2id work.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Refused("admin@example.org", "wrong password!!"),
              LoginRefusal::Kind::kBadCredentials);
  }
  auto locked = service_->BeginLogin({"admin@example.org", kPassword}, "10.0.0.3");
  ASSERT_TRUE(locked);
  const auto* outcome = std::get_if<LoginOutcome>(&*locked);
  ASSERT_NE(outcome, nullptr);
  ASSERT_NE(std::get_if<LoginRefusal>(outcome), nullptr);
  EXPECT_EQ(std::get<LoginRefusal>(*outcome).kind, LoginRefusal::Kind::kLockedOut);
}

TEST_F(AccountServiceTest, BusyIsAnIdsEventOnly) {
  const auto rate_limited = IdsCount(store::IdsEventKind::kRateLimited);
  const std::size_t audited = audit_.entries.size();
  const LoginOutcome busy = service_->Busy("10.0.0.4");
  ASSERT_NE(std::get_if<LoginRefusal>(&busy), nullptr);
  EXPECT_EQ(std::get<LoginRefusal>(busy).kind, LoginRefusal::Kind::kBusy);
  EXPECT_EQ(std::get<LoginRefusal>(busy).retry_after.count(), 1);
  EXPECT_EQ(IdsCount(store::IdsEventKind::kRateLimited), rate_limited + 1);
  EXPECT_EQ(audit_.entries.size(), audited);
  EXPECT_EQ(store_->GetThrottle("source:10.0.0.4")->failures, 0u);
}

TEST_F(AccountServiceTest, LogoutAndPasswordChangeRevokeSessions) {
  const Principal second = LoginOk("admin@example.org", kPassword);
  EXPECT_FALSE(service_->IsRevoked(admin_.session_id).value());
  ASSERT_TRUE(service_->Logout(admin_, "s"));
  EXPECT_TRUE(service_->IsRevoked(admin_.session_id).value());
  EXPECT_FALSE(service_->IsRevoked(second.session_id).value());
  EXPECT_EQ(service_->ChangePassword(second, "not the password", "a new long password", "s")
                .error()
                .code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(service_->ChangePassword(second, kPassword, "short", "s").error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(service_->ChangePassword(second, kPassword, "a new long password", "s"));
  EXPECT_TRUE(service_->IsRevoked(second.session_id).value());
  EXPECT_EQ(Refused("admin@example.org", kPassword), LoginRefusal::Kind::kBadCredentials);
  LoginOk("admin@example.org", "a new long password");
  auto page = service_->Revocations(0);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->head, 2u);
  EXPECT_TRUE(service_->IsRevoked("ses_aaaaaaaaaaaaaaaaaaaaaaaaaa").value());  // unknown
}

TEST_F(AccountServiceTest, APatientClosesTheirOwnAccountAndEverySessionEnds) {
  auto patient = service_->RegisterPatient({{"pat@example.org", kPassword}, "Pat"}, {}, "s");
  ASSERT_TRUE(patient);
  ASSERT_TRUE(service_->Approve(admin_, patient->account_id, "s"));
  const Principal first = LoginOk("pat@example.org", kPassword);
  const Principal second = LoginOk("pat@example.org", kPassword);
  ASSERT_TRUE(service_->CloseOwnAccount(first, "data deleted by the patient", "s"));
  EXPECT_TRUE(service_->IsRevoked(first.session_id).value());
  EXPECT_TRUE(service_->IsRevoked(second.session_id).value());
  EXPECT_FALSE(service_->IsRevoked(admin_.session_id).value());
  const Account closed = **store_->GetAccount(patient->account_id);
  EXPECT_EQ(closed.status, AccountStatus::kDisabled);
  EXPECT_EQ(closed.status_reason, "data deleted by the patient");
  EXPECT_EQ(Refused("pat@example.org", kPassword), LoginRefusal::Kind::kDisabled);
  // Closed already: refused, and both attempts are in the audit log.
  EXPECT_EQ(service_->CloseOwnAccount(first, "again", "s").error().code(),
            ErrorCode::kFailedPrecondition);
  ASSERT_EQ(audit_.Of("account.close").size(), 2u);
  EXPECT_EQ(audit_.Of("account.close").front().outcome, audit::Outcome::kSuccess);
  EXPECT_EQ(audit_.Of("account.close").back().outcome, audit::Outcome::kMinorFailure);
}

TEST_F(AccountServiceTest, AFailedAuditFailsTheLoginAndLeavesNoLiveSession) {
  audit_.fail = true;
  auto outcome = service_->Login({"admin@example.org", kPassword}, "s");
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kUnavailable);
  audit_.fail = false;
  auto page = service_->Revocations(0);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->revocations.size(), 1u);  // the unaudited session was revoked at once
}

TEST_F(AccountServiceTest, AdminCreatesOperators) {
  auto op =
      service_->CreateOperator(admin_, {"op@example.org", kPassword}, "Op", "cloudlet-1", "s");
  ASSERT_TRUE(op);
  const Principal p = LoginOk("op@example.org", kPassword);
  EXPECT_TRUE(p.is(Role::kOperator));
  EXPECT_EQ(p.cloudlet_id, "cloudlet-1");
  EXPECT_EQ(service_->CreateOperator(p, {"op2@example.org", kPassword}, "Op", "cloudlet-1", "s")
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
}

// Account references and the IDS's account decisions (AccountServiceContext::guard): every login
// IDS event names the login by its reference, never by itself; a refused reference is answered
// before the account is looked up and before any Argon2id check, the same for a login no
// account has; a passing one logs in as before.
class AccountServiceGuardTest : public AccountServiceTest {
 protected:
  void SetUp() override {
    AccountServiceTest::SetUp();
    ids_->SetObserver([this](const store::IdsEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
    guard_ = std::make_unique<AccountGuard>(AccountGuard{
        DeriveAccountReferenceKey(SecretBytes(Bytes(32, 5))), [this](std::string_view ref) {
          std::lock_guard lock(mu_);
          ++gate_asked_;
          return refused_.contains(std::string(ref)) ? refused_.at(std::string(ref))
                                                     : AccountVerdict{};
        }});
    service_ = std::make_unique<AccountService>(
        AccountServiceContext{*store_, hasher_, *issuer_, audit_, *ids_, clock_, random_,
                              guard_.get(), &checks_},
        AccountServiceOptions{.account_throttle = {3, 60'000, 300'000},
                              .source_throttle = {10, 60'000, 300'000}});
    ASSERT_TRUE(service_->CreateOperator(admin_, {"op@example.org", kPassword}, "Op", "cloudlet-1",
                                         "10.0.0.1"));
  }
  std::string Ref(std::string_view login) { return AccountReference(guard_->reference_key, login); }
  void Refuse(std::string_view login, AccountVerdict verdict) {
    std::lock_guard lock(mu_);
    refused_[Ref(login)] = std::move(verdict);
  }
  std::vector<store::IdsEvent> Events(store::IdsEventKind kind) {
    std::lock_guard lock(mu_);
    std::vector<store::IdsEvent> out;
    for (const auto& e : events_) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  net::MetricsRegistry metrics_;
  net::Counter& checks_ =
      metrics_.AddCounter("test_password_checks_total", "Argon2id checks.").WithLabels({});
  std::unique_ptr<AccountGuard> guard_;
  std::mutex mu_;
  std::vector<store::IdsEvent> events_;            // guarded by mu_
  std::map<std::string, AccountVerdict> refused_;  // guarded by mu_
  int gate_asked_ = 0;                             // guarded by mu_
};

TEST_F(AccountServiceGuardTest, LoginEventsCarryTheAccountReferenceNeverTheLogin) {
  EXPECT_EQ(Refused("Op@Example.org", "wrong password 1"), LoginRefusal::Kind::kBadCredentials);
  EXPECT_EQ(Refused("nobody@example.org", "wrong password 1"), LoginRefusal::Kind::kBadCredentials);
  const auto failures = Events(store::IdsEventKind::kAuthFailure);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].account_ref, Ref("op@example.org"));
  EXPECT_EQ(failures[1].account_ref, Ref("nobody@example.org"));
  EXPECT_NE(failures[0].account_ref, failures[1].account_ref);
  for (const auto& e : failures) {
    EXPECT_EQ(e.detail.find("example.org"), std::string::npos) << e.detail;
    EXPECT_EQ(e.account_ref.find("example.org"), std::string::npos);
  }
  // The lockout that follows, and the refusals of the locked account, carry it too.
  for (int i = 0; i < 3; ++i) (void)Refused("op@example.org", "wrong password 2");
  const auto limited = Events(store::IdsEventKind::kRateLimited);
  ASSERT_FALSE(limited.empty());
  for (const auto& e : limited) EXPECT_EQ(e.account_ref, Ref("op@example.org"));
  EXPECT_EQ(checks_.Value(), 4.0) << "two checks, then two more before the lock; none after";
}

TEST_F(AccountServiceGuardTest, ARefusedAccountIsAnsweredBeforeAnyPasswordCheck) {
  Refuse("op@example.org", {AccountVerdict::Kind::kBlocked, std::chrono::seconds(600), "d1"});
  Refuse("ghost@example.org", {AccountVerdict::Kind::kBlocked, std::chrono::seconds(600), "d2"});
  const std::size_t audited = audit_.Of("session.login").size();
  std::chrono::seconds retry{0};
  // The right password, a wrong one, and a login no account has: the same refusal.
  EXPECT_EQ(Refused("op@example.org", kPassword, "10.0.0.9", &retry),
            LoginRefusal::Kind::kAccountBlocked);
  EXPECT_EQ(retry, std::chrono::seconds(600));
  EXPECT_EQ(Refused("OP@example.org", "wrong password", "10.0.0.9"),
            LoginRefusal::Kind::kAccountBlocked);
  EXPECT_EQ(Refused("ghost@example.org", kPassword, "10.0.0.9", &retry),
            LoginRefusal::Kind::kAccountBlocked);
  EXPECT_EQ(retry, std::chrono::seconds(600));
  EXPECT_EQ(checks_.Value(), 0.0) << "no Argon2id work for a refused account";
  EXPECT_EQ(audit_.Of("session.login").size(), audited) << "IDS events only, as a locked key";
  const auto limited = Events(store::IdsEventKind::kRateLimited);
  ASSERT_EQ(limited.size(), 3u);
  EXPECT_EQ(limited[0].account_ref, Ref("op@example.org"));
  EXPECT_EQ(limited[2].account_ref, Ref("ghost@example.org"));
  EXPECT_NE(limited[0].detail.find("blocked by IDS decision d1"), std::string::npos);
  // Nothing counted against the account's own throttle: once the decision is lifted, it logs in.
  Refuse("op@example.org", {});
  EXPECT_TRUE(LoginOk("op@example.org", kPassword, "10.0.0.9").is(Role::kOperator));
  EXPECT_EQ(checks_.Value(), 1.0);
}

TEST_F(AccountServiceGuardTest, AThrottledAccountIsRefusedWithItsRetryAfter) {
  Refuse("op@example.org", {AccountVerdict::Kind::kThrottled, std::chrono::seconds(20), "d3"});
  std::chrono::seconds retry{0};
  EXPECT_EQ(Refused("op@example.org", kPassword, "10.0.0.9", &retry),
            LoginRefusal::Kind::kAccountThrottled);
  EXPECT_EQ(retry, std::chrono::seconds(20));
  EXPECT_EQ(LoginRefusalName(LoginRefusal::Kind::kAccountThrottled), "account_throttled");
  EXPECT_EQ(LoginRefusalName(LoginRefusal::Kind::kAccountBlocked), "account_blocked");
  // Other accounts are not slowed.
  EXPECT_EQ(Refused("nobody@example.org", "wrong password"), LoginRefusal::Kind::kBadCredentials);
  EXPECT_EQ(checks_.Value(), 1.0);
}

TEST_F(AccountServiceGuardTest, ALockedSourceIsRefusedBeforeTheGateIsAsked) {
  for (int i = 0; i < 10; ++i) {
    (void)Refused("user" + std::to_string(i) + "@example.org", "wrong password", "10.0.0.7");
  }
  int asked = 0;
  {
    std::lock_guard lock(mu_);
    asked = gate_asked_;
  }
  EXPECT_EQ(Refused("op@example.org", kPassword, "10.0.0.7"), LoginRefusal::Kind::kLockedOut);
  std::lock_guard lock(mu_);
  EXPECT_EQ(gate_asked_, asked);
}

}  // namespace
}  // namespace medmesh::accounts
