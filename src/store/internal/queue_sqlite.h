// Helpers private to the data-path stores of this folder (outbox, forward queue, reading store,
// IDS event log, wrapped-key store); the SQLite plumbing itself is store/sqlite_database.h.
// Thread safety: the functions are reentrant; a SQLite::Database is not, so every caller keeps
// one connection per object behind its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/sqlite_database.h"

namespace medmesh::store::internal {

// Milliseconds since the Unix epoch.
std::int64_t ToUnixMs(std::chrono::system_clock::time_point t);

// True if `id` is 1..128 bytes of [A-Za-z0-9._:-] (queue item ids, batch ids).
bool IsValidQueueId(std::string_view id);

// Replaces control characters by spaces and cuts `text` to at most `max_bytes` bytes (on a
// UTF-8 boundary), for operator-facing free text stored next to data.
std::string SanitizeText(std::string_view text, std::size_t max_bytes);

}  // namespace medmesh::store::internal
