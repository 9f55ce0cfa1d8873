#include "net/internal/peer_address.h"

#include <boost/asio/ip/address_v6.hpp>

namespace medmesh::net::internal {

std::string NormalizedAddress(const boost::asio::ip::address& address) {
  namespace ip = boost::asio::ip;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace medmesh::net::internal
