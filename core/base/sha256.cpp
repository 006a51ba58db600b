#include "sha256.h"

#include "util.h"

#include <mbedtls/sha256.h>

#include <stdexcept>

namespace ccmux {

std::string sha256_hex(std::string_view data) {
  unsigned char out[32];
  // mbedTLS 2.28 name; 3.x renamed it mbedtls_sha256 (this wrapper is the one place to change).
  if (mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, 0) != 0)
    throw std::runtime_error("sha256 failed");
  return to_hex(out, sizeof out);
}

}  // namespace ccmux
