// The text form of a peer's IP address, as Request::peer_address carries it.
// Internal to src/net. Thread safety: pure function.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>

namespace medmesh::net::internal {

// IPv4 addresses as dotted quads; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a
// dual-stack "::" listener reports for IPv4 clients) as the IPv4 address they carry, so that
// one client has one address whichever listener it reached (the IDS blocks by address);
// other IPv6 addresses in RFC 5952 form.
std::string NormalizedAddress(const boost::asio::ip::address& address);

}  // namespace medmesh::net::internal
