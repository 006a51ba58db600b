// SHA-256 as lowercase hex (mbedTLS): token hashes, cut event payloads, the hooks' settings files.
#pragma once

#include <string>
#include <string_view>

namespace ccmux {

std::string sha256_hex(std::string_view data);

}  // namespace ccmux
