// `medmesh ids train` / `medmesh eval ids` (apps/ids_main.h). Progress goes to stderr, results to
// stdout, so `> results.txt` keeps only the figures.
#include "apps/ids_main.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/env.h"
#include "ids/ml/classifier.h"
#include "ids/ml/datasets.h"
#include "ids/ml/metrics.h"
#include "ids/ml/training.h"

#ifndef MEDMESH_IDS_MODELS_DIR
#define MEDMESH_IDS_MODELS_DIR "models/ids"
#endif
#ifndef MEDMESH_DATASETS_DIR
#define MEDMESH_DATASETS_DIR "../shared/datasets"
#endif

namespace ml = medmesh::ids::ml;

namespace {

// A one-line progress bar on stderr, redrawn in place; quiet when stderr is not a terminal
// except for one line per stage.
class ProgressBar {
 public:
  void operator()(const std::string& stage, int done, int total) {
    const bool tty = ::isatty(2) != 0;
    if (!tty) {
      if (stage != last_stage_) std::fprintf(stderr, "%s ...\n", stage.c_str());
      last_stage_ = stage;
      return;
    }
    const int width = 30;
    const int filled = total > 0 ? done * width / total : width;
    std::fprintf(stderr, "\r%-28.28s [%.*s%*s] %3d%%", stage.c_str(), filled,
                 "##############################", width - filled, "",
                 total > 0 ? done * 100 / total : 100);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string last_stage_;
};

int Fail(const medmesh::Error& e) {
  std::cerr << "medmesh: " << e.ToString() << "\n";
  return 1;
}

struct TrainFlags {
  std::string datasets = MEDMESH_DATASETS_DIR;
  std::string out = MEDMESH_IDS_MODELS_DIR;
  std::string only;
  std::uint64_t seed = 0;
  int rounds = 0;
  std::string features = "v2";
};

ml::ModelOptions Options(std::uint64_t seed, int rounds, const std::string& features) {
  ml::ModelOptions o = ml::DefaultModelOptions();
  o.v1_features = features == "v1";
  if (seed != 0) o.seed = o.http.seed = o.flow.seed = seed;
  if (rounds > 0) o.http.rounds = o.flow.rounds = rounds;
  return o;
}

int RunTrain(const TrainFlags& flags) {
  const ml::ModelOptions options = Options(flags.seed, flags.rounds, flags.features);
  auto bar = std::make_shared<ProgressBar>();
  const ml::ProgressFn progress = [bar](const std::string& s, int d, int t) { (*bar)(s, d, t); };
  for (const std::string name : {"http", "flow"}) {
    if (!flags.only.empty() && flags.only != name) continue;
    const auto start = std::chrono::steady_clock::now();
    auto model = name == "http" ? ml::TrainHttpModel(flags.datasets, options, progress)
                                : ml::TrainFlowModel(flags.datasets, options, progress);
    if (!model) return Fail(model.error());
    if (auto st = ml::WriteModel(flags.out, *model); !st) return Fail(st.error());
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    std::printf("wrote %s/%s (%zu bytes, threshold %.6f, %.1f s)\n", flags.out.c_str(),
                ml::ModelFileName(name, model->manifest.version).c_str(), model->model.size(),
                model->manifest.threshold, seconds.count());
  }
  return 0;
}

struct EvalFlags {
  std::string dataset;
  std::vector<std::string> files;
  std::string models = MEDMESH_IDS_MODELS_DIR;
  std::string datasets = MEDMESH_DATASETS_DIR;
  bool cv = false;
  std::string cv_split;
  std::uint64_t seed = 0;
  int rounds = 0;
  std::string features = "v2";
  bool list_flagged = false;
  bool list_missed = false;
};

// The confusion matrix counts the classifiers' verdicts (ScoreValue's structure gate included);
// AUC ranks the raw probabilities.
int PrintMetrics(const std::string& what, const std::vector<float>& scores,
                 const std::vector<int>& labels, const std::vector<int>& predicted,
                 double threshold) {
  const std::vector<float> verdicts(predicted.begin(), predicted.end());
  ml::BinaryMetrics m = ml::MetricsFrom(ml::Confuse(verdicts, labels, 0.5));
  m.auc = ml::RocAuc(scores, labels);
  std::printf("%s: %zu samples, threshold %.6f\n%s", what.c_str(), scores.size(), threshold,
              ml::FormatMetrics(m).c_str());
  return 0;
}

int RunCrossValidation(const EvalFlags& flags) {
  const ml::ModelOptions options = Options(flags.seed, flags.rounds, flags.features);
  auto bar = std::make_shared<ProgressBar>();
  const ml::ProgressFn progress = [bar](const std::string& s, int d, int t) { (*bar)(s, d, t); };
  const ml::DatasetFiles files = ml::StandardDatasetFiles(flags.datasets);
  medmesh::Result<std::vector<ml::FoldResult>> folds = std::vector<ml::FoldResult>();
  std::string method;
  if (flags.dataset == "nsl-kdd") {
    auto flows = ml::ReadKddFile(flags.files.empty() ? files.nsl_kdd
                                                     : std::filesystem::path(flags.files[0]));
    if (!flows) return Fail(flows.error());
    const ml::FlowData data = ml::BuildFlowData(*flows);
    const std::string split = flags.cv_split.empty() ? "family" : flags.cv_split;
    if (split != "family" && split != "type") {
      std::cerr << "medmesh eval ids: --cv-split for nsl-kdd is family or type\n";
      return 2;
    }
    folds = ml::CrossValidateFlow(data, options, split == "family", progress);
    method = "leave-attack-" + split + "-out (each held-out " + split +
             " + a share of the normal records; threshold calibrated on the training part)";
  } else {
    auto normal = ml::ReadCsicFile(files.csic_normal);
    if (!normal) return Fail(normal.error());
    auto anomalous = ml::ReadCsicFile(files.csic_anomalous);
    if (!anomalous) return Fail(anomalous.error());
    auto values = ml::ReadHttpParamsFile(files.httpparams);
    if (!values) return Fail(values.error());
    std::vector<ml::LabeledRequest> csic = std::move(*normal);
    csic.insert(csic.end(), anomalous->begin(), anomalous->end());
    const ml::HttpData data = ml::BuildHttpData(csic, *values, progress);
    if (flags.dataset == "csic2010") {
      const std::string split = flags.cv_split.empty() ? "names" : flags.cv_split;
      ml::CsicSplit how = ml::CsicSplit::kNames;
      if (split == "names") {
        method = "leave-parameter-name-out, " + std::to_string(options.cv_folds) +
                 " folds over CSIC parameter names, held-out requests scored without the profile";
      } else if (split == "names-profiled") {
        how = ml::CsicSplit::kNamesProfiled;
        method = "leave-parameter-name-out, " + std::to_string(options.cv_folds) +
                 " folds over CSIC parameter names, scored with the training part's profile";
      } else if (split == "content") {
        how = ml::CsicSplit::kContent;
        method = std::to_string(options.cv_folds) +
                 " folds over distinct request contents (GET/POST twins together), scored with "
                 "the training part's profile";
      } else {
        std::cerr << "medmesh eval ids: --cv-split for csic2010 is names, names-profiled or "
                     "content\n";
        return 2;
      }
      folds = ml::CrossValidateHttpCsic(data, options, how, progress);
    } else {
      folds = ml::CrossValidateHttpParams(data, options, progress);
      method = "leave-attack-type-out over httpparams attack types";
    }
  }
  if (!folds) return Fail(folds.error());
  std::printf("cross-validation on %s (features %s): %s\n%s", flags.dataset.c_str(),
              flags.features.c_str(), method.c_str(), ml::FormatFolds(*folds).c_str());
  return 0;
}

int RunEval(const EvalFlags& flags) {
  if (flags.cv) return RunCrossValidation(flags);
  if (flags.files.empty()) {
    std::cerr << "medmesh eval ids: give labelled FILEs (or --cv)\n";
    return 2;
  }
  std::vector<float> scores;
  std::vector<int> labels;
  std::vector<int> predicted;
  double threshold = 0;
  if (flags.dataset == "nsl-kdd") {
    auto classifier = ml::FlowClassifier::Load(flags.models);
    if (!classifier) return Fail(classifier.error());
    threshold = (*classifier)->manifest().threshold;
    for (const std::string& file : flags.files) {
      auto flows = ml::ReadKddFile(file);
      if (!flows) return Fail(flows.error());
      for (const ml::LabeledFlow& f : *flows) {
        auto v = (*classifier)->Score(f.record);
        if (!v) return Fail(v.error());
        scores.push_back(v->probability);
        predicted.push_back(v->attack ? 1 : 0);
        labels.push_back(f.label == "normal" ? 0 : 1);
      }
    }
  } else {
    auto classifier = ml::RequestClassifier::Load(flags.models);
    if (!classifier) return Fail(classifier.error());
    // Whole requests are judged at `threshold`, single values at `value_threshold`.
    threshold = flags.dataset == "csic2010" ? (*classifier)->manifest().threshold
                                            : (*classifier)->manifest().value_threshold;
    for (const std::string& file : flags.files) {
      if (flags.dataset == "csic2010") {
        auto requests = ml::ReadCsicFile(file);
        if (!requests) return Fail(requests.error());
        for (const ml::LabeledRequest& r : *requests) {
          auto v = (*classifier)->Score({r.method, r.path, r.query, r.body});
          if (!v) return Fail(v.error());
          scores.push_back(v->probability);
          predicted.push_back(v->attack ? 1 : 0);
          labels.push_back(r.label);
        }
      } else if (flags.dataset == "httpparams") {
        auto values = ml::ReadHttpParamsFile(file);
        if (!values) return Fail(values.error());
        for (const ml::LabeledValue& value : *values) {
          auto v = (*classifier)->ScoreValue(value.payload);
          if (!v) return Fail(v.error());
          scores.push_back(v->probability);
          predicted.push_back(v->attack ? 1 : 0);
          labels.push_back(value.label);
          if (flags.list_missed && value.label == 1 && !v->attack) {
            std::printf("missed %s %.4f: %s\n", value.attack_type.c_str(), v->probability,
                        value.payload.c_str());
          }
        }
      } else {  // freetext: one benign value per line; '#' lines are comments
        auto text = ml::ReadMaybeGzip(file);
        if (!text) return Fail(text.error());
        std::string_view rest = *text;
        while (!rest.empty()) {
          const std::size_t nl = rest.find('\n');
          const std::string_view line = rest.substr(0, nl);
          rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
          if (line.empty() || line[0] == '#') continue;
          auto v = (*classifier)->ScoreValue(line);
          if (!v) return Fail(v.error());
          scores.push_back(v->probability);
          predicted.push_back(v->attack ? 1 : 0);
          labels.push_back(0);
          if (flags.list_flagged && v->attack) {
            std::printf("flagged %.4f: %.*s\n", v->probability, static_cast<int>(line.size()),
                        line.data());
          }
        }
      }
    }
  }
  return PrintMetrics(flags.dataset, scores, labels, predicted, threshold);
}

}  // namespace

const char* DefaultIdsModelsDir() { return MEDMESH_IDS_MODELS_DIR; }

void RegisterIdsCommand(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* ids = app.add_subcommand("ids", "Intrusion detection models (docs/ids_models.md)");
  ids->callback([ids] {
    if (ids->get_subcommands().empty()) {
      std::cerr << ids->help();
      throw CLI::RuntimeError(2);
    }
  });
  CLI::App* train = ids->add_subcommand(
      "train",
      "Train the request and flow classifiers (seeded, reproducible) and write the "
      "models with their manifests");
  train->add_option("--datasets", flags->datasets, "The datasets folder (../shared/datasets)")
      ->capture_default_str();
  train->add_option("--out", flags->out, "Folder for the models")->capture_default_str();
  train->add_option("--only", flags->only, "Train one model")
      ->check(CLI::IsMember({"http", "flow"}));
  train->add_option("--seed", flags->seed, "Seed (default: the recorded one, 20101)");
  train->add_option("--rounds", flags->rounds, "Boosting rounds (default 200 http, 150 flow)");
  train
      ->add_option("--features", flags->features,
                   "v2 (default): all features and the parameter profile; v1: the v1 layout")
      ->check(CLI::IsMember({"v1", "v2"}))
      ->capture_default_str();
  train->callback([flags] {
    const int code = RunTrain(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

void RegisterEvalIdsCommand(CLI::App& eval) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* ids = eval.add_subcommand(
      "ids",
      "Score labelled files with the stored IDS models (accuracy, detection rate, FPR, "
      "precision, F1, AUC, confusion matrix), or --cv: group-holdout cross-validation");
  ids->add_option("--dataset", flags->dataset, "Format of the FILEs")
      ->required()
      ->check(CLI::IsMember({"nsl-kdd", "csic2010", "httpparams", "freetext"}));
  ids->add_option("files", flags->files,
                  "Labelled files (gz or plain): NSL-KDD lines; CSIC request files whose name "
                  "says normal/anomalous; httpparams CSV; freetext: one benign value per line");
  ids->add_option("--models", flags->models, "Models folder")->capture_default_str();
  ids->add_flag("--cv", flags->cv,
                "Cross-validate on the training datasets instead (whole parameter names / attack "
                "types / families held out)");
  ids->add_option("--datasets", flags->datasets, "The datasets folder for --cv")
      ->capture_default_str();
  ids->add_option("--cv-split", flags->cv_split,
                  "--cv: nsl-kdd family (default) or type; csic2010 names (default), "
                  "names-profiled or content")
      ->check(CLI::IsMember({"family", "type", "names", "names-profiled", "content"}));
  ids->add_option("--features", flags->features,
                  "--cv: v2 (default) or v1 (the v1 layout, no profile: the before figures)")
      ->check(CLI::IsMember({"v1", "v2"}))
      ->capture_default_str();
  ids->add_option("--seed", flags->seed, "--cv: seed");
  ids->add_option("--rounds", flags->rounds, "--cv: boosting rounds");
  ids->add_flag("--list-flagged", flags->list_flagged, "freetext: print the lines flagged");
  ids->add_flag("--list-missed", flags->list_missed, "httpparams: print the attacks missed");
  ids->callback([flags] {
    const int code = RunEval(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
