// Synthetic but plausible demo patients: an identity (name, contact, address, national id,
// birth date, sex, postcode), a small generated photo, and the patient record of the original
// system with symptoms, conditions, pulse and ECG summary consistent with the simulated
// profile and state.
//
// Every identity is fictional and marked as such where a format allows: phone numbers come
// from the 555-0100..555-0199 range reserved for fiction, e-mail addresses use example.org
// (RFC 2606), national ids start with "DEMO-", and towns and streets are invented. Postcodes
// share a 3-digit prefix per town, so generalised quasi-identifiers form groups.
// Deterministic for a seed. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "wearable/simulator.h"
#include "wire/model.h"

namespace medmesh::wearable {

struct DemoIdentity {
  std::string name;
  std::string phone;
  std::string email;
  std::string address;
  std::string national_id;
  std::string birth_date;  // YYYY-MM-DD, an age typical of the profile at `now_ms`
  std::string sex;         // "female" | "male"
  std::string postcode;
};

// The fictional person behind a simulated wearable, a pure function of the seed. The surname
// follows the seed (seed × 7 mod 24), so seeds 1..24 (the demo uses 1..12) never share a full
// name: people are told apart by name on every page.
DemoIdentity GenerateDemoIdentity(std::uint64_t seed, Profile profile, std::int64_t now_ms);

// A small (size × size, 16..256) PNG avatar: a head-and-shoulders silhouette on a coloured
// background, different per seed.
Bytes GenerateAvatarPng(std::uint64_t seed, std::uint32_t size = 48);

struct RecordIds {
  std::string record_id;
  std::string patient_id;
  std::string device_id;
};

// The record of the simulated patient now: identity from the simulator's seed, symptoms and
// ICD-10 conditions of its profile, pulse and ECG summary from its current state, a plain-text
// symptom diary (without identifiers) and an avatar photo.
wire::PatientRecord GeneratePatientRecord(const Simulator& simulator, const RecordIds& ids,
                                          std::int64_t created_ms);

}  // namespace medmesh::wearable
