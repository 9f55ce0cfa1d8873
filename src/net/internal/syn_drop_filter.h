// The kernel drop of a listening socket (http_server.h, "Kernel drop"): a classic BPF socket
// filter (SO_ATTACH_FILTER) that drops the connection-opening segments of chosen source
// addresses before the kernel makes anything for them.
//
// Why it works on a TCP listener: the kernel runs a socket's filter in tcp_v4_rcv /
// tcp_v6_rcv (tcp_filter) on every segment addressed to it, before a SYN makes a request
// socket or a handshake's last ACK makes a connection; a 0 from the filter drops the segment.
// The filter sees skb data from the TCP header on, and the IP header through the SKF_NET_OFF
// window. Accepted connections inherit the listener's filter, so the program lets through
// every segment that is not a bare SYN after four instructions. Linux lets any process filter
// its own sockets, but this project's VM answers EPERM without root (ADR 0043): the server
// then falls back to refusing at accept. The kernel JIT-compiles the program where enabled.
//
// Internal to src/net. Thread safety: pure functions; Attach/Detach act on one descriptor.
#pragma once

#include <linux/filter.h>

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace medmesh::net::internal {

// The kernel's limit on a classic program (BPF_MAXINSNS).
constexpr std::size_t kMaxSocketFilterInstructions = BPF_MAXINSNS;

// Instructions BuildSynDropProgram needs for this many IPv4 and IPv6 sources and IPv6 /64
// ranges: 15 fixed, 2 per IPv4 address, 9 per IPv6 address, 5 per /64.
std::size_t SynDropProgramLength(std::size_t ipv4_sources, std::size_t ipv6_sources,
                                 std::size_t ipv6_ranges = 0);

// A program that returns 0 (drop) for a TCP segment with SYN set and ACK clear whose IP
// source is one of `sources`, and keeps every other segment whole. IPv4 sources match IPv4
// headers, IPv6 sources IPv6 headers; an IPv4-mapped IPv6 source is taken as the IPv4 address
// it carries (a dual-stack listener receives IPv4 clients as IPv4 packets). Duplicates are
// compared twice, harmlessly. `ranges64` are IPv6 /64s (only the first 8 bytes of each count):
// an IPv6 source whose first 64 bits equal one of them is dropped too, whatever its last 64
// (ranges are compared before single IPv6 addresses). The caller keeps SynDropProgramLength
// under kMaxSocketFilterInstructions (checked: MEDMESH_CHECK).
std::vector<sock_filter> BuildSynDropProgram(
    const std::vector<boost::asio::ip::address>& sources,
    const std::vector<boost::asio::ip::address_v6>& ranges64 = {});

// Attaches `program` to socket `fd`, replacing its filter atomically (segments are checked by
// the old or the new program, never by none). kUnavailable with the system's reason if the
// kernel refuses it (e.g. ENOMEM beyond net.core.optmem_max).
Status AttachSocketFilter(int fd, const std::vector<sock_filter>& program);

// Removes the filter of `fd`; a socket without one is fine.
Status DetachSocketFilter(int fd);

// The kernel's count of segments dropped at socket `fd` (SO_MEMINFO, SK_MEMINFO_DROPS; it wraps
// at 2^32). On a listening TCP socket: the segments its filter dropped, and connection attempts
// dropped because the accept queue was full. kUnavailable if the kernel does not say.
Result<std::uint32_t> ListenerDropCount(int fd);

}  // namespace medmesh::net::internal
