// Readers of the labelled training and test files (the formats of ../shared/datasets, README
// there): gzip or plain, detected by the gzip magic bytes, not the name.
//
//   nsl-kdd     CSV lines of 41 features + label (+ difficulty)        ReadKddFile
//   csic2010    raw HTTP/1.1 requests, label by file name              ReadCsicFile
//               ("anomal" in the name: attacks, "normal": benign)
//   httpparams  CSV "payload","length","attack_type","label"           ReadHttpParamsFile
//
// Errors: kNotFound / kPermissionDenied for the file, kResourceExhausted above 1 GiB
// decompressed, kInvalidArgument for a malformed record, naming the file and line number but
// never quoting the record (test data may hold anything).
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ids/ml/flow_features.h"

namespace medmesh::ids::ml {

// The whole file, gunzipped if it starts with the gzip magic.
Result<std::string> ReadMaybeGzip(const std::filesystem::path& file);

struct LabeledRequest {
  std::string method;
  std::string path;   // without scheme, host and query
  std::string query;  // without '?'
  std::string body;   // the form body ("" for GET)
  int label = 0;      // 1 attack/anomalous
};

struct LabeledValue {
  std::string payload;
  std::string attack_type;  // norm, sqli, xss, cmdi, path-traversal
  int label = 0;
};

// Parses concatenated raw requests (CSIC 2010 layout). `source` names the input in errors.
Result<std::vector<LabeledRequest>> ParseCsicRequests(std::string_view text, int label,
                                                      std::string_view source);
// Parses HttpParamsDataset CSV (header required).
Result<std::vector<LabeledValue>> ParseHttpParamsCsv(std::string_view text,
                                                     std::string_view source);
// Parses NSL-KDD lines; every line must carry a label.
Result<std::vector<LabeledFlow>> ParseKddText(std::string_view text, std::string_view source);

// The label of a CSIC file from its name: 1 if it contains "anomal", 0 if it contains "normal",
// kInvalidArgument otherwise.
Result<int> CsicLabelFromFileName(const std::filesystem::path& file);

Result<std::vector<LabeledRequest>> ReadCsicFile(const std::filesystem::path& file);
Result<std::vector<LabeledValue>> ReadHttpParamsFile(const std::filesystem::path& file);
Result<std::vector<LabeledFlow>> ReadKddFile(const std::filesystem::path& file);

// Hex BLAKE2b-256 of the file's bytes as stored.
Result<std::string> FileDigest(const std::filesystem::path& file);

}  // namespace medmesh::ids::ml
