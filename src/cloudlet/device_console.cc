#include "cloudlet/device_console.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "accounts/authenticator.h"
#include "accounts/encoding.h"
#include "cloudlet/internal/forward_item.h"
#include "cloudlet/internal/record_at_rest.h"
#include "core/log.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "net/error_mapping.h"
#include "net/json_body.h"
#include "wearable/simulator.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"
#include "wire/model.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloudlet {
namespace {

using Json = nlohmann::json;
using wire::NowMs;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS console_devices (
  device_id   TEXT PRIMARY KEY,
  patient_id  TEXT NOT NULL,
  created_ms  INTEGER NOT NULL,
  profile     TEXT NOT NULL,
  sealed_key  BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS console_devices_by_patient ON console_devices (patient_id);
CREATE TABLE IF NOT EXISTS console_uploads (
  device_id    TEXT NOT NULL,
  sequence     INTEGER NOT NULL,
  batch_id     TEXT NOT NULL,
  content_type INTEGER NOT NULL,
  sent_ms      INTEGER NOT NULL,
  readings     INTEGER NOT NULL,
  record_id    TEXT NOT NULL,
  status       TEXT NOT NULL,
  upload       BLOB NOT NULL,
  PRIMARY KEY (device_id, sequence)
);
)sql";

// Uploads a listing returns at most (the newest).
constexpr std::size_t kMaxUploadsListed = 200;
// Bytes of a ciphertext shown as an excerpt.
constexpr std::size_t kExcerptBytes = 32;
constexpr std::size_t kMaxTextBytes = 1000;
constexpr std::size_t kMaxSymptoms = 20;

Bytes KeyAd(std::string_view device_id) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloudlet console device key v1"));
  AppendBytes(ad, AsBytes(device_id));
  return ad;
}

std::string Excerpt(ByteView bytes) {
  return HexEncode(bytes.subspan(0, std::min(bytes.size(), kExcerptBytes)));
}

// "record: field 'pulse_bpm' is outside ..." -> "pulse_bpm is outside ...": MedMesh's 400
// messages start with the field's name, so a form shows it next to that field.
Error FieldError(const Error& error) {
  const std::string& m = error.message();
  constexpr std::string_view kPrefix = "record: field '";
  if (error.code() != ErrorCode::kInvalidArgument || !m.starts_with(kPrefix)) return error;
  const std::size_t end = m.find('\'', kPrefix.size());
  if (end == std::string::npos) return error;
  return InvalidArgument(m.substr(kPrefix.size(), end - kPrefix.size()) + m.substr(end + 1));
}

// A decoded upload member {"content_type", "data"} of a report.
Result<Bytes> DecodeFile(const Json& body, std::string_view name, std::size_t max_bytes,
                         std::initializer_list<std::string_view> types, std::string& type) {
  const std::string field(name);
  if (!body.contains(field)) return Bytes{};
  constexpr net::JsonField kFileFields[] = {{"content_type", net::JsonType::kString},
                                            {"data", net::JsonType::kString}};
  if (!net::CheckJsonFields(body.at(field), kFileFields)) {
    return InvalidArgument(field + " must be {content_type, data}");
  }
  type = body.at(field).at("content_type").get<std::string>();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    std::string allowed;
    for (std::string_view t : types) allowed += (allowed.empty() ? "" : ", ") + std::string(t);
    return InvalidArgument(field + ".content_type must be one of " + allowed);
  }
  const auto& data = body.at(field).at("data").get_ref<const std::string&>();
  const std::string limit = std::to_string(max_bytes / 1024) + " KiB";
  if (data.size() / 4 * 3 > max_bytes + 2) {
    return PayloadTooLarge(field + " is larger than " + limit);
  }
  auto bytes = accounts::Base64Decode(data);
  if (!bytes) return InvalidArgument(field + ".data must be base64");
  if (bytes->size() > max_bytes) return PayloadTooLarge(field + " is larger than " + limit);
  if (bytes->empty()) return InvalidArgument(field + ".data is empty");
  return std::move(*bytes);
}

Json ReadingJson(const wire::Reading& reading) {
  const wire::VitalInfo& info = wire::Info(reading.kind);
  return {{"time_ms", reading.time_ms},
          {"kind", std::string(info.name)},
          {"value", static_cast<double>(reading.value_milli) / 1000.0},
          {"unit", std::string(info.unit)}};
}

}  // namespace

std::size_t ConsoleReportBodyLimit(const ConsoleOptions& options) {
  return (options.max_photo_bytes + options.max_document_bytes) / 3 * 4 + 64 * 1024;
}

// A console device loaded in memory: its signer, and its session to the cloudlet's KEM key.
struct LoadedDevice {
  std::string patient_id;
  std::int64_t created_ms = 0;
  std::string profile;
  std::unique_ptr<crypto::Signer> signer;
  std::unique_ptr<crypto::SessionSealer> sealer;
  std::uint64_t sequence = 0;  // of the last upload
};

struct Stream {
  std::optional<wearable::Simulator> simulator;
  std::int64_t started_ms = 0;
  std::uint64_t batches = 0;
  std::uint64_t readings_sent = 0;
  std::uint64_t readings_stored = 0;
  std::string last_error;
  std::deque<wire::Reading> recent;
  bool running = false;
};

struct DeviceConsole::State {
  State(ConsoleContext c, ConsoleOptions o, std::unique_ptr<SQLite::Database> database)
      : ctx(std::move(c)), options(o), db(std::move(database)) {}

  ConsoleContext ctx;
  const ConsoleOptions options;
  mutable std::mutex mu;
  std::unique_ptr<SQLite::Database> db;                     // guarded by mu
  std::map<std::string, LoadedDevice, std::less<>> loaded;  // guarded by mu
  std::map<std::string, Stream, std::less<>> streams;       // guarded by mu
  bool stopped = false;                                     // guarded by mu
  std::condition_variable wake;
  std::thread thread;

  // Routes.
  Result<net::Response> List(const net::Request& r);
  Result<net::Response> Create(const net::Request& r);
  Result<net::Response> Report(const net::Request& r);
  Result<net::Response> Uploads(const net::Request& r);
  Result<net::Response> StreamGet(const net::Request& r);
  Result<net::Response> StreamStart(const net::Request& r);
  Result<net::Response> StreamStop(const net::Request& r);

  // The console device of a path, for `caller`: 404 for an unknown one and, for a patient,
  // another patient's. Loads it under mu.
  Result<LoadedDevice*> DeviceFor(const net::Request& r, const ConsoleCaller& caller);
  Result<LoadedDevice*> Load(std::string_view device_id);
  // Seals `payload` as the device's next upload, ingests it, and keeps it: the ingest status
  // (`refused`: readings the ingest path refused as implausible).
  Result<std::string> Send(std::string_view device_id, LoadedDevice& device, wire::ContentType type,
                           ByteView payload, std::uint32_t readings, std::string_view record_id,
                           std::string_view source, std::uint64_t* refused = nullptr);
  bool KnownPatient(std::string_view patient_id) const;
  Status Audit(const net::Request& r, const ConsoleCaller& caller, std::string_view event,
               audit::Action action, std::string_view patient_id, std::string_view device_id,
               std::string_view detail);
  void Run();
  void TickLocked();
};

namespace {

Status RequireOperatorOrPatient(const ConsoleCaller& caller) {
  if (!caller.own_operator && caller.patient_id.empty()) {
    return PermissionDenied("only an operator of this cloudlet or a patient sees console devices");
  }
  return OkStatus();
}

// The caller, or (as every route answers an authentication failure) the refusal.
#define MEDMESH_CONSOLE_CALLER(caller, r, check)                         \
  auto caller##_identified = ctx.identify(r);                            \
  if (!caller##_identified) {                                            \
    return accounts::AuthenticationRefusal(caller##_identified.error()); \
  }                                                                      \
  const ConsoleCaller caller = std::move(*caller##_identified);          \
  MEDMESH_RETURN_IF_ERROR(check(caller))

}  // namespace

Status DeviceConsole::State::Audit(const net::Request& r, const ConsoleCaller& caller,
                                   std::string_view event, audit::Action action,
                                   std::string_view patient_id, std::string_view device_id,
                                   std::string_view detail) {
  audit::AuditEntry e;
  e.time_ms = NowMs(ctx.clock);
  e.event = std::string(event);
  e.action = action;
  e.actor_account_id = caller.account_id;
  e.actor_role = caller.role;
  e.source_address = r.peer_address;
  e.patient_id = std::string(patient_id);
  e.entity_type = "Device";
  e.entity_id = std::string(device_id);
  e.detail = std::string(detail);
  return ctx.audit.Append(e);
}

bool DeviceConsole::State::KnownPatient(std::string_view patient_id) const {
  for (const DeviceEntry& entry : ctx.devices.List(patient_id)) {
    if (!entry.withdrawn) return true;
  }
  return false;
}

Result<LoadedDevice*> DeviceConsole::State::Load(std::string_view device_id) {
  if (auto it = loaded.find(device_id); it != loaded.end()) return &it->second;
  try {
    SQLite::Statement query(*db,
                            "SELECT patient_id, created_ms, profile, sealed_key,"
                            " (SELECT COALESCE(MAX(sequence), 0) FROM console_uploads u"
                            "  WHERE u.device_id = d.device_id)"
                            " FROM console_devices d WHERE device_id = ?");
    query.bind(1, std::string(device_id));
    if (!query.executeStep()) return NotFound("no such console device here");
    LoadedDevice device;
    device.patient_id = query.getColumn(0).getString();
    device.created_ms = query.getColumn(1).getInt64();
    device.profile = query.getColumn(2).getString();
    const Bytes sealed = store::ColumnBytes(query.getColumn(3));
    device.sequence = static_cast<std::uint64_t>(query.getColumn(4).getInt64());
    MEDMESH_ASSIGN_OR_RETURN(
        Bytes seed, ctx.envelope.Decrypt({device.patient_id, std::string(kConsoleKeyPart)}, sealed,
                                         KeyAd(device_id)));
    auto key = crypto::SigningSecretKey::FromSeed(seed);
    std::fill(seed.begin(), seed.end(), 0);
    if (!key) return key.error();
    device.signer = crypto::NewEd25519Signer(std::move(*key));
    device.sealer =
        std::make_unique<crypto::SessionSealer>(ctx.cloudlet_kem_key, ctx.random, ctx.clock);
    return &loaded.emplace(std::string(device_id), std::move(device)).first->second;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "load a console device");
  }
}

Result<LoadedDevice*> DeviceConsole::State::DeviceFor(const net::Request& r,
                                                      const ConsoleCaller& caller) {
  const std::string device_id(r.PathParam("device_id").value_or(""));
  if (!wire::IsValidId(device_id)) return InvalidArgument("bad device id");
  auto device = Load(device_id);
  if (!device) return device.error();
  if (!caller.own_operator && (*device)->patient_id != caller.patient_id) {
    return NotFound("no such console device here");
  }
  return *device;
}

Result<std::string> DeviceConsole::State::Send(std::string_view device_id, LoadedDevice& device,
                                               wire::ContentType type, ByteView payload,
                                               std::uint32_t readings, std::string_view record_id,
                                               std::string_view source, std::uint64_t* refused) {
  const wire::UploadHeader header{.content_type = type,
                                  .device_id = std::string(device_id),
                                  .patient_id = device.patient_id,
                                  .sequence = device.sequence + 1,
                                  .batch_id = wire::NewBatchId(ctx.random),
                                  .created_ms = NowMs(ctx.clock)};
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes upload, wire::SealUpload(header, payload, *device.sealer, *device.signer, ctx.random));
  // The cloudlet's own ingest, exactly as for an upload that came over HTTP.
  IngestResult result = ctx.ingest.Ingest(upload, source);
  std::string status;
  std::optional<Error> refusal;
  if (const auto* rejection = std::get_if<IngestRejection>(&result)) {
    const net::Response response = net::RejectionResponse(*rejection);
    refusal = net::ErrorFromResponse(response);
    status = "refused";
  } else {
    const IngestAck& ack = std::get<IngestAck>(result);
    status = std::string(IngestStatusName(ack.status));
    if (refused) *refused = ack.refused;
  }
  device.sequence = header.sequence;
  try {
    SQLite::Statement insert(*db,
                             "INSERT INTO console_uploads (device_id, sequence, batch_id,"
                             " content_type, sent_ms, readings, record_id, status, upload)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, std::string(device_id));
    insert.bind(2, static_cast<std::int64_t>(header.sequence));
    insert.bind(3, HexEncode(header.batch_id));
    insert.bind(4, static_cast<int>(type));
    insert.bind(5, header.created_ms);
    insert.bind(6, static_cast<std::int64_t>(readings));
    insert.bind(7, std::string(record_id));
    insert.bind(8, status);
    store::BindBlob(insert, 9, upload);
    insert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "keep a console upload");
  }
  if (refusal) return *refusal;
  return status;
}

Result<net::Response> DeviceConsole::State::List(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  std::lock_guard lock(mu);
  Json list = Json::array();
  try {
    SQLite::Statement query(*db, caller.own_operator
                                     ? "SELECT device_id, patient_id, created_ms, profile FROM"
                                       " console_devices ORDER BY created_ms, device_id"
                                     : "SELECT device_id, patient_id, created_ms, profile FROM"
                                       " console_devices WHERE patient_id = ?"
                                       " ORDER BY created_ms, device_id");
    if (!caller.own_operator) query.bind(1, caller.patient_id);
    while (query.executeStep()) {
      const std::string device_id = query.getColumn(0).getString();
      const auto entry = ctx.devices.Find(device_id);
      const auto stream = streams.find(device_id);
      list.push_back({{"device_id", device_id},
                      {"patient_id", query.getColumn(1).getString()},
                      {"enrolled_at_ms", query.getColumn(2).getInt64()},
                      {"profile", query.getColumn(3).getString()},
                      {"status", !entry             ? "unknown"
                                 : entry->withdrawn ? "withdrawn"
                                                    : "enrolled"},
                      {"streaming", stream != streams.end() && stream->second.running}});
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list console devices");
  }
  Json body{{"devices", std::move(list)}};
  if (caller.own_operator) {
    // The patients a console device may be enrolled for: those with a device here.
    std::vector<std::string> patients;
    for (const DeviceEntry& entry : ctx.devices.List("")) {
      if (!entry.withdrawn) patients.push_back(entry.enrolment.patient_id);
    }
    std::sort(patients.begin(), patients.end());
    patients.erase(std::unique(patients.begin(), patients.end()), patients.end());
    body["patients"] = patients;
  }
  return net::Response::Json(body.dump());
}

Result<net::Response> DeviceConsole::State::Create(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  static constexpr net::JsonField kFields[] = {{"patient_id", net::JsonType::kString, false},
                                               {"profile", net::JsonType::kString, false}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);
  // An operator names the patient; a patient enrols for themselves (their session, verified
  // against the cloud's key, says who they are), so patient_id is theirs or absent.
  const bool for_self = !caller.own_operator;
  std::string patient_id;
  if (for_self) {
    patient_id = caller.patient_id;
    if (body.contains("patient_id") && body.at("patient_id").get<std::string>() != patient_id) {
      return PermissionDenied("a patient enrols console devices only for themselves");
    }
  } else {
    if (!body.contains("patient_id")) return InvalidArgument("patient_id is required");
    patient_id = body.at("patient_id").get<std::string>();
  }
  if (!wire::IsValidId(patient_id)) return InvalidArgument("patient_id is not a valid id");
  const std::string profile = body.value("profile", "healthy");
  if (!wearable::ProfileFromName(profile)) {
    return InvalidArgument(
        "profile must be one of healthy, hypertension, type2_diabetes, copd,"
        " atrial_fibrillation, fever");
  }
  if (!for_self && !KnownPatient(patient_id)) {
    return NotFound("the patient has no device at this cloudlet");
  }
  std::lock_guard lock(mu);
  if (stopped) return Unavailable("the console is stopping");
  try {
    SQLite::Statement count(*db, "SELECT COUNT(*) FROM console_devices");
    count.executeStep();
    if (static_cast<std::size_t>(count.getColumn(0).getInt64()) >= options.max_devices) {
      return FailedPrecondition("this cloudlet has as many console devices as it allows");
    }
    if (for_self) {
      SQLite::Statement own(*db, "SELECT COUNT(*) FROM console_devices WHERE patient_id = ?");
      own.bind(1, patient_id);
      own.executeStep();
      if (static_cast<std::size_t>(own.getColumn(0).getInt64()) >=
          options.max_devices_per_patient) {
        return FailedPrecondition("you have as many console devices here as a patient may");
      }
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "count console devices");
  }

  // A device like any other: its own key, and a request it signs for this cloudlet.
  const std::string device_id = "console-" + HexEncode(ctx.random.Generate(8));
  crypto::SigningSecretKey key = crypto::SigningSecretKey::Generate(ctx.random);
  MEDMESH_ASSIGN_OR_RETURN(Bytes sealed_key,
                           ctx.envelope.Encrypt({patient_id, std::string(kConsoleKeyPart)},
                                                key.seed().reveal(), KeyAd(device_id)));
  std::unique_ptr<crypto::Signer> signer = crypto::NewEd25519Signer(key.Clone());
  const std::int64_t now_ms = NowMs(ctx.clock);
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes request,
      wire::SignEnrolmentRequest(
          {device_id, patient_id, signer->public_key(), ctx.cloudlet_id, now_ms}, *signer));
  // The key is kept before the enrolment, so an enrolled console device always has its key.
  try {
    SQLite::Statement insert(*db,
                             "INSERT INTO console_devices (device_id, patient_id, created_ms,"
                             " profile, sealed_key) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, device_id);
    insert.bind(2, patient_id);
    insert.bind(3, now_ms);
    insert.bind(4, profile);
    store::BindBlob(insert, 5, sealed_key);
    insert.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "keep a console device");
  }
  auto record = ctx.enrol(r, request);
  if (!record) {
    try {
      SQLite::Statement forget(*db, "DELETE FROM console_devices WHERE device_id = ?");
      forget.bind(1, device_id);
      forget.exec();
    } catch (const std::exception& e) {
      log::Warn("console_device_not_forgotten", {{"error", std::string(e.what())}});
    }
    return record.error();
  }
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedEnrolment signed_record, wire::ParseEnrolment(*record));
  if (signed_record.enrolment.device_id != device_id ||
      signed_record.enrolment.patient_id != patient_id ||
      !(signed_record.enrolment.device_key == signer->public_key())) {
    return Internal("the enrolment record names another device");
  }
  LoadedDevice device;
  device.patient_id = patient_id;
  device.created_ms = now_ms;
  device.profile = profile;
  device.signer = std::move(signer);
  device.sealer =
      std::make_unique<crypto::SessionSealer>(ctx.cloudlet_kem_key, ctx.random, ctx.clock);
  loaded.emplace(device_id, std::move(device));
  Json answer{{"device_id", device_id},
              {"patient_id", patient_id},
              {"enrolled_at_ms", signed_record.enrolment.enrolled_at_ms},
              {"profile", profile},
              {"device_public_key", HexEncode(signed_record.enrolment.device_key.bytes())},
              {"enrolment_record", HexEncode(*record)}};
  net::Response response = net::Response::Json(answer.dump());
  response.status = 201;
  return response;
}

Result<net::Response> DeviceConsole::State::Report(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  static constexpr net::JsonField kFields[] = {{"name", net::JsonType::kString},
                                               {"phone", net::JsonType::kString, false},
                                               {"email", net::JsonType::kString, false},
                                               {"address", net::JsonType::kString, false},
                                               {"symptoms", net::JsonType::kArray, false},
                                               {"pulse_bpm", net::JsonType::kInteger, false},
                                               {"ecg_summary", net::JsonType::kString, false},
                                               {"symptoms_document", net::JsonType::kObject, false},
                                               {"photo", net::JsonType::kObject, false}};
  net::JsonBody parsed = net::ParseJsonBody(r, kFields);
  if (auto* refusal = std::get_if<net::Response>(&parsed)) return std::move(*refusal);
  const Json& body = std::get<Json>(parsed);

  wire::PatientRecord record;
  record.name = body.at("name").get<std::string>();
  if (record.name.empty() || record.name.size() > kMaxTextBytes) {
    return InvalidArgument("name must be 1 to 1000 bytes");
  }
  for (const char* field : {"phone", "email", "address", "ecg_summary"}) {
    if (body.contains(field) &&
        body.at(field).get_ref<const std::string&>().size() > kMaxTextBytes) {
      return InvalidArgument(std::string(field) + " must be at most 1000 bytes");
    }
  }
  record.phone = body.value("phone", "");
  record.email = body.value("email", "");
  record.address = body.value("address", "");
  record.ecg_summary = body.value("ecg_summary", "");
  if (body.contains("symptoms")) {
    const Json& symptoms = body.at("symptoms");
    if (symptoms.size() > kMaxSymptoms) return InvalidArgument("symptoms: at most 20");
    for (const Json& s : symptoms) {
      if (!s.is_string() || s.get_ref<const std::string&>().empty() ||
          s.get_ref<const std::string&>().size() > 200) {
        return InvalidArgument("symptoms must be texts of 1 to 200 bytes");
      }
      record.symptoms.push_back(s.get<std::string>());
    }
  }
  if (body.contains("pulse_bpm")) {
    const std::int64_t pulse = body.at("pulse_bpm").get<std::int64_t>();
    if (pulse != 0 && (pulse < 20 || pulse > 300)) {
      return InvalidArgument("pulse_bpm must be 20 to 300 (or 0: unknown)");
    }
    record.pulse_bpm = static_cast<std::int32_t>(pulse);
  }
  MEDMESH_ASSIGN_OR_RETURN(
      record.photo, DecodeFile(body, "photo", options.max_photo_bytes, {"image/png", "image/jpeg"},
                               record.photo_type));
  MEDMESH_ASSIGN_OR_RETURN(
      record.symptoms_document,
      DecodeFile(body, "symptoms_document", options.max_document_bytes,
                 {"text/plain", "application/pdf"}, record.symptoms_document_type));

  std::lock_guard lock(mu);
  MEDMESH_ASSIGN_OR_RETURN(LoadedDevice * device, DeviceFor(r, caller));
  const std::string device_id(r.PathParam("device_id").value_or(""));
  record.record_id = "rec-" + HexEncode(ctx.random.Generate(8));
  record.patient_id = device->patient_id;
  record.device_id = device_id;
  record.created_ms = NowMs(ctx.clock);
  auto encoded = wire::EncodePatientRecord(record);
  if (!encoded) return FieldError(encoded.error());
  auto status = Send(device_id, *device, wire::ContentType::kPatientRecord, *encoded, 0,
                     record.record_id, r.peer_address);
  MEDMESH_RETURN_IF_ERROR(
      Audit(r, caller, "console.report", audit::Action::kCreate, device->patient_id, device_id,
            status ? *status : std::string(ErrorCodeName(status.error().code()))));
  if (!status) return status.error();
  Json answer{{"device_id", device_id},
              {"record_id", record.record_id},
              {"status", *status},
              {"bytes", encoded->size()}};
  net::Response response = net::Response::Json(answer.dump());
  response.status = 201;
  return response;
}

Result<net::Response> DeviceConsole::State::Uploads(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  std::lock_guard lock(mu);
  MEDMESH_ASSIGN_OR_RETURN(LoadedDevice * device, DeviceFor(r, caller));
  const std::string device_id(r.PathParam("device_id").value_or(""));
  const auto entry = ctx.devices.Find(device_id);
  Json list = Json::array();
  try {
    SQLite::Statement query(*db,
                            "SELECT sequence, batch_id, content_type, sent_ms, readings,"
                            " record_id, status, upload FROM console_uploads WHERE device_id = ?"
                            " ORDER BY sequence DESC LIMIT ?");
    query.bind(1, device_id);
    query.bind(2, static_cast<std::int64_t>(kMaxUploadsListed));
    while (query.executeStep()) {
      const Bytes upload = store::ColumnBytes(query.getColumn(7));
      const std::string batch_id = query.getColumn(1).getString();
      const auto type = static_cast<wire::ContentType>(query.getColumn(2).getInt());
      const std::string record_id = query.getColumn(5).getString();
      Json item{{"sequence", query.getColumn(0).getInt64()},
                {"batch_id", batch_id},
                {"content_type", std::string(wire::ContentTypeName(type))},
                {"sent_ms", query.getColumn(3).getInt64()},
                {"readings", query.getColumn(4).getInt64()},
                {"ingest_status", query.getColumn(6).getString()},
                {"upload_bytes", upload.size()}};
      if (!record_id.empty()) item["record_id"] = record_id;
      // The signature is re-checked now, against the enrolment the cloudlet holds.
      bool verifies = false;
      auto parsed = wire::ParseUpload(upload);
      if (parsed) {
        item["sealed_payload_bytes"] = parsed->sealed_payload.size();
        item["ciphertext_excerpt"] = Excerpt(parsed->sealed_payload);
        item["signature"] = HexEncode(parsed->signature);
        verifies =
            entry.has_value() && static_cast<bool>(wire::VerifyUpload(*parsed, entry->enrolment));
      }
      item["verifies"] = verifies;
      // What the cloudlet holds of it, and whether it went on to the cloud.
      auto batch_bytes = HexDecode(batch_id);
      bool stored = false;
      bool queued = false;
      if (auto row = ctx.ledger.Find(device_id, batch_id); row && row->has_value()) stored = true;
      if (batch_bytes && batch_bytes->size() == wire::kBatchIdBytes) {
        wire::BatchId id{};
        std::copy(batch_bytes->begin(), batch_bytes->end(), id.begin());
        auto contains = ctx.queue.Contains(
            internal::UploadItemId(internal::DeriveForwardId(ctx.cloudlet_id, device_id, id)));
        queued = contains && *contains;
      }
      item["stored"] = stored;
      item["forwarded"] = stored && !queued;
      if (!record_id.empty()) {
        if (auto at_rest = ctx.ledger.FindRecord(device_id, record_id);
            at_rest && at_rest->has_value()) {
          item["stored_ciphertext_bytes"] = (*at_rest)->ciphertext.size();
          item["stored_ciphertext_excerpt"] = Excerpt((*at_rest)->ciphertext);
        }
      }
      list.push_back(std::move(item));
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list console uploads");
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "console.uploads.read", audit::Action::kRead,
                                device->patient_id, device_id,
                                std::to_string(list.size()) + " uploads"));
  Json body{{"device_id", device_id},
            {"patient_id", device->patient_id},
            {"device_public_key", entry ? HexEncode(entry->enrolment.device_key.bytes()) : ""},
            {"uploads", std::move(list)}};
  return net::Response::Json(body.dump());
}

Result<net::Response> DeviceConsole::State::StreamGet(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  std::int64_t since = 0;
  if (const auto text = r.QueryParam("since")) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), since);
    if (ec != std::errc() || end != text->data() + text->size() || since < 0) {
      return InvalidArgument("query parameter 'since' must be Unix milliseconds");
    }
  }
  std::lock_guard lock(mu);
  MEDMESH_ASSIGN_OR_RETURN(LoadedDevice * device, DeviceFor(r, caller));
  const std::string device_id(r.PathParam("device_id").value_or(""));
  Json body{
      {"device_id", device_id}, {"running", false},     {"started_ms", nullptr},    {"batches", 0},
      {"readings_sent", 0},     {"readings_stored", 0}, {"readings", Json::array()}};
  if (auto it = streams.find(device_id); it != streams.end()) {
    const Stream& s = it->second;
    body["running"] = s.running;
    body["started_ms"] = s.started_ms;
    body["batches"] = s.batches;
    body["readings_sent"] = s.readings_sent;
    body["readings_stored"] = s.readings_stored;
    if (!s.last_error.empty()) body["last_error"] = s.last_error;
    for (const wire::Reading& reading : s.recent) {
      if (reading.time_ms > since) body["readings"].push_back(ReadingJson(reading));
    }
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "console.stream.read", audit::Action::kRead,
                                device->patient_id, device_id,
                                std::to_string(body["readings"].size()) + " readings"));
  return net::Response::Json(body.dump());
}

Result<net::Response> DeviceConsole::State::StreamStart(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  std::unique_lock lock(mu);
  MEDMESH_ASSIGN_OR_RETURN(LoadedDevice * device, DeviceFor(r, caller));
  if (stopped) return Unavailable("the console is stopping");
  const std::string device_id(r.PathParam("device_id").value_or(""));
  Stream& stream = streams[device_id];
  std::string detail = "unchanged";
  if (!stream.running) {
    const std::size_t running = static_cast<std::size_t>(std::count_if(
        streams.begin(), streams.end(), [](const auto& s) { return s.second.running; }));
    if (running >= options.max_streams) {
      return FailedPrecondition("as many streams run as this cloudlet allows");
    }
    if (!caller.own_operator) {
      const std::size_t own = static_cast<std::size_t>(
          std::count_if(streams.begin(), streams.end(), [&](const auto& s) {
            const auto it = loaded.find(s.first);
            return s.second.running && it != loaded.end() &&
                   it->second.patient_id == caller.patient_id;
          }));
      if (own >= options.max_streams_per_patient) {
        return FailedPrecondition("as many of your devices stream as a patient may start");
      }
    }
    const std::int64_t now_ms = NowMs(ctx.clock);
    wearable::SimulatorOptions sim;
    sim.profile = wearable::ProfileFromName(device->profile).value_or(wearable::Profile::kHealthy);
    sim.seed = static_cast<std::uint64_t>(now_ms);
    sim.start_ms = now_ms;
    MEDMESH_ASSIGN_OR_RETURN(wearable::Simulator simulator, wearable::Simulator::Create(sim));
    stream = Stream{};
    stream.simulator.emplace(std::move(simulator));
    stream.started_ms = now_ms;
    stream.running = true;
    detail = "started";
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "console.stream.start", audit::Action::kUpdate,
                                device->patient_id, device_id, detail));
  Json body{{"device_id", device_id}, {"running", true}, {"started_ms", stream.started_ms}};
  lock.unlock();
  wake.notify_all();
  return net::Response::Json(body.dump());
}

Result<net::Response> DeviceConsole::State::StreamStop(const net::Request& r) {
  MEDMESH_CONSOLE_CALLER(caller, r, RequireOperatorOrPatient);
  std::lock_guard lock(mu);
  MEDMESH_ASSIGN_OR_RETURN(LoadedDevice * device, DeviceFor(r, caller));
  const std::string device_id(r.PathParam("device_id").value_or(""));
  std::string detail = "unchanged";
  if (auto it = streams.find(device_id); it != streams.end() && it->second.running) {
    it->second.running = false;
    it->second.simulator.reset();
    detail = "stopped";
  }
  MEDMESH_RETURN_IF_ERROR(Audit(r, caller, "console.stream.stop", audit::Action::kUpdate,
                                device->patient_id, device_id, detail));
  Json body{{"device_id", device_id}, {"running", false}};
  return net::Response::Json(body.dump());
}

void DeviceConsole::State::TickLocked() {
  const std::int64_t now_ms = NowMs(ctx.clock);
  for (auto& [device_id, stream] : streams) {
    if (!stream.running || !stream.simulator) continue;
    std::vector<wire::Reading> readings;
    stream.simulator->Advance(now_ms, readings);
    if (readings.empty()) continue;
    auto device = Load(device_id);
    if (!device) {
      stream.last_error = device.error().message();
      continue;
    }
    auto payload = wire::EncodeReadings(readings);
    if (!payload) {
      stream.last_error = payload.error().message();
      continue;
    }
    std::uint64_t refused = 0;
    auto status = Send(device_id, **device, wire::ContentType::kReadingsBatch, *payload,
                       static_cast<std::uint32_t>(readings.size()), "", "console", &refused);
    ++stream.batches;
    stream.readings_sent += readings.size();
    if (!status) {
      stream.last_error = status.error().message();
      // A device the cloudlet refuses for good (withdrawn, shredded) stops streaming.
      if (status.error().code() == ErrorCode::kPermissionDenied) {
        stream.running = false;
        stream.simulator.reset();
      }
      continue;
    }
    stream.last_error.clear();
    stream.readings_stored += readings.size() - std::min<std::uint64_t>(refused, readings.size());
    for (const wire::Reading& reading : readings) stream.recent.push_back(reading);
    while (stream.recent.size() > options.stream_readings_kept) stream.recent.pop_front();
  }
}

void DeviceConsole::State::Run() {
  std::unique_lock lock(mu);
  while (!stopped) {
    wake.wait_for(lock, options.stream_interval);
    if (stopped) break;
    TickLocked();
  }
}

DeviceConsole::DeviceConsole(std::unique_ptr<State> state) : state_(std::move(state)) {}

DeviceConsole::~DeviceConsole() { Stop(); }

Result<std::unique_ptr<DeviceConsole>> DeviceConsole::Open(const std::string& path,
                                                           ConsoleContext context,
                                                           ConsoleOptions options,
                                                           const store::SqliteOpenOptions& sqlite) {
  MEDMESH_CHECK(options.stream_interval.count() > 0, "the stream interval must be positive");
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloudlet_console", 1, kSchema));
  auto state = std::make_unique<State>(std::move(context), options, std::move(db));
  State* s = state.get();
  s->thread = std::thread([s] { s->Run(); });
  return std::unique_ptr<DeviceConsole>(new DeviceConsole(std::move(state)));
}

void DeviceConsole::Stop() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopped = true;
    for (auto& [id, stream] : state_->streams) {
      stream.running = false;
      stream.simulator.reset();
    }
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

std::size_t DeviceConsole::running_streams() const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::count_if(state_->streams.begin(), state_->streams.end(),
                                                [](const auto& s) { return s.second.running; }));
}

void DeviceConsole::TickStreamsNow() {
  std::lock_guard lock(state_->mu);
  state_->TickLocked();
}

void DeviceConsole::AddRoutes(net::Router& router) {
  State* s = state_.get();
  router.Get("/api/v1/console/devices", [s](const net::Request& r) { return s->List(r); });
  router.Post("/api/v1/console/devices", [s](const net::Request& r) { return s->Create(r); },
              {.body_limit_bytes = 4096});
  router.Post("/api/v1/console/devices/{device_id}/reports",
              [s](const net::Request& r) { return s->Report(r); },
              {.body_limit_bytes = ConsoleReportBodyLimit(s->options)});
  router.Get("/api/v1/console/devices/{device_id}/uploads",
             [s](const net::Request& r) { return s->Uploads(r); });
  router.Get("/api/v1/console/devices/{device_id}/stream",
             [s](const net::Request& r) { return s->StreamGet(r); });
  router.Post("/api/v1/console/devices/{device_id}/stream",
              [s](const net::Request& r) { return s->StreamStart(r); }, {.body_limit_bytes = 0});
  router.Delete("/api/v1/console/devices/{device_id}/stream",
                [s](const net::Request& r) { return s->StreamStop(r); }, {.body_limit_bytes = 0});
}

}  // namespace medmesh::cloudlet
