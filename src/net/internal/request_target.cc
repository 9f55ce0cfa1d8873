#include "net/internal/request_target.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace medmesh::net::internal {

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  const auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return InvalidArgument("request target is not origin-form");
  const boost::urls::url_view& url = *parsed;

  RequestTarget out;
  const auto encoded_path = url.encoded_path();
  out.path = std::string_view(encoded_path.data(), encoded_path.size());
  for (std::string segment : url.segments()) {
    if (segment == "." || segment == "..") return InvalidArgument("dot segment in path");
    if (segment.find('\0') != std::string::npos) return InvalidArgument("NUL in path");
    out.segments.push_back(std::move(segment));
  }
  for (const auto& param : url.params()) {
    // "/a?" and "/a?&x=1" hold empty parameters in Boost.URL's model; they carry nothing.
    if (param.key.empty() && param.value.empty()) continue;
    if (param.key.find('\0') != std::string::npos || param.value.find('\0') != std::string::npos) {
      return InvalidArgument("NUL in query");
    }
    out.query.emplace_back(param.key, param.value);
  }
  return out;
}

}  // namespace medmesh::net::internal
