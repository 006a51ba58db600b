#include "address.h"

namespace ccmux::cli {

std::optional<MachinePrefix> split_machine_prefix(const std::string& arg) {
  size_t slash = arg.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == arg.size()) return std::nullopt;
  if (arg.find('/', slash + 1) != std::string::npos) return std::nullopt;
  return MachinePrefix{arg.substr(0, slash), arg.substr(slash + 1)};
}

Resolved resolve_address(const std::string& arg, const HostsFile& hosts, bool host_given) {
  if (host_given) return {"", arg};
  auto p = split_machine_prefix(arg);
  if (!p || !hosts.find(p->machine)) return {"", arg};
  return {p->machine, p->id};
}

namespace {

void prefix(nlohmann::json& obj, const char* key, const std::string& machine) {
  if (!obj.is_object()) return;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return;
  const std::string& v = it->get_ref<const std::string&>();
  if (v.empty() || v.find('/') != std::string::npos) return;
  *it = machine + "/" + v;
}

}  // namespace

nlohmann::json with_machine_prefix(const nlohmann::json& msg, const std::string& machine) {
  nlohmann::json out = msg;
  if (machine.empty() || !out.is_object()) return out;
  prefix(out, "session", machine);
  std::string kind = out.contains("kind") && out["kind"].is_string() ? out["kind"].get<std::string>() : "";
  if ((kind == "approval_requested" || kind == "approval_resolved") && out.contains("payload")) {
    prefix(out["payload"], "id", machine);
    prefix(out["payload"], "session", machine);
  }
  return out;
}

}  // namespace ccmux::cli
