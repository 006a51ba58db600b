// Client tokens for remote transports: random, shown once, stored only as SHA-256
// (mbedTLS). `ccmux token create|list|revoke` manages them over the local socket.
#pragma once

#include "auth/name_listeners.h"
#include "sha256.h"  // sha256_hex: token hashes
#include "storage/store.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {

struct TokenInfo {
  std::string name;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
};

class TokenStore {
 public:
  explicit TokenStore(Store& store);
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Returns the new token; it is not stored anywhere in clear. Throws CommandError
  // (bad_params) for a bad or taken name.
  std::string create(const std::string& name);
  std::vector<TokenInfo> list();
  // True when a token of that name existed; listeners are told.
  bool revoke(const std::string& name);
  // The token's name, or nullopt. Records the use.
  std::optional<std::string> authenticate(std::string_view token);

  // `owner` (a plugin name) lets remove_listeners() drop them when that plugin goes away.
  void on_revoked(NameListeners::Fn fn, const std::string& owner = "") { listeners_.add(std::move(fn), owner); }
  void remove_listeners(const std::string& owner) { listeners_.remove(owner); }

 private:
  std::string random_token();
  Store& store_;
  struct Rng;
  Rng* rng_;
  NameListeners listeners_;
};

}  // namespace ccmux
