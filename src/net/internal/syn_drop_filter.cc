#include "net/internal/syn_drop_filter.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>

#include "core/check.h"

namespace medmesh::net::internal {
namespace {

constexpr std::uint32_t kKeep = 0xffff'ffff;  // keep the whole segment
constexpr std::uint32_t kDrop = 0;
// Offsets: TCP flags in the TCP header (where skb data starts), the IP header through the
// kernel's network-header window.
constexpr std::uint32_t kTcpFlags = 13;
constexpr std::uint32_t kSyn = 0x02;
constexpr std::uint32_t kAck = 0x10;
constexpr std::uint32_t kNet = static_cast<std::uint32_t>(SKF_NET_OFF);
constexpr std::uint32_t kIpv4Source = 12;
constexpr std::uint32_t kIpv6Source = 8;
// Instructions before the IPv4 block (see BuildSynDropProgram).
constexpr std::size_t kPrologue = 12;

sock_filter Op(std::uint16_t code, std::uint32_t k, std::uint8_t jt = 0, std::uint8_t jf = 0) {
  return sock_filter{code, jt, jf, k};
}

// The 32-bit word of `bytes` at `at` as a BPF_W load yields it (network order read as a
// number).
template <std::size_t N>
std::uint32_t Word(const std::array<unsigned char, N>& bytes, std::size_t at) {
  return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
         (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

}  // namespace

std::size_t SynDropProgramLength(std::size_t ipv4_sources, std::size_t ipv6_sources,
                                 std::size_t ipv6_ranges) {
  // Prologue, IPv4 block (load, 2 per address, keep), IPv6 block (5 per /64, 9 per address,
  // keep).
  return kPrologue + 2 + 2 * ipv4_sources + 1 + 5 * ipv6_ranges + 9 * ipv6_sources;
}

std::vector<sock_filter> BuildSynDropProgram(
    const std::vector<boost::asio::ip::address>& sources,
    const std::vector<boost::asio::ip::address_v6>& ranges64) {
  namespace ip = boost::asio::ip;
  std::vector<std::uint32_t> v4;
  std::vector<ip::address_v6::bytes_type> v6;
  for (const ip::address& source : sources) {
    if (source.is_v4()) {
      v4.push_back(source.to_v4().to_uint());
    } else if (source.to_v6().is_v4_mapped()) {
      v4.push_back(ip::make_address_v4(ip::v4_mapped, source.to_v6()).to_uint());
    } else {
      v6.push_back(source.to_v6().to_bytes());
    }
  }
  const std::size_t length = SynDropProgramLength(v4.size(), v6.size(), ranges64.size());
  MEDMESH_CHECK(length <= kMaxSocketFilterInstructions, "SYN drop program too long");
  const std::size_t v4_block = kPrologue;
  const std::size_t v6_block = v4_block + 1 + 2 * v4.size() + 1;  // load, pairs, keep

  std::vector<sock_filter> p;
  p.reserve(length);
  // 0-4: only a bare SYN (a connection's first segment) goes on; everything else, including
  // every segment of an accepted connection (which inherits this filter), is kept.
  p.push_back(Op(BPF_LD | BPF_B | BPF_ABS, kTcpFlags));
  p.push_back(Op(BPF_JMP | BPF_JSET | BPF_K, kSyn, 1, 0));
  p.push_back(Op(BPF_RET | BPF_K, kKeep));
  p.push_back(Op(BPF_JMP | BPF_JSET | BPF_K, kAck, 0, 1));
  p.push_back(Op(BPF_RET | BPF_K, kKeep));
  // 5-11: dispatch on the IP version nibble. Conditional jumps reach 255 instructions at
  // most, so the blocks are entered through unconditional (32-bit) jumps.
  p.push_back(Op(BPF_LD | BPF_B | BPF_ABS, kNet + 0));
  p.push_back(Op(BPF_ALU | BPF_RSH | BPF_K, 4));
  p.push_back(Op(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 1));
  p.push_back(Op(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(v4_block - 9)));
  p.push_back(Op(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 1));
  p.push_back(Op(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(v6_block - 11)));
  p.push_back(Op(BPF_RET | BPF_K, kKeep));
  // IPv4: the source once, then a compare-and-drop pair per address.
  p.push_back(Op(BPF_LD | BPF_W | BPF_ABS, kNet + kIpv4Source));
  for (std::uint32_t address : v4) {
    p.push_back(Op(BPF_JMP | BPF_JEQ | BPF_K, address, 0, 1));
    p.push_back(Op(BPF_RET | BPF_K, kDrop));
  }
  p.push_back(Op(BPF_RET | BPF_K, kKeep));
  // IPv6: per /64 two, per address four load-and-compare pairs, each mismatch skipping to the
  // next entry, then the drop.
  const auto entry = [&p](const ip::address_v6::bytes_type& bytes, std::uint32_t words) {
    for (std::uint32_t w = 0; w < words; ++w) {
      p.push_back(Op(BPF_LD | BPF_W | BPF_ABS, kNet + kIpv6Source + 4 * w));
      p.push_back(Op(BPF_JMP | BPF_JEQ | BPF_K, Word(bytes, 4 * w), 0,
                     static_cast<std::uint8_t>(2 * (words - 1 - w) + 1)));
    }
    p.push_back(Op(BPF_RET | BPF_K, kDrop));
  };
  for (const ip::address_v6& range : ranges64) entry(range.to_bytes(), 2);
  for (const auto& bytes : v6) entry(bytes, 4);
  p.push_back(Op(BPF_RET | BPF_K, kKeep));
  MEDMESH_CHECK(p.size() == length, "SYN drop program length");
  return p;
}

Status AttachSocketFilter(int fd, const std::vector<sock_filter>& program) {
  sock_fprog fprog{static_cast<unsigned short>(program.size()),
                   const_cast<sock_filter*>(program.data())};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
    return Unavailable("cannot attach a socket filter: " + std::system_category().message(errno));
  }
  return OkStatus();
}

Status DetachSocketFilter(int fd) {
  const int unused = 0;  // the kernel insists on an int-sized option value
  if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) != 0 &&
      errno != ENOENT) {
    return Unavailable("cannot detach a socket filter: " + std::system_category().message(errno));
  }
  return OkStatus();
}

Result<std::uint32_t> ListenerDropCount(int fd) {
  std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info.data(), &length) != 0 ||
      length < sizeof(std::uint32_t) * (SK_MEMINFO_DROPS + 1)) {
    return Unavailable("cannot read a socket's drop count: " +
                       std::system_category().message(errno));
  }
  return info[SK_MEMINFO_DROPS];
}

}  // namespace medmesh::net::internal
