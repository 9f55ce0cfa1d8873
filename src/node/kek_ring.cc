#include "node/kek_ring.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "crypto/key_file.h"
#include "node/identity.h"

namespace medmesh::node {
namespace {

// The KEK in `file`, or nullopt if there is no such file. Other errors as LoadKekFile.
Result<std::optional<crypto::KeyEncryptionKey>> LoadIfPresent(const std::filesystem::path& file,
                                                              Random& random, Env& env) {
  auto kek = LoadKekFile(file, random, /*create_if_missing=*/false, nullptr, env);
  if (kek) return std::optional<crypto::KeyEncryptionKey>(std::move(*kek));
  if (kek.error().code() == ErrorCode::kNotFound) {
    return std::optional<crypto::KeyEncryptionKey>();
  }
  return kek.error();
}

bool Holds(const KekRing& ring, const crypto::KeyId& id) {
  return ring.current.key_id() == id ||
         std::any_of(ring.older.begin(), ring.older.end(),
                     [&id](const crypto::KeyEncryptionKey& k) { return k.key_id() == id; });
}

}  // namespace

std::filesystem::path NextKekFile(const std::filesystem::path& file) {
  std::filesystem::path next = file;
  next += ".next";
  return next;
}

Result<KekRing> LoadKekRing(const std::filesystem::path& file,
                            const std::filesystem::path& legacy_file, Random& random,
                            bool create_if_missing, Env& env) {
  MEDMESH_ASSIGN_OR_RETURN(std::optional<crypto::KeyEncryptionKey> own,
                           LoadIfPresent(file, random, env));
  MEDMESH_ASSIGN_OR_RETURN(std::optional<crypto::KeyEncryptionKey> next,
                           LoadIfPresent(NextKekFile(file), random, env));
  std::optional<crypto::KeyEncryptionKey> legacy;
  if (!legacy_file.empty() && legacy_file != file) {
    MEDMESH_ASSIGN_OR_RETURN(legacy, LoadIfPresent(legacy_file, random, env));
  }

  bool created = false;
  bool uses_legacy = false;
  if (!own && legacy) {
    own = legacy->Clone();
    uses_legacy = true;
  }
  if (!own && !next) {
    if (!create_if_missing) {
      return NotFound(file.string() + " is missing" +
                      (legacy_file.empty()
                           ? std::string()
                           : " (and so is the legacy KEK file " + legacy_file.string() + ")"));
    }
    MEDMESH_ASSIGN_OR_RETURN(crypto::KeyEncryptionKey fresh,
                             LoadKekFile(file, random, /*create_if_missing=*/true, &created, env));
    own = std::move(fresh);
  }

  // An unfinished rotation's new KEK is current: every data key it re-wrapped needs it, and
  // new data keys wrapped under it survive the rotation's end.
  const bool unfinished = next.has_value();
  KekRing ring{unfinished ? std::move(*next) : std::move(*own),
               {},
               file,
               created,
               unfinished,
               uses_legacy,
               false};
  if (unfinished && own) ring.older.push_back(std::move(*own));
  if (legacy && !Holds(ring, legacy->key_id())) {
    ring.older.push_back(std::move(*legacy));
    ring.legacy_loaded = true;
  }
  return ring;
}

Result<KekFileRotation> RotateKekFile(const std::filesystem::path& file,
                                      crypto::EnvelopeAead& envelope, Random& random, Env& env) {
  KekFileRotation result;
  const std::filesystem::path next_file = NextKekFile(file);

  // Step 1: the new KEK is durable before anything is wrapped under it.
  MEDMESH_ASSIGN_OR_RETURN(std::optional<crypto::KeyEncryptionKey> next,
                           LoadIfPresent(next_file, random, env));
  if (next) {
    result.resumed = true;
  } else {
    crypto::KeyFile fresh = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random);
    // Atomic (a temporary file renamed into place): a crash leaves no half-written F.next.
    Status written = crypto::WriteKeyFile(next_file, fresh, /*overwrite=*/true, env);
    if (!written) {
      return Error(written.error().code(),
                   "cannot write the new KEK: " + written.error().message());
    }
    next = std::move(*fresh.kek);
  }
  result.new_kek_id = next->key_id();

  // Step 2: re-wrap. The old KEKs keep unwrapping meanwhile.
  MEDMESH_ASSIGN_OR_RETURN(result.report, envelope.RotateKek(std::move(*next)));
  if (result.report.unreadable > 0) {
    return FailedPrecondition(std::to_string(result.report.unreadable) +
                              " data keys could not be unwrapped with the KEKs this node holds; "
                              "the old KEK is kept (see docs/key_hierarchy.md, \"Rotation\")");
  }

  // Step 3: RetireKek proves that no stored data key still names an old KEK.
  for (const crypto::KeyId& id : envelope.kek_ids()) {
    if (id == result.new_kek_id) continue;
    MEDMESH_RETURN_IF_ERROR(envelope.RetireKek(id));
    result.retired.push_back(id);
  }

  // Step 4: the new KEK replaces the old one on disk.
  Status renamed = env.RenameFile(next_file, file);
  if (renamed) {
    renamed = env.SyncDir(file.has_parent_path() ? file.parent_path() : std::filesystem::path("."));
  }
  if (!renamed) {
    return Error(renamed.error().code(),
                 "every data key is re-wrapped, but the KEK file could not be replaced: " +
                     renamed.error().message());
  }
  return result;
}

}  // namespace medmesh::node
