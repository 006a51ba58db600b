// `ccmux token create|list|revoke`: client tokens for remote transports (kept by ccmuxd).
#include "commands.h"

#include <ctime>
#include <iostream>

namespace ccmux::cli {

using nlohmann::json;

namespace {

std::string format_time(int64_t ms) {
  time_t s = static_cast<time_t>(ms / 1000);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", localtime(&s));
  return buf;
}

}  // namespace

void add_token_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto name = std::make_shared<std::string>();
  auto* token = c.group("token", "client tokens for remote transports");
  c.local_only(token, "tokens are made and revoked on the machine itself (ccmuxd refuses token.* from remote clients); run it there");
  c.add(token, "create", "make a token (printed once; only its SHA-256 is stored)", [name, &ctx] {
     json r = ctx.connect()->request("token.create", {{"name", *name}});
     std::cout << r["token"].get<std::string>() << "\n";
     std::cerr << "token '" << *name << "' created; it is shown only now: store it where you need it\n";
     return 0;
   })->add_option("name", *name)->required();
  c.add(token, "list", "list token names and when they were last used", [&ctx] {
    json r = ctx.connect()->request("token.list");
    if (r["tokens"].empty()) std::cout << "no tokens\n";
    for (auto& t : r["tokens"]) {
      int64_t used = t.value("last_used_ms", int64_t{0});
      std::cout << t.value("name", "") << "\tcreated " << format_time(t.value("created_ms", int64_t{0})) << "\tlast used "
                << (used ? format_time(used) : "never") << "\n";
    }
    return 0;
  });
  c.add(token, "revoke", "revoke a token (transports close its connections)", [name, &ctx] {
     json r = ctx.connect()->request("token.revoke", {{"name", *name}});
     if (!r.value("revoked", false)) {
       std::cerr << "no token named '" << *name << "'\n";
       return 1;
     }
     std::cout << "revoked " << *name << "\n";
     return 0;
   })->add_option("name", *name)->required();
}

}  // namespace ccmux::cli
