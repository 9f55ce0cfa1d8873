// MyDataService: issue 8 workflow 2, "a patient sees their own readings and records", as a
// domain layer without HTTP (routes: my_data_api.h; docs/workflows.md; ADR 0021).
//
//   Readings  one kind's readings over [from_ms, to_ms): the readings themselves when the range
//             is short (kMaxRawRangeMs) and holds at most `points` of them, else buckets of one
//             width (count, sum, min, max; mean = sum / count) read from the encrypted roll-ups
//             (my_data_rollups.h), at most `points` of them, so a day, a week, a month or a year
//             costs a few hundred small rows. Buckets are aligned to multiples of their width
//             from the Unix epoch (days are UTC days): the range answered is the asked one
//             widened to whole buckets, and says so.
//   Records   the patient's records, newest first, decrypted (a summary of each), paged with an
//             opaque cursor; a record that fails its checks is listed with the check it failed.
//   Record    one record decrypted, with its stored form (the ciphertexts of its link, EI, QI
//             and MI rows, its digest and the device's signature as stored) and the verdict of
//             IntegrityService::Verify (which check failed, if any).
//
// Authorisation, as the clinical routes (clinical_service.h): patients only (others
// kPermissionDenied kRoleDeniedMessage), and only once their portal is active
// (ClinicalService::PortalActive, else kPermissionDenied kPortalInactiveMessage); a record that
// is unknown, someone else's, or of a patient whose deletion was asked for is kNotFound with
// kNotFoundMessage. Bad parameters are kInvalidArgument naming the parameter.
// Audit: every call appends one entry ("readings.read", "record.list", "record.read"; a refusal
// with outcome kMinorFailure) before it returns; Record also gets Verify's own "record.verify"
// entry. A failing Append fails the call.
// Thread safety: thread-safe if the stores and the sink are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/principal.h"
#include "audit/audit_sink.h"
#include "cloud/clinical_service.h"
#include "cloud/cloud_readings.h"
#include "cloud/intake_store.h"
#include "cloud/integrity_service.h"
#include "cloud/my_data_rollups.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::cloud {

inline constexpr std::size_t kDefaultSeriesPoints = 300;
inline constexpr std::size_t kMaxSeriesPoints = 2000;
// The longest range one call answers (five years and a day or so).
inline constexpr std::int64_t kMaxSeriesRangeMs = std::int64_t{1827} * 24 * 3'600'000;
// Ranges up to this long may answer with the readings themselves (they decrypt the batches).
inline constexpr std::int64_t kMaxRawRangeMs = std::int64_t{2} * 24 * 3'600'000;
// Roll-up buckets one call reads at most: a coarser width is used beyond it.
inline constexpr std::int64_t kMaxRollupRowsPerRead = 3000;
inline constexpr std::size_t kDefaultRecordsPage = 20;
inline constexpr std::size_t kMaxRecordsPage = 100;

struct ReadingsQuery {
  wire::VitalKind kind = wire::VitalKind::kHeartRate;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::size_t points = kDefaultSeriesPoints;  // 1..kMaxSeriesPoints
};

struct ReadingSeries {
  wire::VitalKind kind = wire::VitalKind::kHeartRate;
  std::int64_t from_ms = 0;  // the range answered: as asked for readings, whole buckets else
  std::int64_t to_ms = 0;
  std::int64_t bucket_ms = 0;           // 0 when `readings` holds the readings themselves
  std::uint64_t count = 0;              // readings in the range answered
  std::vector<wire::Reading> readings;  // sorted by time (bucket_ms == 0)
  std::vector<RollupBucket> buckets;    // non-empty buckets of width bucket_ms, by start
};

struct MyRecordsPage {
  std::vector<PatientRecordEntry> records;  // newest first
  std::optional<std::string> next_cursor;   // set when more follow
};

struct MyRecordView {
  std::string device_id;
  std::string record_id;
  std::optional<StoredRecord> record;  // set when it decrypted and matched its digest
  RecordStoredForm stored;             // as stored; empty rows are missing
  ItemVerification verification;       // IntegrityService::Verify
};

struct MyDataContext {
  ThreePartStore& records;
  IntakeStore& intake;
  const ClinicalService& clinical;  // PortalActive
  IntegrityService& integrity;      // Verify
  audit::AuditSink& audit;
  const Clock& clock;
};

class MyDataService {
 public:
  // Every reference must outlive the service.
  explicit MyDataService(MyDataContext context);

  // `from` in every method is the caller's network address, for the audit log.
  // kInvalidArgument unless 0 <= from_ms < to_ms <= wire::kMaxTimeMs, the range is at most
  // kMaxSeriesRangeMs and 1 <= points <= kMaxSeriesPoints.
  [[nodiscard]] Result<ReadingSeries> Readings(const accounts::Principal& who,
                                               const ReadingsQuery& query, std::string_view from);
  // One page of at most `limit` (1..kMaxRecordsPage) records after `cursor` ("" for the first
  // page). kInvalidArgument for a cursor this service did not issue.
  [[nodiscard]] Result<MyRecordsPage> Records(const accounts::Principal& who,
                                              std::string_view cursor, std::size_t limit,
                                              std::string_view from);
  [[nodiscard]] Result<MyRecordView> Record(const accounts::Principal& who,
                                            std::string_view device_id, std::string_view record_id,
                                            std::string_view from);

  // OK for a patient (whatever the state of their portal), else kPermissionDenied
  // kRoleDeniedMessage with an audit entry `event` (outcome kMinorFailure). The routes call it
  // before they parse their parameters, so another role gets this 403 rather than a 400 about a
  // parameter (the methods above check the role again, and the portal).
  Status RequirePatientRole(const accounts::Principal& who, std::string_view event,
                            std::string_view entity_type, std::string_view from);

  // The roll-ups (for the seeding and for tests).
  const ReadingRollups& rollups() const { return rollups_; }

 private:
  struct Action;
  Status Append(const Action& action, audit::Outcome outcome, std::string detail);
  Error Refuse(const Action& action, Error error);
  // Patient with an active portal, or the refusal (audited).
  Status RequireActivePatient(const Action& action);
  Result<ReadingSeries> Series(const std::string& patient_id, const ReadingsQuery& query) const;

  MyDataContext ctx_;
  ReadingRollups rollups_;
  CloudReadings raw_;
};

}  // namespace medmesh::cloud
