// The fleet protocol's messages (docs/fleet.md, "Messages"): the version envelope, the
// "MACHINE/" prefixes on ids, and the cheap rewrite of event lines that cross machines.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ccmux::fleet {

using nlohmann::json;

constexpr int kFleetMajor = 1;
constexpr int kFleetMinor = 0;
inline std::string fleet_version() { return std::to_string(kFleetMajor) + "." + std::to_string(kFleetMinor); }

// {"fp":[major,minor]} plus the given fields.
json envelope(json fields = json::object());
// Why a message from `peer` cannot be served here (another major, no version), or nullopt.
std::optional<std::string> version_problem(const json& msg, const std::string& self, const std::string& peer);

// Lenient typed reads of another machine's message (a wrong type reads as the default).
int64_t get_int(const json& o, const char* key, int64_t def = 0);
uint64_t get_uint(const json& o, const char* key, uint64_t def = 0);
std::string get_str(const json& o, const char* key);

bool get_bool(const json& o, const char* key, bool def = false);

// An owner's answer ({fp, ok, result} or {fp, ok:false, error:{code, message}}) read leniently:
// a broken one, another major or an `ok` that is not `true` is a failure with a code and words.
struct OwnerReply {
  bool ok = false;
  json result = json::object();
  std::string code, message;
};
OwnerReply read_reply(std::string_view data, const std::string& self, const std::string& peer);

// 1-64 of letters, digits, '-', '_' (a NATS subject token that needs no escaping).
bool valid_machine_name(std::string_view name);

// "B/s-1" -> "s-1"; a string without '/' is returned as it is.
std::string strip_machine(const std::string& s);
// Removes "host" and strips "MACHINE/" from `session` and `id` (what the owner serves).
json params_for_owner(const json& params);
// Adds "MACHINE/" to the daemon's own ids in a result or an approval: `session` values and
// `id` values that are session ("s-…") or approval ("a-…") ids, at any depth, except inside
// claude's own payloads (payload, input, updated_input, tool_input, message, content).
void add_machine(json& v, const std::string& machine);

// An event line as the owner's daemon wrote it ({"type":"event","subscription":N,
// "session":"s-…","seq":…) made into this machine's: subscription and session replaced.
// False when the line is not an event in that form. `seq` gets the event's seq.
bool rewrite_event(std::string_view line, uint64_t subscription, const std::string& session, std::string& out,
                   uint64_t& seq);
// The seq of an event line (0 when absent).
uint64_t event_seq(std::string_view line);

}  // namespace ccmux::fleet
