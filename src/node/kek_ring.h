// KEK files that rotate: a key-encryption key file F (a key file of type "kek", mode 0600) and,
// only while a rotation is unfinished, its companion F.next holding the new KEK. The design,
// the crash analysis and the migration from a node's single KEK: docs/adr/0016-per-part-keks-
// and-live-rotation.md; the operator's procedure: docs/key_hierarchy.md, "Rotation".
//
// Rotation (RotateKekFile) on a running node, step by step; a crash after any step leaves files
// from which LoadKekRing opens every data key:
//   1. F.next is written atomically (temporary file, fsync, rename, folder fsync), or an existing
//      F.next from an unfinished rotation is reused;
//   2. the envelope makes the new KEK current and re-wraps every data key under it (data
//      ciphertexts are never touched); F still holds the old KEK;
//   3. the old KEKs are retired from the envelope, which succeeds only when no stored data key
//      names them any more;
//   4. F.next is renamed over F (atomic) and the folder synced: the old KEK is gone from disk.
//
// Legacy: before per-part KEKs, a node had one KEK file (node config "kek_file") for all its
// data keys. When F is missing and the legacy file exists, the legacy KEK is F's key until the
// first rotation writes F; while the legacy file exists it is also loaded as an older KEK, so a
// data key it wraps stays readable whatever F holds.
//
// Every file goes through the Env; tests inject faults (testing/fault_injection_env.h).
// Thread safety: free functions; do not run two rotations of the same file at once (the caller
// serialises them). An EnvelopeAead may serve reads and writes during a rotation.
#pragma once

#include <filesystem>
#include <vector>

#include "core/env.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"

namespace medmesh::node {

// F.next: the file of a rotation's new KEK beside F.
std::filesystem::path NextKekFile(const std::filesystem::path& file);

// The KEKs loaded for one envelope.
struct KekRing {
  crypto::KeyEncryptionKey current;             // wraps new data keys
  std::vector<crypto::KeyEncryptionKey> older;  // still unwrap (EnvelopeAead::AddOldKek)
  std::filesystem::path file;                   // F, where rotations write; may not exist yet
  bool created = false;                         // F was created by this load
  bool rotation_unfinished = false;             // F.next was found and is `current`
  bool uses_legacy = false;                     // F is missing: the legacy KEK is F's key
  bool legacy_loaded = false;                   // the legacy KEK is in `older`
};

// Loads the KEKs of F:
//   - F.next, if present, is current, and F's key (or the legacy KEK standing in for it) older;
//   - else F's key is current;
//   - F missing: the legacy KEK if `legacy_file` (may be empty) exists; else a new key written
//     to F if `create_if_missing` (never while F.next exists); else kNotFound naming both files;
//   - an existing legacy file always adds its KEK to `older` (unless it is already loaded).
// Errors of LoadKekFile for each file (kPermissionDenied for a file group or others can read,
// kInvalidArgument for a malformed file or one of another type), the message naming the file.
Result<KekRing> LoadKekRing(const std::filesystem::path& file,
                            const std::filesystem::path& legacy_file, Random& random,
                            bool create_if_missing, Env& env = Env::Default());

struct KekFileRotation {
  crypto::KeyId new_kek_id;
  std::vector<crypto::KeyId> retired;  // KEKs the envelope no longer holds
  crypto::KekRotationReport report;
  bool resumed = false;  // the new KEK came from an unfinished rotation's F.next
};

// Rotates the KEK of F on `envelope` (which must have been built from LoadKekRing(F, ...)) in
// the four steps above. Errors, after which running it again resumes:
//   - F.next cannot be read (as LoadKekFile) or written (core/env.h codes): nothing changed;
//   - the envelope's store fails (its codes): some keys are re-wrapped, both KEKs still work;
//   - kFailedPrecondition if data keys fail to unwrap (corrupt, or under a KEK this node does
//     not hold): the old KEK stays on disk and in memory, the message gives the count;
//   - the rename or folder sync fails: every key is re-wrapped, the files still hold both.
Result<KekFileRotation> RotateKekFile(const std::filesystem::path& file,
                                      crypto::EnvelopeAead& envelope, Random& random,
                                      Env& env = Env::Default());

}  // namespace medmesh::node
