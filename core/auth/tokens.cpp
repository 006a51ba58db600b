#include "auth/tokens.h"

#include "errors.h"
#include "util.h"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include <stdexcept>

namespace ccmux {

struct TokenStore::Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

TokenStore::TokenStore(Store& store) : store_(store), rng_(new Rng) {
  mbedtls_entropy_init(&rng_->entropy);
  mbedtls_ctr_drbg_init(&rng_->drbg);
  static const char pers[] = "ccmux-tokens";
  if (mbedtls_ctr_drbg_seed(&rng_->drbg, mbedtls_entropy_func, &rng_->entropy,
                            reinterpret_cast<const unsigned char*>(pers), sizeof pers - 1) != 0)
    throw std::runtime_error("cannot seed the token generator");
}

TokenStore::~TokenStore() {
  mbedtls_ctr_drbg_free(&rng_->drbg);
  mbedtls_entropy_free(&rng_->entropy);
  delete rng_;
}

std::string TokenStore::random_token() {
  unsigned char raw[32];
  if (mbedtls_ctr_drbg_random(&rng_->drbg, raw, sizeof raw) != 0) throw std::runtime_error("token generator failed");
  unsigned char b64[64];
  size_t n = 0;
  mbedtls_base64_encode(b64, sizeof b64, &n, raw, sizeof raw);
  std::string token = "ccmux_";
  for (size_t i = 0; i < n; ++i) {  // base64url, no padding: safe in headers and forms
    char c = static_cast<char>(b64[i]);
    if (c == '=') break;
    token.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
  }
  return token;
}

std::string TokenStore::create(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != std::string::npos)
    throw CommandError("bad_params", "a token name is 1-64 characters of letters, digits, '-', '_' or '.'");
  for (auto& t : list())
    if (t.name == name) throw CommandError("bad_params", "a token named '" + name + "' exists (revoke it first)");
  std::string token = random_token();
  store_.token_insert(name, sha256_hex(token), now_ms());
  store_.commit();
  return token;
}

std::vector<TokenInfo> TokenStore::list() {
  std::vector<TokenInfo> out;
  for (auto& row : store_.token_list()) out.push_back({row.name, row.created_ms, row.last_used_ms});
  return out;
}

bool TokenStore::revoke(const std::string& name) {
  bool existed = store_.token_delete(name);
  store_.commit();
  if (existed) listeners_.notify(name);
  return existed;
}

std::optional<std::string> TokenStore::authenticate(std::string_view token) {
  if (token.size() < 16 || token.size() > 256) return std::nullopt;
  auto name = store_.token_find(sha256_hex(token));
  if (name) store_.token_touch(*name, now_ms());
  return name;
}

}  // namespace ccmux
