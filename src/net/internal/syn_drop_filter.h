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
#include <vector>

#include "core/status.h"

namespace medmesh::net::internal {

// The kernel's limit on a classic program (BPF_MAXINSNS).
constexpr std::size_t kMaxSocketFilterInstructions = BPF_MAXINSNS;

// Instructions BuildSynDropProgram needs for this many IPv4 and IPv6 sources: 15 fixed,
// 2 per IPv4 address, 9 per IPv6 address.
std::size_t SynDropProgramLength(std::size_t ipv4_sources, std::size_t ipv6_sources);

// A program that returns 0 (drop) for a TCP segment with SYN set and ACK clear whose IP
// source is one of `sources`, and keeps every other segment whole. IPv4 sources match IPv4
// headers, IPv6 sources IPv6 headers; an IPv4-mapped IPv6 source is taken as the IPv4 address
// it carries (a dual-stack listener receives IPv4 clients as IPv4 packets). Duplicates are
// compared twice, harmlessly. The caller keeps SynDropProgramLength under
// kMaxSocketFilterInstructions (checked: MEDMESH_CHECK).
std::vector<sock_filter> BuildSynDropProgram(const std::vector<boost::asio::ip::address>& sources);

// Attaches `program` to socket `fd`, replacing its filter atomically (segments are checked by
// the old or the new program, never by none). kUnavailable with the system's reason if the
// kernel refuses it (e.g. ENOMEM beyond net.core.optmem_max).
Status AttachSocketFilter(int fd, const std::vector<sock_filter>& program);

// Removes the filter of `fd`; a socket without one is fine.
Status DetachSocketFilter(int fd);

}  // namespace medmesh::net::internal
