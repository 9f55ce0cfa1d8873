#include "wire/readings_codec.h"

#include <zstd.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

namespace medmesh::wire {
namespace {

constexpr std::uint8_t kCompressionNone = 0;
constexpr std::uint8_t kCompressionZstd = 1;
constexpr int kZstdLevel = 3;
// Our encoder's frames need at most 2^21 (level 3 on <= 2 MiB); a larger window in a hostile
// frame is refused instead of allocated.
constexpr int kZstdWindowLogMax = 22;
constexpr std::size_t kHeaderBytes = 2;  // version, compression

// --- Varints ----------------------------------------------------------------------------------

void AppendVarint(Bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Bounds-checked reader of the body; every failure is a specific kInvalidArgument.
class BodyReader {
 public:
  explicit BodyReader(ByteView data) : data_(data) {}

  Result<std::uint64_t> Varint(const char* what) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return InvalidArgument(std::string("readings: truncated ") + what);
      const std::uint8_t b = data_[pos_++];
      // The tenth byte may only contribute the top bit of a 64-bit value.
      if (shift == 63 && b > 1) return InvalidArgument(std::string("readings: overlong ") + what);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return InvalidArgument(std::string("readings: overlong ") + what);
  }
  Result<std::uint8_t> U8(const char* what) {
    if (pos_ >= data_.size()) return InvalidArgument(std::string("readings: truncated ") + what);
    return data_[pos_++];
  }
  std::size_t remaining() const { return data_.size() - pos_; }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

// --- Exp-Golomb bit codes ---------------------------------------------------------------------
//
// Order-k Exp-Golomb codes a value v >= 0 as w = v + 2^k written in n + 1 bits (n = floor(log2
// w)), after n - k zero bits: 1 bit for v = 0 with k = 0, 3 bits for 1 and 2, 5 bits for 3..6.
// Small deltas therefore cost a bit or two, and an outlier costs only about 2 log2(v) bits.
// zstd cannot do this for us: below 64 literals per block it stores bytes without entropy coding,
// so a minute of 1 Hz readings would cost a byte each.

constexpr int kMaxExpGolombOrder = 62;
constexpr std::uint8_t kAllZeroColumn = 63;  // column code: every entry is 0, no bits stored

int FloorLog2(std::uint64_t w) { return 63 - __builtin_clzll(w); }

// The length of v's order-k code.
int ExpGolombBits(std::uint64_t v, int k) {
  const int n = FloorLog2(v + (std::uint64_t{1} << k));
  return 2 * n - k + 1;
}

// MSB-first bit writer.
class BitWriter {
 public:
  void Put(std::uint64_t bits, int n) {
    for (int i = n - 1; i >= 0; --i) {
      if (used_ == 0) bytes_.push_back(0);
      if ((bits >> i) & 1)
        bytes_.back() = static_cast<std::uint8_t>(bytes_.back() | (0x80 >> used_));
      used_ = (used_ + 1) & 7;
    }
  }
  void ExpGolomb(std::uint64_t v, int k) {
    const std::uint64_t w = v + (std::uint64_t{1} << k);
    const int n = FloorLog2(w);
    Put(0, n - k);
    Put(w, n + 1);
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
  int used_ = 0;  // bits used in the last byte
};

// Bounds-checked MSB-first bit reader.
class BitReader {
 public:
  explicit BitReader(ByteView data) : data_(data) {}

  Result<std::uint64_t> ExpGolomb(int k) {
    int zeros = 0;
    for (;;) {
      MEDMESH_ASSIGN_OR_RETURN(const unsigned bit, Bit());
      if (bit) break;
      if (++zeros > kMaxExpGolombOrder - k) return InvalidArgument("readings: overlong bit code");
    }
    std::uint64_t w = 1;
    for (int i = 0; i < zeros + k; ++i) {
      MEDMESH_ASSIGN_OR_RETURN(const unsigned bit, Bit());
      w = w << 1 | bit;
    }
    return w - (std::uint64_t{1} << k);
  }
  // The bits after the last code must be zero padding within the last byte.
  bool AtCleanEnd() const {
    if (data_.size() - bit_ / 8 > (bit_ % 8 == 0 ? 0u : 1u)) return false;
    return bit_ % 8 == 0 || (data_.back() & (0xff >> (bit_ % 8))) == 0;
  }
  std::uint64_t bits_left() const { return 8 * static_cast<std::uint64_t>(data_.size()) - bit_; }

 private:
  Result<unsigned> Bit() {
    if (bit_ >= 8 * data_.size()) return InvalidArgument("readings: truncated bit stream");
    const unsigned b = (data_[bit_ / 8] >> (7 - bit_ % 8)) & 1;
    ++bit_;
    return b;
  }
  ByteView data_;
  std::size_t bit_ = 0;
};

// The cheapest order for a column, or kAllZeroColumn. Orders above the widest value only cost
// more, so the search stops there.
std::uint8_t ChooseColumnCode(const std::vector<std::uint64_t>& column) {
  std::uint64_t widest = 0;
  for (std::uint64_t v : column) widest = std::max(widest, v);
  if (widest == 0) return kAllZeroColumn;
  int best_k = 0;
  std::uint64_t best_bits = UINT64_MAX;
  for (int k = 0; k <= FloorLog2(widest) + 1 && k <= kMaxExpGolombOrder - 2; ++k) {
    std::uint64_t bits = 0;
    for (std::uint64_t v : column) bits += static_cast<std::uint64_t>(ExpGolombBits(v, k));
    if (bits < best_bits) {
      best_bits = bits;
      best_k = k;
    }
  }
  return static_cast<std::uint8_t>(best_k);
}

void PutColumn(BitWriter& bits, const std::vector<std::uint64_t>& column, std::uint8_t code) {
  if (code == kAllZeroColumn) return;
  for (std::uint64_t v : column) bits.ExpGolomb(v, code);
}

// --- Encoding ---------------------------------------------------------------------------------

std::uint64_t Magnitude(std::int64_t v) {
  return v < 0 ? ~static_cast<std::uint64_t>(v) + 1 : static_cast<std::uint64_t>(v);
}

Status ValidateForEncoding(std::span<const Reading> readings) {
  if (readings.size() > kMaxReadingsPerBatch) {
    return InvalidArgument("readings: more than " + std::to_string(kMaxReadingsPerBatch) +
                           " readings in one batch");
  }
  for (std::size_t i = 0; i < readings.size(); ++i) {
    const Reading& r = readings[i];
    if (!VitalKindFromId(static_cast<std::uint8_t>(r.kind))) {
      return InvalidArgument("readings: reading " + std::to_string(i) + " has an unknown kind");
    }
    if (r.time_ms < 0 || r.time_ms > kMaxTimeMs) {
      return InvalidArgument("readings: reading " + std::to_string(i) +
                             " has a time outside [0, kMaxTimeMs]");
    }
    if (r.value_milli < -kMaxAbsValueMilli || r.value_milli > kMaxAbsValueMilli) {
      return InvalidArgument("readings: reading " + std::to_string(i) +
                             " has a value outside +-kMaxAbsValueMilli");
    }
  }
  return OkStatus();
}

// Appends one group (readings of one kind, sorted by time) to the header bytes and its columns
// to the bit stream.
void EncodeGroup(std::span<const Reading> g, std::int64_t base, Bytes& header, BitWriter& bits) {
  std::uint64_t time_gcd = 0;
  std::uint64_t value_gcd = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (i > 0)
      time_gcd = std::gcd(time_gcd, static_cast<std::uint64_t>(g[i].time_ms - g[i - 1].time_ms));
    value_gcd = std::gcd(value_gcd, Magnitude(g[i].value_milli));
  }
  const auto time_step = static_cast<std::int64_t>(std::max<std::uint64_t>(1, time_gcd));
  const auto value_step = static_cast<std::int64_t>(std::max<std::uint64_t>(1, value_gcd));

  // Times: the first as an offset from the batch base, the first delta as is, then deltas of
  // deltas, all in time steps (regular sampling makes that column all zeros).
  std::vector<std::uint64_t> time_column;
  std::int64_t previous_delta = 0;
  for (std::size_t i = 1; i < g.size(); ++i) {
    const std::int64_t delta = (g[i].time_ms - g[i - 1].time_ms) / time_step;
    if (i >= 2) time_column.push_back(ZigZag(delta - previous_delta));
    previous_delta = delta;
  }
  // Values: the first as is, then deltas, all in value steps.
  std::vector<std::uint64_t> value_column;
  for (std::size_t i = 1; i < g.size(); ++i) {
    value_column.push_back(ZigZag((g[i].value_milli - g[i - 1].value_milli) / value_step));
  }

  AppendU8(header, static_cast<std::uint8_t>(g[0].kind));
  AppendVarint(header, g.size());
  AppendVarint(header, static_cast<std::uint64_t>(time_step));
  AppendVarint(header, static_cast<std::uint64_t>(value_step));
  AppendVarint(header, static_cast<std::uint64_t>(g[0].time_ms - base));
  AppendVarint(header, ZigZag(g[0].value_milli / value_step));
  if (g.size() >= 2) {
    AppendVarint(header, static_cast<std::uint64_t>((g[1].time_ms - g[0].time_ms) / time_step));
  }
  if (g.size() >= 3) {
    const std::uint8_t code = ChooseColumnCode(time_column);
    AppendU8(header, code);
    PutColumn(bits, time_column, code);
  }
  if (g.size() >= 2) {
    const std::uint8_t code = ChooseColumnCode(value_column);
    AppendU8(header, code);
    PutColumn(bits, value_column, code);
  }
}

Bytes EncodeBody(const std::vector<Reading>& sorted) {
  std::int64_t base = 0;
  if (!sorted.empty()) {
    base = std::min_element(sorted.begin(), sorted.end(), [](const Reading& a, const Reading& b) {
             return a.time_ms < b.time_ms;
           })->time_ms;
  }
  Bytes body;
  AppendVarint(body, static_cast<std::uint64_t>(base));
  const std::size_t count_at = body.size();
  AppendU8(body, 0);  // group count, patched below
  BitWriter bits;
  std::uint8_t groups = 0;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j < sorted.size() && sorted[j].kind == sorted[i].kind) ++j;
    EncodeGroup(std::span<const Reading>(sorted).subspan(i, j - i), base, body, bits);
    ++groups;
    i = j;
  }
  body[count_at] = groups;
  AppendBytes(body, bits.bytes());
  return body;
}

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

Result<Bytes> Compress(ByteView body) {
  std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) return Internal("readings: zstd context allocation failed");
  Bytes out(ZSTD_compressBound(body.size()));
  // Defaults: content size in the frame header (the decoder requires it to size its output),
  // no checksum (the AEAD around the payload already authenticates every byte).
  const std::size_t n =
      ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), body.data(), body.size(), kZstdLevel);
  if (ZSTD_isError(n)) return Internal("readings: zstd compression failed");
  out.resize(n);
  return out;
}

// --- Decoding ---------------------------------------------------------------------------------

bool StartsWithZstdMagic(ByteView frame) {
  if (frame.size() < 4) return false;
  const std::uint32_t magic =
      static_cast<std::uint32_t>(frame[0]) | static_cast<std::uint32_t>(frame[1]) << 8 |
      static_cast<std::uint32_t>(frame[2]) << 16 | static_cast<std::uint32_t>(frame[3]) << 24;
  return magic == ZSTD_MAGICNUMBER;
}

// Decompresses exactly one zstd frame. Output is capped twice: by the size the frame header
// declares (which must itself be within the limit), and while streaming, where any byte past
// the cap aborts the decompression (a frame can lie about its content size).
Result<Bytes> Decompress(ByteView frame, std::size_t max_body_bytes) {
  if (!StartsWithZstdMagic(frame)) return InvalidArgument("readings: body is not a zstd frame");
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return InvalidArgument("readings: malformed zstd frame header");
  }
  const bool size_known = declared != ZSTD_CONTENTSIZE_UNKNOWN;
  if (size_known && declared > max_body_bytes) {
    return ResourceExhausted("readings: declared decompressed size " + std::to_string(declared) +
                             " exceeds the limit of " + std::to_string(max_body_bytes) + " bytes");
  }
  const std::size_t cap = size_known ? static_cast<std::size_t>(declared) : max_body_bytes;

  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return Internal("readings: zstd context allocation failed");
  if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
    return Internal("readings: zstd parameter rejected");
  }

  Bytes out(size_known ? cap : std::min<std::size_t>(cap, std::size_t{64} * 1024));
  std::size_t produced = 0;
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  for (;;) {
    std::size_t remaining_hint = 0;
    bool progress = false;
    if (produced == out.size() && out.size() < cap) {
      out.resize(std::min(cap, out.size() * 2));
    }
    if (produced < out.size()) {
      ZSTD_outBuffer ob{out.data(), out.size(), produced};
      const std::size_t in_before = in.pos;
      remaining_hint = ZSTD_decompressStream(dctx.get(), &ob, &in);
      if (ZSTD_isError(remaining_hint)) return InvalidArgument("readings: corrupt zstd data");
      progress = ob.pos != produced || in.pos != in_before;
      produced = ob.pos;
    } else {
      // At the cap: offer a one-byte window; any byte written is past the limit.
      std::uint8_t probe = 0;
      ZSTD_outBuffer ob{&probe, 1, 0};
      const std::size_t in_before = in.pos;
      remaining_hint = ZSTD_decompressStream(dctx.get(), &ob, &in);
      if (ZSTD_isError(remaining_hint)) return InvalidArgument("readings: corrupt zstd data");
      if (ob.pos != 0) {
        return ResourceExhausted("readings: decompressed data exceeds the limit of " +
                                 std::to_string(cap) + " bytes");
      }
      progress = in.pos != in_before;
    }
    if (remaining_hint == 0) break;  // frame complete and flushed
    if (!progress) return InvalidArgument("readings: truncated zstd frame");
  }
  if (in.pos != in.size) return InvalidArgument("readings: trailing bytes after the zstd frame");
  if (size_known && produced != cap) {
    return InvalidArgument("readings: zstd frame shorter than its declared size");
  }
  out.resize(produced);
  return out;
}

bool FitsTimes(std::int64_t a, std::int64_t b) {  // a * b without overflow
  std::int64_t r = 0;
  return !__builtin_mul_overflow(a, b, &r);
}

struct GroupHeader {
  VitalKind kind;
  std::size_t count;
  std::int64_t time_step;
  std::int64_t value_step;
  std::uint64_t first_offset;
  std::int64_t first_value;   // in value steps
  std::uint64_t first_delta;  // in time steps (count >= 2)
  std::uint8_t time_code;     // count >= 3
  std::uint8_t value_code;    // count >= 2
};

Result<std::uint8_t> ReadColumnCode(BodyReader& in) {
  MEDMESH_ASSIGN_OR_RETURN(const std::uint8_t code, in.U8("column code"));
  if (code > kAllZeroColumn) return InvalidArgument("readings: bad column code");
  return code;
}

// Bits a column needs at least (one per entry unless it is all zeros).
std::uint64_t MinimumBits(std::size_t entries, std::uint8_t code) {
  return code == kAllZeroColumn ? 0 : entries;
}

Result<std::int64_t> NextEntry(BitReader& bits, std::uint8_t code) {
  if (code == kAllZeroColumn) return std::int64_t{0};
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t z, bits.ExpGolomb(code));
  return UnZigZag(z);
}

// Reads one group's header fields. `total` counts readings so far, for the limit.
Result<GroupHeader> ReadGroupHeader(BodyReader& in, int previous_kind, std::size_t total,
                                    const ReadingsDecodeLimits& limits) {
  GroupHeader g{};
  MEDMESH_ASSIGN_OR_RETURN(const std::uint8_t kind_id, in.U8("group kind"));
  const std::optional<VitalKind> kind = VitalKindFromId(kind_id);
  if (!kind) return InvalidArgument("readings: unknown kind " + std::to_string(kind_id));
  if (kind_id <= previous_kind) return InvalidArgument("readings: groups out of order");
  g.kind = *kind;
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t count, in.Varint("group count"));
  if (count == 0) return InvalidArgument("readings: empty group");
  if (count > limits.max_readings || total + count > limits.max_readings) {
    return ResourceExhausted("readings: more than " + std::to_string(limits.max_readings) +
                             " readings");
  }
  g.count = static_cast<std::size_t>(count);
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t time_step, in.Varint("time step"));
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t value_step, in.Varint("value step"));
  if (time_step == 0 || time_step > static_cast<std::uint64_t>(kMaxTimeMs)) {
    return InvalidArgument("readings: time step out of range");
  }
  if (value_step == 0 || value_step > static_cast<std::uint64_t>(kMaxAbsValueMilli)) {
    return InvalidArgument("readings: value step out of range");
  }
  g.time_step = static_cast<std::int64_t>(time_step);
  g.value_step = static_cast<std::int64_t>(value_step);
  MEDMESH_ASSIGN_OR_RETURN(g.first_offset, in.Varint("first time"));
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t first_value, in.Varint("first value"));
  g.first_value = UnZigZag(first_value);
  if (g.count >= 2) {
    MEDMESH_ASSIGN_OR_RETURN(g.first_delta, in.Varint("first delta"));
  }
  if (g.count >= 3) {
    MEDMESH_ASSIGN_OR_RETURN(g.time_code, ReadColumnCode(in));
  }
  if (g.count >= 2) {
    MEDMESH_ASSIGN_OR_RETURN(g.value_code, ReadColumnCode(in));
  }
  return g;
}

// Appends the group's readings with their times (values still 0).
Status DecodeTimes(const GroupHeader& g, std::uint64_t base, BitReader& bits,
                   std::vector<Reading>& out) {
  if (g.first_offset > static_cast<std::uint64_t>(kMaxTimeMs) - base ||
      g.first_delta > static_cast<std::uint64_t>(kMaxTimeMs)) {
    return InvalidArgument("readings: time out of range");
  }
  auto t = static_cast<std::int64_t>(base + g.first_offset);
  out.push_back({t, g.kind, 0});
  auto delta = static_cast<std::int64_t>(g.first_delta);
  for (std::size_t i = 1; i < g.count; ++i) {
    if (i >= 2) {
      MEDMESH_ASSIGN_OR_RETURN(const std::int64_t dod, NextEntry(bits, g.time_code));
      if (dod < -kMaxTimeMs || dod > kMaxTimeMs) {
        return InvalidArgument("readings: time out of range");
      }
      delta += dod;  // both within +-kMaxTimeMs: no overflow
      if (delta < 0) return InvalidArgument("readings: times go backwards");
    }
    if (delta > kMaxTimeMs || !FitsTimes(delta, g.time_step) ||
        delta * g.time_step > kMaxTimeMs - t) {
      return InvalidArgument("readings: time out of range");
    }
    t += delta * g.time_step;
    out.push_back({t, g.kind, 0});
  }
  return OkStatus();
}

// Fills in the values of one group's readings (already holding their times).
Status DecodeValues(const GroupHeader& g, BitReader& bits, std::span<Reading> group) {
  std::int64_t v = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    std::int64_t steps = g.first_value;  // the first value, then deltas, in value steps
    if (i > 0) {
      MEDMESH_ASSIGN_OR_RETURN(steps, NextEntry(bits, g.value_code));
    }
    std::int64_t scaled = 0;
    if (__builtin_mul_overflow(steps, g.value_step, &scaled) ||
        __builtin_add_overflow(v, scaled, &v) || v < -kMaxAbsValueMilli || v > kMaxAbsValueMilli) {
      return InvalidArgument("readings: value out of range");
    }
    group[i].value_milli = v;
    if (i > 0 && group[i].time_ms == group[i - 1].time_ms && v < group[i - 1].value_milli) {
      return InvalidArgument("readings: readings out of order");
    }
  }
  return OkStatus();
}

Result<std::vector<Reading>> DecodeBody(ByteView body, const ReadingsDecodeLimits& limits) {
  BodyReader in(body);
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t base, in.Varint("base time"));
  if (base > static_cast<std::uint64_t>(kMaxTimeMs)) {
    return InvalidArgument("readings: base time out of range");
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::uint8_t group_count, in.U8("group count"));
  if (group_count > kNumVitalKinds) return InvalidArgument("readings: too many groups");

  std::vector<GroupHeader> groups;
  std::size_t total = 0;
  std::uint64_t minimum_bits = 0;
  for (int i = 0; i < group_count; ++i) {
    const int previous_kind = groups.empty() ? 0 : static_cast<int>(groups.back().kind);
    MEDMESH_ASSIGN_OR_RETURN(const GroupHeader g,
                             ReadGroupHeader(in, previous_kind, total, limits));
    total += g.count;
    minimum_bits += (g.count >= 3 ? MinimumBits(g.count - 2, g.time_code) : 0) +
                    (g.count >= 2 ? MinimumBits(g.count - 1, g.value_code) : 0);
    groups.push_back(g);
  }
  BitReader bits(body.subspan(body.size() - in.remaining()));
  // Refuse counts the bit stream cannot hold before allocating for them. (All-zero columns hold
  // any count in no bits; max_readings bounds those.)
  if (minimum_bits > bits.bits_left()) return InvalidArgument("readings: counts overrun the body");

  std::vector<Reading> readings;
  readings.reserve(total);
  for (const GroupHeader& g : groups) {
    const std::size_t begin = readings.size();
    MEDMESH_RETURN_IF_ERROR(DecodeTimes(g, base, bits, readings));
    MEDMESH_RETURN_IF_ERROR(DecodeValues(g, bits, std::span<Reading>(readings).subspan(begin)));
  }
  if (!bits.AtCleanEnd()) return InvalidArgument("readings: trailing bytes in the body");

  if (limits.require_plausible) {
    for (std::size_t i = 0; i < readings.size(); ++i) {
      if (Status s = CheckPlausible(readings[i]); !s) {
        return InvalidArgument("readings: reading " + std::to_string(i) + ": " +
                               s.error().message());
      }
    }
  }
  return readings;
}

}  // namespace

Result<Bytes> EncodeReadings(std::span<const Reading> readings) {
  MEDMESH_RETURN_IF_ERROR(ValidateForEncoding(readings));
  std::vector<Reading> sorted(readings.begin(), readings.end());
  std::sort(sorted.begin(), sorted.end(), [](const Reading& a, const Reading& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.time_ms != b.time_ms) return a.time_ms < b.time_ms;
    return a.value_milli < b.value_milli;
  });
  const Bytes body = EncodeBody(sorted);

  Bytes out;
  AppendU8(out, kReadingsFormatVersion);
  MEDMESH_ASSIGN_OR_RETURN(Bytes compressed, Compress(body));
  // Tiny bodies do not shrink under zstd (its frame alone is ~10 bytes): send them raw.
  if (compressed.size() < body.size()) {
    AppendU8(out, kCompressionZstd);
    AppendBytes(out, compressed);
  } else {
    AppendU8(out, kCompressionNone);
    AppendBytes(out, body);
  }
  return out;
}

Result<std::vector<Reading>> DecodeReadings(ByteView encoded, const ReadingsDecodeLimits& limits) {
  if (encoded.size() > limits.max_encoded_bytes) {
    return ResourceExhausted("readings: payload of " + std::to_string(encoded.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(limits.max_encoded_bytes));
  }
  if (encoded.size() < kHeaderBytes) return InvalidArgument("readings: truncated header");
  if (encoded[0] != kReadingsFormatVersion) {
    return InvalidArgument("readings: unsupported format version " + std::to_string(encoded[0]));
  }
  const ByteView rest = encoded.subspan(kHeaderBytes);
  switch (encoded[1]) {
    case kCompressionNone:
      if (rest.size() > limits.max_body_bytes) {
        return ResourceExhausted("readings: body exceeds the limit of " +
                                 std::to_string(limits.max_body_bytes) + " bytes");
      }
      return DecodeBody(rest, limits);
    case kCompressionZstd: {
      MEDMESH_ASSIGN_OR_RETURN(const Bytes body, Decompress(rest, limits.max_body_bytes));
      return DecodeBody(body, limits);
    }
    default: return InvalidArgument("readings: unknown compression " + std::to_string(encoded[1]));
  }
}

}  // namespace medmesh::wire
