// Flow records in the NSL-KDD / KDD Cup 99 format (41 features) and their feature vector for the
// flow classifier (classifier.h). docs/ids_models.md documents the record for external sensors.
//
// A record is one CSV line: the 41 features in KDD order (duration, protocol_type, service, flag,
// src_bytes, ..., dst_host_srv_rerror_rate); a labelled line adds the label ("normal" or an
// attack name) and may add NSL-KDD's difficulty level (43 fields), which is never a feature.
//
// Features: the 38 numeric fields, with byte and count fields log-scaled (log1p) so magnitudes
// seen in one attack generalise to others; protocol_type, service and flag one-hot over the
// vocabularies fixed below (an unknown symbol sets the "?unknown" column of its group, so train
// and predict always agree; NSL-KDD's service "other" is an ordinary value). Flow model v2
// appends, after the kFlowV1FeatureCount features of v1 (unchanged, so a v1 model reads the
// prefix of a v2 vector): the service's group (web, mail, file, remote, naming, system, icmp,
// other) and the flag's group (closed, unanswered, rejected, partial) one-hot, and 15 derived
// values (byte ratio and total, empty payload, bytes per second, error and rejection counts in
// the windows instead of rates, content events, service shares), all log-scaled where they are
// counts, then the 7 rarity features of the normal-flow profile (flow_profile.h). The layout is
// versioned by FlowFeatureSchema(). Thread safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace medmesh::ids::ml {

inline constexpr std::size_t kKddFeatureCount = 41;
inline constexpr std::size_t kKddNumericCount = 38;
// The width of flow model v1's layout: the first features of FlowFeatureSchema().
inline constexpr std::size_t kFlowV1FeatureCount = 125;

struct FlowRecord {
  std::string protocol_type;  // tcp, udp, icmp
  std::string service;        // http, ftp_data, private, ... (70 in NSL-KDD)
  std::string flag;           // SF, S0, REJ, ...
  // The 38 numeric features in KDD order with the three symbolic columns left out (numeric[0] is
  // duration, numeric[1] src_bytes, numeric[2] dst_bytes, ..., numeric[37]
  // dst_host_srv_rerror_rate).
  std::array<double, kKddNumericCount> numeric{};
};

struct LabeledFlow {
  FlowRecord record;
  std::string label;  // "normal" or an attack name; "" when the line had 41 fields
};

// The 41 KDD feature names in order.
const std::array<std::string_view, kKddFeatureCount>& KddFeatureNames();

// Parses one line of 41, 42 or 43 comma-separated fields. kInvalidArgument (naming the field,
// never echoing the line) for a wrong field count, an empty symbolic field, or a numeric field
// that is not a finite non-negative number.
Result<LabeledFlow> ParseKddLine(std::string_view line);

// The attack family of an NSL-KDD label: "normal", "dos", "probe", "r2l", "u2r", or "unknown"
// for names outside the usual 39-name grouping.
std::string_view KddAttackFamily(std::string_view label);

// True for the numeric fields (index into FlowRecord::numeric) that are counts or bytes and are
// log-scaled; the index of a service's group (0..7, "other" last).
bool KddNumericIsLogScaled(std::size_t numeric_index);
std::size_t KddServiceGroupIndex(std::string_view service);

class FlowProfile;

const std::vector<std::string>& FlowFeatureSchema();
// The last kFlowProfileFeatureCount features (flow_profile.h) are NaN unless `profile` is given.
std::vector<float> ExtractFlowFeatures(const FlowRecord& record,
                                       const FlowProfile* profile = nullptr);

}  // namespace medmesh::ids::ml
