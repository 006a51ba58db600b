#include "wire.h"

#include <ccmux/json_bounds.hpp>

#include <cctype>

namespace ccmux::fleet {

json envelope(json fields) {
  fields["fp"] = json::array({kFleetMajor, kFleetMinor});
  return fields;
}

std::optional<std::string> version_problem(const json& msg, const std::string& self, const std::string& peer) {
  auto it = msg.find("fp");
  if (it == msg.end() || !it->is_array() || it->size() < 2 || !(*it)[0].is_number_integer() || !(*it)[1].is_number_integer())
    return "machine " + peer + " sent a message without a fleet protocol version";
  int major = (*it)[0].get<int>(), minor = (*it)[1].get<int>();
  if (major == kFleetMajor) return std::nullopt;
  std::string theirs = std::to_string(major) + "." + std::to_string(minor);
  return "machine " + peer + " speaks fleet protocol " + theirs + ", " + self + " speaks " + fleet_version() +
         ": upgrade " + (major > kFleetMajor ? self : peer);
}

int64_t get_int(const json& o, const char* key, int64_t def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : def;
}
uint64_t get_uint(const json& o, const char* key, uint64_t def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  return it != o.end() && it->is_number_unsigned() ? it->get<uint64_t>() : def;
}
std::string get_str(const json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool get_bool(const json& o, const char* key, bool def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  return it != o.end() && it->is_boolean() ? it->get<bool>() : def;
}

OwnerReply read_reply(std::string_view data, const std::string& self, const std::string& peer) {
  OwnerReply out;
  json r = ccmux::sdk::parse_json_bounded(data);
  if (!r.is_object()) {
    out.code = "internal";
    out.message = "machine " + peer + " sent a broken answer";
  } else if (auto problem = version_problem(r, self, peer)) {
    out.code = "fleet_version";
    out.message = *problem;
  } else if (get_bool(r, "ok")) {
    out.ok = true;
    if (r.contains("result")) out.result = std::move(r["result"]);
  } else {
    const json& e = r.contains("error") ? r["error"] : json();
    out.code = get_str(e, "code").empty() ? "error" : get_str(e, "code");
    out.message = get_str(e, "message");
  }
  return out;
}

bool valid_machine_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

std::string strip_machine(const std::string& s) {
  auto slash = s.find('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

json params_for_owner(const json& params) {
  json p = params.is_object() ? params : json::object();
  p.erase("host");
  for (const char* key : {"session", "id"}) {
    auto it = p.find(key);
    if (it != p.end() && it->is_string()) *it = strip_machine(it->get<std::string>());
  }
  return p;
}

namespace {
bool own_id(const std::string& s, char kind) {
  if (s.size() < 3 || s[0] != kind || s[1] != '-') return false;
  for (size_t i = 2; i < s.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}
bool claude_payload(const std::string& key) {
  return key == "payload" || key == "input" || key == "updated_input" || key == "tool_input" || key == "message" ||
         key == "content";
}
void walk(json& v, const std::string& prefix, int depth) {
  if (depth > 64) return;
  if (v.is_array()) {
    for (auto& e : v) walk(e, prefix, depth + 1);
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    if (it->is_string()) {
      const std::string& s = it->get_ref<const std::string&>();
      if ((key == "session" && own_id(s, 's')) || (key == "id" && (own_id(s, 's') || own_id(s, 'a'))))
        *it = prefix + s;
    } else if (!claude_payload(key)) {
      walk(*it, prefix, depth + 1);
    }
  }
}
}  // namespace

void add_machine(json& v, const std::string& machine) { walk(v, machine + "/", 0); }

uint64_t event_seq(std::string_view line) {
  auto at = line.find("\"seq\":");
  if (at == std::string_view::npos) return 0;
  uint64_t n = 0;
  for (size_t i = at + 6; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) n = n * 10 + (line[i] - '0');
  return n;
}

bool rewrite_event(std::string_view line, uint64_t subscription, const std::string& session, std::string& out,
                   uint64_t& seq) {
  static constexpr std::string_view kHead = R"({"type":"event","subscription":)";
  if (line.substr(0, kHead.size()) != kHead) return false;
  // The owner's core writes the header in this order, before the payload, so the first
  // ',"seq":' after the session is the header's own.
  auto sess = line.find(R"(,"session":)", kHead.size());
  if (sess == std::string_view::npos) return false;
  auto seq_at = line.find(R"(,"seq":)", sess);
  if (seq_at == std::string_view::npos) return false;
  seq = event_seq(line.substr(seq_at));
  out.clear();
  out.reserve(line.size() + session.size() + 16);
  out += kHead;
  out += std::to_string(subscription);
  out += R"(,"session":)";
  out += json(session).dump();
  out += line.substr(seq_at);
  return seq > 0;
}

}  // namespace ccmux::fleet
