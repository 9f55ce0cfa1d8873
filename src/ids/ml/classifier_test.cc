// The XGBoost wrapper, the model files and their manifest, and the committed models.
#include "ids/ml/classifier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <span>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "core/env.h"
#include "crypto/keyed_hash.h"
#include "ids/ml/training.h"
#include "testing/temp_dir.h"

namespace medmesh::ids::ml {
namespace {

// A few hundred deterministic rows of 3 features: attack iff x0 + x1 > 1 (x2 is noise).
void TinyData(DenseMatrix& x, std::vector<float>& labels) {
  std::uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1u << 24);
  };
  for (int i = 0; i < 400; ++i) {
    const float row[3] = {next(), next(), next()};
    x.AppendRow(row);
    labels.push_back(row[0] + row[1] > 1.0f ? 1.0f : 0.0f);
  }
}

TrainOptions Tiny() {
  TrainOptions o;
  o.rounds = 30;
  o.max_depth = 3;
  o.eta = 0.3;
  o.nthread = 1;
  return o;
}

TEST(Booster, TrainsPredictsAndRoundTrips) {
  DenseMatrix x;
  std::vector<float> labels;
  TinyData(x, labels);
  auto booster = Booster::Train(x, labels, {}, Tiny(), nullptr);
  ASSERT_TRUE(booster.has_value()) << booster.error().ToString();
  auto p = (*booster)->Predict(x);
  ASSERT_TRUE(p.has_value());
  int right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += ((*p)[i] >= 0.5f) == (labels[i] == 1.0f);
  EXPECT_GE(right, 380);  // a learnable rule: at least 95% on its training rows

  auto bytes = (*booster)->Save();
  ASSERT_TRUE(bytes.has_value());
  auto loaded = Booster::Load(*bytes, 3);
  ASSERT_TRUE(loaded.has_value());
  auto q = (*loaded)->Predict(x);
  ASSERT_TRUE(q.has_value());
  EXPECT_TRUE(*p == *q);                               // the same model after the round trip
  EXPECT_FALSE(Booster::Load(*bytes, 4).has_value());  // wrong feature count
  EXPECT_FALSE(Booster::Load(AsBytes("not a model"), 3).has_value());
  const float short_row[2] = {0.1f, 0.2f};
  EXPECT_EQ((*loaded)->PredictOne(short_row).error().code(), ErrorCode::kInvalidArgument);
}

TEST(Booster, SameSeedSameModel) {
  DenseMatrix x;
  std::vector<float> labels;
  TinyData(x, labels);
  auto a = Booster::Train(x, labels, {}, Tiny(), nullptr);
  auto b = Booster::Train(x, labels, {}, Tiny(), nullptr);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(*(*a)->Save() == *(*b)->Save());
}

TEST(Booster, RejectsMismatchedInput) {
  DenseMatrix x;
  std::vector<float> labels;
  TinyData(x, labels);
  labels.pop_back();
  EXPECT_EQ(Booster::Train(x, labels, {}, Tiny(), nullptr).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Booster::Train(DenseMatrix{}, {}, {}, Tiny(), nullptr).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(Booster, ConcurrentPredictionsMatchBatch) {
  DenseMatrix x;
  std::vector<float> labels;
  TinyData(x, labels);
  auto booster = Booster::Train(x, labels, {}, Tiny(), nullptr);
  ASSERT_TRUE(booster.has_value());
  const std::vector<float> batch = *(*booster)->Predict(x);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < x.rows; ++i) {
        auto p = (*booster)->PredictOne(x.Row(i));
        if (!p || *p != batch[i]) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(ModelManifest, JsonRoundTripAndValidation) {
  ModelManifest m;
  m.name = "http";
  m.version = 1;
  m.feature_schema = SchemaHash(HttpFeatureSchema());
  m.feature_count = HttpFeatureSchema().size();
  m.threshold = 0.75;
  m.value_threshold = 0.5;
  m.threshold_rule = "rule";
  m.seed = 7;
  m.rounds = 10;
  m.params = "a=1";
  m.model_blake2b256 = "00";
  m.training_files = {{"csic2010/x.gz", "ab", 12}};
  m.created_by = "test";
  auto back = ManifestFromJson(ManifestToJson(m));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(ManifestToJson(*back), ManifestToJson(m));
  EXPECT_FALSE(ManifestFromJson("[]").has_value());
  EXPECT_FALSE(ManifestFromJson("{").has_value());
  std::string json = ManifestToJson(m);
  json.replace(json.find("0.75"), 4, "1.75");
  EXPECT_FALSE(ManifestFromJson(json).has_value());
  EXPECT_NE(SchemaHash({"a", "b"}), SchemaHash({"ab"}));
}

// Trains a tiny request model on the HTTP feature layout of `version` (1: the v1 prefix) and
// writes it like `ids train` does.
TrainedModel TinyHttpModel(int version = kHttpModelVersion) {
  const std::vector<std::string> schema = HttpSchemaForVersion(version);
  DenseMatrix x;
  std::vector<float> labels;
  const char* benign[] = {"Ann", "12 Main Street", "5 mg/day", "headache since monday", "42"};
  const char* attacks[] = {"' or 1=1 --", "<script>alert(1)</script>", "../../etc/passwd",
                           "; cat /etc/passwd", "1 union select null,version()--"};
  for (int copy = 0; copy < 40; ++copy) {
    for (const char* v : benign) {
      const auto f =
          ExtractValueRequestFeatures(v + std::string(static_cast<std::size_t>(copy % 3), 'x'));
      x.AppendRow(std::span<const float>(f).first(schema.size()));
      labels.push_back(0);
    }
    for (const char* v : attacks) {
      const auto f =
          ExtractValueRequestFeatures(v + std::string(static_cast<std::size_t>(copy % 3), ' '));
      x.AppendRow(std::span<const float>(f).first(schema.size()));
      labels.push_back(1);
    }
  }
  TrainOptions o = Tiny();
  o.subsample = 1;
  o.colsample_bytree = 1;
  auto booster = Booster::Train(x, labels, {}, o, nullptr);
  MEDMESH_CHECK(booster.has_value(), "tiny training failed");
  TrainedModel model;
  model.model = *(*booster)->Save();
  model.manifest.name = "http";
  model.manifest.version = version;
  model.manifest.feature_schema = SchemaHash(schema);
  model.manifest.feature_count = schema.size();
  model.manifest.threshold = model.manifest.value_threshold = 0.5;
  model.manifest.unprofiled_threshold = 0.5;
  model.manifest.model_blake2b256 = HexEncode(crypto::Blake2b256(model.model));
  model.booster = std::move(*booster);
  return model;
}

TEST(RequestClassifier, LoadsWhatWasWrittenAndScores) {
  testing::TempDir dir;
  TrainedModel model = TinyHttpModel();
  ASSERT_TRUE(WriteModel(dir.path(), model).has_value());
  auto classifier = RequestClassifier::Load(dir.path());
  ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
  EXPECT_TRUE((*classifier)->ScoreValue("<script>alert(1)</script>")->attack);
  EXPECT_FALSE((*classifier)->ScoreValue("Ann")->attack);
  auto request = (*classifier)->Score({"GET", "/x", "q=%27%20or%201%3D1%20--", ""});
  ASSERT_TRUE(request.has_value());
  EXPECT_GE(request->probability, 0.0f);
  EXPECT_LE(request->probability, 1.0f);
}

TEST(RequestClassifier, RefusesTamperedOrForeignModels) {
  TrainedModel model = TinyHttpModel();
  {
    testing::TempDir dir;
    ASSERT_TRUE(WriteModel(dir.path(), model).has_value());
    std::ofstream(dir.File(ModelFileName("http", kHttpModelVersion)), std::ios::app) << "x";
    EXPECT_EQ(RequestClassifier::Load(dir.path()).error().code(), ErrorCode::kDataLoss);
  }
  {
    testing::TempDir dir;
    TrainedModel foreign = TinyHttpModel();
    foreign.manifest.feature_schema = SchemaHash({"another", "layout"});
    ASSERT_TRUE(WriteModel(dir.path(), foreign).has_value());
    EXPECT_EQ(RequestClassifier::Load(dir.path()).error().code(), ErrorCode::kFailedPrecondition);
    // The flow classifier does not take an http model either.
    EXPECT_EQ(FlowClassifier::Load(dir.path()).error().code(), ErrorCode::kNotFound);
  }
  testing::TempDir empty;
  EXPECT_EQ(RequestClassifier::Load(empty.path()).error().code(), ErrorCode::kNotFound);
}

TEST(RequestClassifier, PicksTheNewestVersionAndStillLoadsV1) {
  testing::TempDir dir;
  TrainedModel v1 = TinyHttpModel(1);
  ASSERT_EQ(v1.manifest.feature_count, kHttpV1FeatureCount);
  ASSERT_TRUE(WriteModel(dir.path(), v1).has_value());
  auto loaded = RequestClassifier::Load(dir.path());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_EQ((*loaded)->manifest().version, 1);
  // The v1 model reads the v1 prefix of today's vectors.
  EXPECT_TRUE((*loaded)->ScoreValue("<script>alert(1)</script>")->attack);
  EXPECT_FALSE((*loaded)->ScoreValue("Ann")->attack);
  ASSERT_TRUE(WriteModel(dir.path(), TinyHttpModel()).has_value());
  loaded = RequestClassifier::Load(dir.path());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_EQ((*loaded)->manifest().version, kHttpModelVersion);
}

TEST(RequestClassifier, ProfiledRequestsUseTheirOwnThresholdAndTheProfileIsChecked) {
  TrainedModel model = TinyHttpModel();
  ParamProfile profile;
  profile.AddBenign({"GET", "/shop/add.jsp", "id=1", ""});
  model.profile = profile.ToJson();
  model.manifest.profile_blake2b256 = HexEncode(crypto::Blake2b256(AsBytes(model.profile)));
  model.manifest.threshold = 0.0;             // every profiled request is flagged
  model.manifest.unprofiled_threshold = 1.0;  // no unprofiled one is
  {
    testing::TempDir dir;
    ASSERT_TRUE(WriteModel(dir.path(), model).has_value());
    auto classifier = RequestClassifier::Load(dir.path());
    ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
    EXPECT_TRUE((*classifier)->Score({"GET", "/shop/add.jsp", "id=1", ""})->attack);
    EXPECT_FALSE((*classifier)->Score({"GET", "/api/v1/readings", "id=1", ""})->attack);
    // A tampered profile is refused; a missing one too, without falling back to v1.
    std::ofstream(dir.File(ProfileFileName("http", kHttpModelVersion)), std::ios::app) << " ";
    EXPECT_EQ(RequestClassifier::Load(dir.path()).error().code(), ErrorCode::kDataLoss);
    ASSERT_TRUE(WriteModel(dir.path(), TinyHttpModel(1)).has_value());
    std::filesystem::remove(dir.File(ProfileFileName("http", kHttpModelVersion)));
    EXPECT_EQ(RequestClassifier::Load(dir.path()).error().code(), ErrorCode::kFailedPrecondition);
  }
}

TEST(FlowClassifier, StillLoadsTheV1Layout) {
  // A v1 flow model (125 features) scores the prefix of today's flow vectors.
  auto record = ParseKddLine(
      "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,"
      "0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01");
  ASSERT_TRUE(record.has_value());
  const std::vector<std::string> schema = FlowSchemaForVersion(1);
  ASSERT_EQ(schema.size(), kFlowV1FeatureCount);
  DenseMatrix x;
  std::vector<float> labels;
  const std::vector<float> f = ExtractFlowFeatures(record->record);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> row(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(schema.size()));
    row[0] = static_cast<float>(i);  // duration: long flows are "attacks" in this toy model
    x.AppendRow(row);
    labels.push_back(i >= 25 ? 1.0f : 0.0f);
  }
  auto booster = Booster::Train(x, labels, {}, Tiny(), nullptr);
  ASSERT_TRUE(booster.has_value());
  TrainedModel model;
  model.model = *(*booster)->Save();
  model.manifest.name = "flow";
  model.manifest.version = 1;
  model.manifest.feature_schema = SchemaHash(schema);
  model.manifest.feature_count = schema.size();
  model.manifest.model_blake2b256 = HexEncode(crypto::Blake2b256(model.model));
  testing::TempDir dir;
  ASSERT_TRUE(WriteModel(dir.path(), model).has_value());
  auto classifier = FlowClassifier::Load(dir.path());
  ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
  EXPECT_EQ((*classifier)->manifest().version, 1);
  EXPECT_FALSE((*classifier)->Score(record->record)->attack);  // duration 0
}

// --- The committed models (models/ids, written by `medmesh ids train`) ---------------------------

TEST(CommittedModels, RequestModelFlagsKnownAttacksAndPassesPlainFreeText) {
  auto classifier = RequestClassifier::Load(MEDMESH_IDS_MODELS_DIR);
  ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
  for (std::string_view attack :
       {"' OR '1'='1' --", "1' UNION SELECT username, password FROM users--",
        "<script>alert(document.cookie)</script>", "\"><img src=x onerror=alert(1)>",
        "../../../../etc/passwd", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"}) {
    SCOPED_TRACE(std::string(attack));
    EXPECT_TRUE((*classifier)->ScoreValue(attack)->attack);
  }
  for (std::string_view benign :
       {"Headache since Tuesday morning, worse when I bend over.",
        "Mrs. O'Brien called; she'd like to move her appointment to Friday.",
        "Dose: 5 mg/day, increase to 10 mg/day after one week if tolerated.",
        "Thank you so much for yesterday <3", "12 Rue de l'Église, 75004 Paris"}) {
    SCOPED_TRACE(std::string(benign));
    EXPECT_FALSE((*classifier)->ScoreValue(benign)->attack);
  }
  auto sqli = (*classifier)
                  ->Score({"GET", "/tienda1/publico/anadir.jsp",
                           "id=2&nombre=%27+or+%271%27%3D%271%27+--", ""});
  ASSERT_TRUE(sqli.has_value());
  EXPECT_TRUE(sqli->attack);
}

TEST(CommittedModels, TheNewestAreV2WithProfilesAndV1StillLoads) {
  auto http = RequestClassifier::Load(MEDMESH_IDS_MODELS_DIR);
  ASSERT_TRUE(http.has_value()) << http.error().ToString();
  EXPECT_EQ((*http)->manifest().version, kHttpModelVersion);
  EXPECT_FALSE((*http)->manifest().profile_blake2b256.empty());
  auto flow = FlowClassifier::Load(MEDMESH_IDS_MODELS_DIR);
  ASSERT_TRUE(flow.has_value()) << flow.error().ToString();
  EXPECT_EQ((*flow)->manifest().version, kFlowModelVersion);
  EXPECT_FALSE((*flow)->manifest().profile_blake2b256.empty());
  // The v1 models stay in the folder and load against the v1 prefix of today's layouts.
  EXPECT_TRUE(LoadModel(MEDMESH_IDS_MODELS_DIR, "http", 1, HttpSchemaForVersion(1)).has_value());
  EXPECT_TRUE(LoadModel(MEDMESH_IDS_MODELS_DIR, "flow", 1, FlowSchemaForVersion(1)).has_value());
}

TEST(CommittedModels, TheProfileSeparatesUnusualValuesOnKnownPages) {
  auto classifier = RequestClassifier::Load(MEDMESH_IDS_MODELS_DIR);
  ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
  // A quote and letters in CSIC's numeric price: a profile anomaly without any injection syntax.
  auto odd = (*classifier)
                 ->Score({"GET", "/tienda1/publico/anadir.jsp",
                          "id=2&nombre=Jam%F3n+Ib%E9rico&precio=85%27a&cantidad=49&B1="
                          "A%F1adir+al+carrito",
                          ""});
  ASSERT_TRUE(odd.has_value());
  EXPECT_TRUE(odd->attack);
  // One of the shop's fixed requests.
  auto known = (*classifier)->Score({"GET", "/tienda1/publico/caracteristicas.jsp", "id=2", ""});
  ASSERT_TRUE(known.has_value());
  EXPECT_FALSE(known->attack);
  // Outside the profile's application the verdict is taken at unprofiled_threshold.
  auto other = (*classifier)->Score({"POST", "/api/v1/notes", "", "subject=Follow-up&days=3"});
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->attack, other->probability >= (*classifier)->manifest().unprofiled_threshold);
}

TEST(CommittedModels, FlowModelSeparatesASynFloodFromABrowsingRecord) {
  auto classifier = FlowClassifier::Load(MEDMESH_IDS_MODELS_DIR);
  ASSERT_TRUE(classifier.has_value()) << classifier.error().ToString();
  // A neptune-like SYN flood (S0, many connections to one service, all SYN errors).
  auto flood = ParseKddLine(
      "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,"
      "0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00");
  auto browsing = ParseKddLine(
      "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,"
      "0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01");
  ASSERT_TRUE(flood.has_value() && browsing.has_value());
  EXPECT_TRUE((*classifier)->Score(flood->record)->attack);
  EXPECT_FALSE((*classifier)->Score(browsing->record)->attack);
}

}  // namespace
}  // namespace medmesh::ids::ml
