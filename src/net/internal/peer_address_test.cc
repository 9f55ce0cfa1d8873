#include "net/internal/peer_address.h"

#include <gtest/gtest.h>

namespace medmesh::net::internal {
namespace {

std::string Normalize(const char* text) {
  return NormalizedAddress(boost::asio::ip::make_address(text));
}

TEST(PeerAddressTest, Ipv4StaysDottedQuad) { EXPECT_EQ(Normalize("10.1.2.3"), "10.1.2.3"); }

TEST(PeerAddressTest, Ipv4MappedIpv6BecomesIpv4) {
  EXPECT_EQ(Normalize("::ffff:10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(Normalize("::FFFF:7f00:1"), "127.0.0.1");
}

TEST(PeerAddressTest, OtherIpv6IsCanonical) {
  EXPECT_EQ(Normalize("::1"), "::1");
  EXPECT_EQ(Normalize("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  // IPv4-compatible (deprecated) addresses are not IPv4-mapped and stay IPv6.
  EXPECT_NE(Normalize("::10.1.2.3"), "10.1.2.3");
}

}  // namespace
}  // namespace medmesh::net::internal
