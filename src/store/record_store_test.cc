// The RecordStore conformance suite: written once, instantiated for every backend (.../Sqlite,
// .../Postgres). ctest runs the Sqlite instances as store_record_test and the Postgres ones, with
// the test cluster, as store_record_postgres_test (src/store/CMakeLists.txt).
#include "store/record_store.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "crypto/kdf.h"
#include "store/record_store_test_backend.h"

namespace medmesh::store {
namespace {

using testing::BackendKind;
using testing::TestBackend;

// A keyless stand-in for the cloud's keyed chain hash: enough to check that the store hands
// the hasher the right fields and links the entries.
class TestHasher final : public ChainHasher {
 public:
  Bytes EntryHash(const ChainEntry& e) const override {
    Bytes in;
    AppendU64Le(in, e.seq);
    AppendU8(in, static_cast<std::uint8_t>(e.kind));
    AppendU32Le(in, static_cast<std::uint32_t>(e.record_ref.size()));
    AppendBytes(in, AsBytes(e.record_ref));
    AppendU32Le(in, static_cast<std::uint32_t>(e.record_digest.size()));
    AppendBytes(in, e.record_digest);
    AppendU64Le(in, static_cast<std::uint64_t>(e.stored_ms));
    AppendBytes(in, e.prev_hash);
    const crypto::KeyId id = crypto::ComputeKeyId("record store test chain", in);
    return {id.begin(), id.end()};
  }
};

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

NewRecord MakeRecord(const std::string& patient, const std::string& record,
                     const std::string& ei_ref = "ei-1", const std::string& qi_ref = "qi-1") {
  NewRecord r;
  r.link = {"ref-" + record, patient, B("digest-" + record), B("link-ct-" + record)};
  r.ei = {patient, ei_ref, B("ei-ct-" + patient + ei_ref)};
  r.qi = {patient, qi_ref, B("qi-ct-" + patient + qi_ref)};
  r.mi = {"mi-" + record, "pseud-" + patient, B("mi-ct-" + record)};
  r.blind_index = {{"email", B("tok-" + patient), patient}};
  r.stored_ms = 1'700'000'000'000;
  return r;
}

class RecordStoreTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto backend = testing::MakeTestBackend(GetParam());
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
    auto store = backend_->Open();
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
  }

  PutResult Put(const NewRecord& r) {
    auto result = store_->PutRecord(r, hasher_);
    EXPECT_TRUE(result) << result.error().ToString();
    return result ? *result : PutResult{};
  }

  std::vector<ChainEntry> Chain() { return store_->ReadChain(1, 1000).value(); }

  std::unique_ptr<TestBackend> backend_;
  std::unique_ptr<RecordStore> store_;
  TestHasher hasher_;
};

TEST_P(RecordStoreTest, FreshStoreIsEmptyAtTheCurrentSchemaVersion) {
  EXPECT_EQ(store_->SchemaVersion().value(), kRecordStoreSchemaVersion);
  EXPECT_EQ(store_->GetChainHead().value(), (ChainHead{0, {}}));
  EXPECT_EQ(store_->CountRows().value().record_links, 0U);
  EXPECT_EQ(store_->CountRows().value().mi, 0U);
  EXPECT_EQ(store_->GetQiState().value().generation, 0U);
  EXPECT_TRUE(store_->ReadChain(1, 10).value().empty());
  EXPECT_TRUE(store_->ListGeneralisedQi().value().empty());
}

TEST_P(RecordStoreTest, PutRecordStoresEveryPartAndChainsIt) {
  const NewRecord r = MakeRecord("p-1", "r-1");
  const PutResult put = Put(r);
  EXPECT_EQ(put.outcome, PutOutcome::kInserted);
  EXPECT_EQ(put.seq, 1U);

  EXPECT_EQ(store_->GetRecordLink("ref-r-1").value(), r.link);
  EXPECT_EQ(store_->ListRecordLinks("p-1").value(), std::vector<RecordLinkRow>{r.link});
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kEi, "p-1", "ei-1").value(), r.ei);
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kQi, "p-1", "qi-1").value(), r.qi);
  EXPECT_EQ(store_->GetMi("mi-r-1").value(), r.mi);
  EXPECT_EQ(store_->FindPatients("email", B("tok-p-1")).value(), std::vector<std::string>{"p-1"});
  EXPECT_EQ(store_->CountRows().value().record_links, 1U);
  EXPECT_EQ(store_->CountRows().value().mi, 1U);
  EXPECT_EQ(store_->GetQiState().value().generation, 1U);

  const std::vector<ChainEntry> chain = Chain();
  ASSERT_EQ(chain.size(), 1U);
  EXPECT_EQ(chain[0].seq, 1U);
  EXPECT_EQ(chain[0].kind, ChainEntryKind::kPut);
  EXPECT_EQ(chain[0].record_ref, "ref-r-1");
  EXPECT_EQ(chain[0].record_digest, r.link.digest);
  EXPECT_EQ(chain[0].stored_ms, r.stored_ms);
  EXPECT_TRUE(chain[0].prev_hash.empty());
  EXPECT_EQ(
      chain[0].entry_hash,
      hasher_.EntryHash({1, ChainEntryKind::kPut, "ref-r-1", r.link.digest, r.stored_ms, {}, {}}));
  EXPECT_EQ(store_->GetChainHead().value(), (ChainHead{1, chain[0].entry_hash}));
}

TEST_P(RecordStoreTest, MissingRowsAreNotFound) {
  EXPECT_EQ(store_->GetRecordLink("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kEi, "p-1", "nope").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMi("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->ListRecordLinks("p-1").value().empty());
  EXPECT_TRUE(store_->FindPatients("email", B("x")).value().empty());
}

TEST_P(RecordStoreTest, ReopeningKeepsEverything) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-2", "r-2"));
  const ChainHead head = store_->GetChainHead().value();
  store_.reset();
  auto reopened = backend_->Open();
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  EXPECT_EQ((*reopened)->GetChainHead().value(), head);
  EXPECT_EQ((*reopened)->SchemaVersion().value(), kRecordStoreSchemaVersion);
  EXPECT_EQ((*reopened)->GetRecordLink("ref-r-2").value().patient_id, "p-2");
}

TEST_P(RecordStoreTest, SameRecordAgainIsANoOp) {
  Put(MakeRecord("p-1", "r-1"));
  Put(MakeRecord("p-1", "r-2"));
  NewRecord again = MakeRecord("p-1", "r-1");
  again.mi.ciphertext = B("re-encrypted: different bytes, same record");
  const PutResult put = Put(again);
  EXPECT_EQ(put.outcome, PutOutcome::kDuplicate);
  EXPECT_EQ(put.seq, 1U);
  EXPECT_EQ(Chain().size(), 2U);
  EXPECT_EQ(store_->GetMi("mi-r-1").value().ciphertext, B("mi-ct-r-1"));
}

TEST_P(RecordStoreTest, SameRecordIdWithOtherContentIsRefused) {
  Put(MakeRecord("p-1", "r-1"));
  NewRecord other = MakeRecord("p-1", "r-1");
  other.link.digest = B("another digest");
  other.mi.mi_ref = "mi-other";
  auto put = store_->PutRecord(other, hasher_);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Chain().size(), 1U);
  EXPECT_EQ(store_->GetMi("mi-other").error().code(), ErrorCode::kNotFound);
}

TEST_P(RecordStoreTest, EntriesAreChainedInOrder) {
  for (int i = 1; i <= 5; ++i)
    Put(MakeRecord("p-" + std::to_string(i % 2), "r-" + std::to_string(i)));
  const std::vector<ChainEntry> chain = Chain();
  ASSERT_EQ(chain.size(), 5U);
  Bytes prev;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(chain[i].seq, i + 1);
    EXPECT_EQ(chain[i].prev_hash, prev);
    ChainEntry copy = chain[i];
    copy.entry_hash.clear();
    EXPECT_EQ(hasher_.EntryHash(copy), chain[i].entry_hash);
    prev = chain[i].entry_hash;
  }
  EXPECT_EQ(store_->ReadChain(4, 10).value().front().seq, 4U);
  EXPECT_EQ(store_->ReadChain(2, 2).value().size(), 2U);
  EXPECT_TRUE(store_->ReadChain(6, 10).value().empty());
}

TEST_P(RecordStoreTest, SnapshotsAreSharedAndTheLatestQiIsCurrent) {
  Put(MakeRecord("p-1", "r-1", "ei-a", "qi-a"));
  Put(MakeRecord("p-1", "r-2", "ei-a", "qi-b"));
  EXPECT_EQ(store_->ListCurrentQi("", 10).value(),
            (std::vector<SnapshotRow>{{"p-1", "qi-b", B("qi-ct-p-1qi-b")}}));
  // Going back to an earlier snapshot makes it current again.
  Put(MakeRecord("p-1", "r-3", "ei-b", "qi-a"));
  EXPECT_EQ(store_->ListCurrentQi("", 10).value().at(0).snapshot_ref, "qi-a");
  EXPECT_TRUE(store_->GetSnapshot(RecordPart::kEi, "p-1", "ei-a"));
  EXPECT_TRUE(store_->GetSnapshot(RecordPart::kEi, "p-1", "ei-b"));
  EXPECT_TRUE(store_->GetSnapshot(RecordPart::kQi, "p-1", "qi-b"));
  EXPECT_EQ(store_->ListRecordLinks("p-1").value().size(), 3U);
}

TEST_P(RecordStoreTest, BlindIndexFindsEveryPatientWithAToken) {
  NewRecord a = MakeRecord("p-a", "r-1");
  a.blind_index = {{"phone", B("shared"), "p-a"}, {"email", B("only-a"), "p-a"}};
  NewRecord b = MakeRecord("p-b", "r-2");
  b.blind_index = {{"phone", B("shared"), "p-b"}};
  Put(a);
  Put(b);
  EXPECT_EQ(store_->FindPatients("phone", B("shared")).value(),
            (std::vector<std::string>{"p-a", "p-b"}));
  EXPECT_EQ(store_->FindPatients("email", B("only-a")).value(), std::vector<std::string>{"p-a"});
  // Tokens are per field.
  EXPECT_TRUE(store_->FindPatients("email", B("shared")).value().empty());
}

TEST_P(RecordStoreTest, DeletePatientRemovesEveryRowAndLogsEachRecord) {
  Put(MakeRecord("p-1", "r-1", "ei-a", "qi-a"));
  Put(MakeRecord("p-1", "r-2", "ei-b", "qi-b"));
  Put(MakeRecord("p-2", "r-3"));
  const std::uint64_t generation = store_->GetQiState().value().generation;

  auto deleted = store_->DeletePatient("p-1", "pseud-p-1", 42, hasher_);
  ASSERT_TRUE(deleted) << deleted.error().ToString();
  EXPECT_EQ(deleted->records, 2U);
  EXPECT_TRUE(deleted->found);

  EXPECT_TRUE(store_->ListRecordLinks("p-1").value().empty());
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kEi, "p-1", "ei-a").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kQi, "p-1", "qi-b").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetMi("mi-r-1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->FindPatients("email", B("tok-p-1")).value().empty());
  EXPECT_GT(store_->GetQiState().value().generation, generation);
  // The other patient is untouched.
  EXPECT_EQ(store_->ListRecordLinks("p-2").value().size(), 1U);
  EXPECT_TRUE(store_->GetMi("mi-r-3"));
  EXPECT_EQ(store_->CountRows().value().mi, 1U);

  const std::vector<ChainEntry> chain = Chain();
  ASSERT_EQ(chain.size(), 5U);
  std::set<std::string> deleted_refs;
  for (std::size_t i = 3; i < 5; ++i) {
    EXPECT_EQ(chain[i].kind, ChainEntryKind::kDelete);
    EXPECT_TRUE(chain[i].record_digest.empty());
    EXPECT_EQ(chain[i].stored_ms, 42);
    EXPECT_EQ(chain[i].prev_hash, chain[i - 1].entry_hash);
    deleted_refs.insert(chain[i].record_ref);
  }
  EXPECT_EQ(deleted_refs, (std::set<std::string>{"ref-r-1", "ref-r-2"}));

  // The same record id may be stored again afterwards.
  EXPECT_EQ(Put(MakeRecord("p-1", "r-1")).outcome, PutOutcome::kInserted);
}

TEST_P(RecordStoreTest, DeletingAnUnknownPatientFindsNothing) {
  auto deleted = store_->DeletePatient("p-none", "pseud-none", 1, hasher_);
  ASSERT_TRUE(deleted);
  EXPECT_FALSE(deleted->found);
  EXPECT_EQ(deleted->records, 0U);
  EXPECT_TRUE(Chain().empty());
}

TEST_P(RecordStoreTest, GeneralisedQiIsReplacedWholeWithItsGeneration) {
  const std::vector<GeneralisedQiRow> first = {{"30-39", "female", "SW1", 2027},
                                               {"40-49", "male", "*", 2027}};
  ASSERT_TRUE(store_->ReplaceGeneralisedQi(first, 7));
  EXPECT_EQ(store_->ListGeneralisedQi().value(), first);
  EXPECT_EQ(store_->GetQiState().value().generalised_generation, 7U);
  const std::vector<GeneralisedQiRow> second = {{"*", "*", "*", 2028}};
  ASSERT_TRUE(store_->ReplaceGeneralisedQi(second, 9));
  EXPECT_EQ(store_->ListGeneralisedQi().value(), second);
  ASSERT_TRUE(store_->ReplaceGeneralisedQi({}, 10));
  EXPECT_TRUE(store_->ListGeneralisedQi().value().empty());
  EXPECT_EQ(store_->ReplaceGeneralisedQi({{"", "x", "y", 1}}, 11).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreTest, PagesCoverEveryRowOnce) {
  for (int i = 0; i < 7; ++i) {
    Put(MakeRecord("p-" + std::to_string(i), "r-" + std::to_string(i)));
  }
  std::vector<std::string> patients;
  std::string after;
  for (;;) {
    auto page = store_->ListCurrentQi(after, 3).value();
    if (page.empty()) break;
    for (const auto& row : page) patients.push_back(row.patient_id);
    after = page.back().patient_id;
  }
  EXPECT_EQ(patients.size(), 7U);
  EXPECT_TRUE(std::is_sorted(patients.begin(), patients.end()));

  std::vector<std::string> mi;
  after.clear();
  for (;;) {
    auto page = store_->ListMi(after, 2).value();
    if (page.empty()) break;
    for (const auto& row : page) mi.push_back(row.mi_ref);
    after = page.back().mi_ref;
  }
  EXPECT_EQ(mi.size(), 7U);
  EXPECT_EQ(std::set<std::string>(mi.begin(), mi.end()).size(), 7U);
}

TEST_P(RecordStoreTest, KeyRingsFollowTheWrappedKeyStoreContractAndStayApart) {
  crypto::WrappedKeyStore& ei = store_->wrapped_keys(RecordPart::kEi);
  crypto::WrappedKeyStore& mi = store_->wrapped_keys(RecordPart::kMi);
  const crypto::DataKeyContext ctx{"p-1", "ei"};
  // Context fields are bytes, not text.
  const crypto::DataKeyContext binary{std::string("p\0\xff", 3), "mi"};

  EXPECT_EQ(ei.Get(ctx).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(ei.Insert(ctx, B("wrapped-1")));
  EXPECT_EQ(ei.Insert(ctx, B("wrapped-2")).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ei.Get(ctx).value(), B("wrapped-1"));
  ASSERT_TRUE(mi.Insert(binary, B("wrapped-m")));
  ASSERT_TRUE(mi.Insert(ctx, B("same context, other ring")));

  EXPECT_EQ(ei.List().value(), std::vector<crypto::DataKeyContext>{ctx});
  EXPECT_EQ(mi.List().value().size(), 2U);
  EXPECT_EQ(mi.Get(binary).value(), B("wrapped-m"));
  EXPECT_TRUE(store_->wrapped_keys(RecordPart::kQi).List().value().empty());

  EXPECT_EQ(ei.Replace(ctx, B("stale"), B("wrapped-3")).error().code(),
            ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(ei.Replace(ctx, B("wrapped-1"), B("wrapped-3")));
  EXPECT_EQ(ei.Get(ctx).value(), B("wrapped-3"));
  EXPECT_EQ(mi.Get(ctx).value(), B("same context, other ring"));

  ASSERT_TRUE(ei.Delete(ctx));
  EXPECT_EQ(ei.Delete(ctx).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ei.Replace(ctx, B("wrapped-3"), B("x")).error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(mi.Get(ctx));
  EXPECT_EQ(ei.Insert({"", "ei"}, B("x")).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ei.Get({"p", std::string(256, 'x')}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreTest, BadArgumentsAreRefusedWithTheFieldNamed) {
  auto expect_invalid = [&](const NewRecord& r, std::string_view field) {
    auto put = store_->PutRecord(r, hasher_);
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(put.error().message().find(field), std::string::npos) << put.error().message();
  };
  NewRecord r = MakeRecord("p-1", "r-1");
  r.link.patient_id.clear();
  expect_invalid(r, "patient_id");
  r = MakeRecord("p-1", "r-1");
  r.link.record_ref = std::string(kMaxStoreRefBytes + 1, 'x');
  expect_invalid(r, "record_ref");
  r = MakeRecord("p-1", "r-1");
  r.qi.patient_id = "p-2";
  expect_invalid(r, "snapshots");
  r = MakeRecord("p-1", "r-1");
  r.mi.ciphertext.clear();
  expect_invalid(r, "mi ciphertext");
  r = MakeRecord("p-1", "r-1");
  r.blind_index[0].patient_id = "p-2";
  expect_invalid(r, "blind index");
  r = MakeRecord("p-1", "r-1");
  r.blind_index[0].token.clear();
  expect_invalid(r, "token");
  EXPECT_TRUE(Chain().empty());

  EXPECT_EQ(store_->ReadChain(1, 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListMi("", kMaxStorePageRows + 1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetSnapshot(RecordPart::kMi, "p-1", "x").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListRecordLinks("").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->DeletePatient("p-1", "", 1, hasher_).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->FindPatients("email", {}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreTest, ChainLogIsAppendOnlyUnlessSomeoneDropsTheGuard) {
  Put(MakeRecord("p-1", "r-1"));
  EXPECT_FALSE(backend_->Execute("UPDATE {chain_log} SET stored_ms = 0"));
  EXPECT_FALSE(backend_->Execute("DELETE FROM {chain_log}"));
  EXPECT_EQ(Chain().size(), 1U);
  EXPECT_EQ(Chain()[0].stored_ms, 1'700'000'000'000);
  // An attacker with DDL rights gets past it; the keyed chain is what catches them (tested in
  // the cloud's three-part tests).
  ASSERT_TRUE(backend_->DropChainProtection());
  ASSERT_TRUE(backend_->Execute("UPDATE {chain_log} SET stored_ms = 0"));
  EXPECT_EQ(Chain()[0].stored_ms, 0);
}

TEST_P(RecordStoreTest, ConcurrentWritersKeepOneGapFreeChain) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 8;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        auto put = store_->PutRecord(MakeRecord("p-" + std::to_string(t), "r-" + id), hasher_);
        EXPECT_TRUE(put) << put.error().ToString();
        // A duplicate from another thread racing with the first insert is a no-op.
        auto again = store_->PutRecord(MakeRecord("p-" + std::to_string(t), "r-" + id), hasher_);
        EXPECT_TRUE(again) << again.error().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::vector<ChainEntry> chain = Chain();
  ASSERT_EQ(chain.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(chain[i].seq, i + 1);
    if (i > 0) {
      EXPECT_EQ(chain[i].prev_hash, chain[i - 1].entry_hash);
    }
  }
  EXPECT_EQ(store_->GetChainHead().value().seq, chain.size());
}

std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& param) {
  return std::string(testing::BackendKindName(param.param));
}

INSTANTIATE_TEST_SUITE_P(, RecordStoreTest,
                         ::testing::Values(BackendKind::kSqlite, BackendKind::kPostgres),
                         BackendParamName);

}  // namespace
}  // namespace medmesh::store
