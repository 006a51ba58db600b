// The protocol's built-in methods are frozen like the plugin ABI: tests/abi/methods.frozen.json
// is what `methods.list` answered when it was last refreshed. Removing a method or a param,
// changing a param's type or whether it is required, adding a required param, narrowing a
// range, or widening/narrowing who may call a method breaks clients: that fails here unless
// the protocol version was bumped. Additions (methods, optional params) and new wording are
// fine, and the second test asks for the file to be refreshed:
//   CCMUX_REFRESH_METHODS=1 build/tests/unit_tests --gtest_filter='MethodsFrozen.*'
#include "harness.h"

#include "version.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

using namespace ccmux;
using namespace ccmux::test;

namespace {

const char* const kRefresh = "CCMUX_REFRESH_METHODS=1 build/tests/unit_tests --gtest_filter='MethodsFrozen.*'";

std::string frozen_path() { return source_dir() + "/tests/abi/methods.frozen.json"; }

struct Diff {
  std::vector<std::string> breaking;  // what old clients would trip on
  std::vector<std::string> other;     // additions and new wording: refresh the file
};

std::map<std::string, json> by_name(const json& arr) {
  std::map<std::string, json> out;
  if (arr.is_array())
    for (auto& e : arr) out[e.value("name", "")] = e;
  return out;
}

double bound(const json& p, const char* key, double unbounded) {
  return p.contains(key) && p[key].is_number() ? p[key].get<double>() : unbounded;
}

void compare_params(const std::string& method, const json& was, const json& now, Diff& d) {
  if (was.is_null() != now.is_null()) {
    d.breaking.push_back(method + ": params " + (was.is_null() ? "now declared" : "no longer declared"));
    return;
  }
  auto old_params = by_name(was), new_params = by_name(now);
  for (auto& [name, p] : old_params) {
    std::string at = method + ": param '" + name + "'";
    auto it = new_params.find(name);
    if (it == new_params.end()) {
      d.breaking.push_back(at + " removed");
      continue;
    }
    const json& q = it->second;
    if (p["type"] != q["type"]) d.breaking.push_back(at + " changed type from " + p["type"].dump() + " to " + q["type"].dump());
    if (p["required"] != q["required"])
      d.breaking.push_back(at + (q["required"] == true ? " became required" : " became optional"));
    double inf = INFINITY;
    if (bound(q, "min", -inf) > bound(p, "min", -inf) || bound(q, "max", inf) < bound(p, "max", inf))
      d.breaking.push_back(at + " range narrowed");
  }
  for (auto& [name, q] : new_params)
    if (!old_params.count(name)) {
      if (q["required"] == true) d.breaking.push_back(method + ": new required param '" + name + "' (old clients do not send it)");
      else d.other.push_back(method + ": new optional param '" + name + "'");
    }
}

// Built-in methods only: plugins' come and go with the config.
Diff compare(const json& frozen, const json& current) {
  Diff d;
  auto was = by_name(frozen), now = by_name(current);
  for (auto& [name, m] : was) {
    auto it = now.find(name);
    if (it == now.end()) {
      d.breaking.push_back("method " + name + " removed");
      continue;
    }
    const json& n = it->second;
    size_t breaks_before = d.breaking.size();
    if (m["trust"] != n["trust"])
      d.breaking.push_back(name + ": trust changed from " + m["trust"].dump() + " to " + n["trust"].dump() +
                           (n["trust"] == "any" ? " (widened)" : " (narrowed)"));
    compare_params(name, m["params"], n["params"], d);
    if (m != n && d.breaking.size() == breaks_before) d.other.push_back(name + ": description changed");
  }
  for (auto& [name, n] : now)
    if (!was.count(name)) d.other.push_back("new method " + name);
  return d;
}

std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += "\n  " + s;
  return out;
}

json served_builtins() {
  FakeDaemon f;
  json out = json::array();
  json list = f.d->connect()->request("methods.list");
  for (auto& m : list["methods"])
    if (!m.contains("plugin")) out.push_back(m);
  return out;
}

json frozen() {
  std::string text = read_file(frozen_path());
  return json::parse(text, nullptr, false);
}

bool refreshing() { return std::getenv("CCMUX_REFRESH_METHODS") != nullptr; }

void write_frozen(const json& current) {
  json file = {{"about", "the protocol's built-in methods as methods.list describes them; tests/unit/methods_frozen_test.cpp"},
               {"protocol", kProtocolVersion},
               {"methods", current}};
  write_file(frozen_path(), file.dump(2) + "\n");
}

void maybe_refresh(const json& current, const Diff& d, int frozen_protocol) {
  if (!refreshing()) return;
  if (!d.breaking.empty() && frozen_protocol >= kProtocolVersion) return;  // never freeze a break away
  write_frozen(current);
}

// The frozen list; a missing one is written first when refreshing (a new checkout of the test).
json frozen_or_first() {
  json f = frozen();
  if (!(f.is_object() && f["methods"].is_array()) && refreshing()) {
    write_frozen(served_builtins());
    f = frozen();
  }
  return f;
}

}  // namespace

TEST(MethodsFrozen, NoMethodOrParamRemovedAndNoTypeRequirednessOrTrustChanged) {
  json f = frozen_or_first();
  ASSERT_TRUE(f.is_object() && f["methods"].is_array()) << frozen_path() << " is missing or not JSON: " << kRefresh;
  json current = served_builtins();
  Diff d = compare(f["methods"], current);
  int frozen_protocol = f.value("protocol", 0);
  maybe_refresh(current, d, frozen_protocol);
  if (frozen_protocol < kProtocolVersion) return;  // a new protocol version may break: refresh below
  EXPECT_TRUE(d.breaking.empty())
      << "these changes break clients of protocol " << kProtocolVersion << ":" << lines(d.breaking)
      << "\nKeep the method/param (add a new optional one instead), or bump kProtocolVersion (core/base/version.h) "
         "and then refresh: "
      << kRefresh;
}

TEST(MethodsFrozen, FrozenFileIsCurrent) {
  json f = frozen_or_first();
  ASSERT_TRUE(f.is_object() && f["methods"].is_array()) << frozen_path() << " is missing or not JSON: " << kRefresh;
  json current = served_builtins();
  Diff d = compare(f["methods"], current);
  maybe_refresh(current, d, f.value("protocol", 0));
  if (!d.breaking.empty()) GTEST_SKIP() << "breaking changes: see NoMethodOrParamRemovedAndNoTypeRequirednessOrTrustChanged";
  EXPECT_EQ(f.value("protocol", 0), kProtocolVersion) << "the protocol version changed: " << kRefresh;
  EXPECT_TRUE(d.other.empty()) << "methods.list gained or reworded (compatible, but the frozen copy is stale):"
                               << lines(d.other) << "\nRefresh tests/abi/methods.frozen.json: " << kRefresh;
}

// The comparison itself, on altered copies of the frozen list: each kind of break is caught,
// and additions are not taken for breaks.
TEST(MethodsFrozen, EveryKindOfBreakIsCaughtAndAdditionsAreNot) {
  json f = frozen();
  ASSERT_TRUE(f.is_object() && f["methods"].is_array() && !f["methods"].empty()) << frozen_path() << ": " << kRefresh;
  json base = f["methods"];
  auto find = [](json& arr, const std::string& name) -> json& {
    for (auto& m : arr)
      if (m["name"] == name) return m;
    throw std::runtime_error("no " + name + " in the frozen list");
  };
  auto param = [](json& m, const std::string& name) -> json& {
    for (auto& p : m["params"])
      if (p["name"] == name) return p;
    throw std::runtime_error("no param " + name);
  };
  auto breaks = [&](const std::function<void(json&)>& change, const std::string& says) {
    json now = base;
    change(now);
    Diff d = compare(base, now);
    EXPECT_NE(lines(d.breaking).find(says), std::string::npos) << "not caught: " << says << lines(d.breaking);
  };
  breaks([&](json& n) { n.erase(n.begin()); }, "method " + base[0]["name"].get<std::string>() + " removed");
  breaks([&](json& n) { find(n, "approvals.list")["params"].erase(1); }, "approvals.list: param 'limit' removed");
  breaks([&](json& n) { param(find(n, "approvals.list"), "limit")["type"] = "number"; }, "param 'limit' changed type");
  breaks([&](json& n) { param(find(n, "approvals.list"), "limit")["required"] = true; }, "param 'limit' became required");
  breaks([&](json& n) { param(find(n, "session.send"), "prompt")["required"] = false; }, "param 'prompt' became optional");
  breaks([&](json& n) { param(find(n, "approvals.list"), "limit")["max"] = 100; }, "param 'limit' range narrowed");
  breaks([&](json& n) { find(n, "token.create")["trust"] = "any"; }, "token.create: trust changed from \"local\" to \"any\" (widened)");
  breaks([&](json& n) { find(n, "ping")["trust"] = "local"; }, "ping: trust changed from \"any\" to \"local\" (narrowed)");
  breaks([&](json& n) { find(n, "ping")["params"].push_back({{"name", "n"}, {"type", "integer"}, {"required", true}}); },
         "ping: new required param 'n'");

  json now = base;
  now.push_back({{"name", "zzz.new"}, {"trust", "any"}, {"params", json::array()}, {"result", "{}"}});
  find(now, "ping")["params"].push_back({{"name", "n"}, {"type", "integer"}, {"required", false}, {"meaning", "m"}});
  find(now, "status")["result"] = "reworded";
  param(find(now, "approvals.list"), "limit")["max"] = 20000;  // widened
  Diff d = compare(base, now);
  EXPECT_TRUE(d.breaking.empty()) << lines(d.breaking);
  EXPECT_NE(lines(d.other).find("new method zzz.new"), std::string::npos) << lines(d.other);
  EXPECT_NE(lines(d.other).find("ping: new optional param 'n'"), std::string::npos) << lines(d.other);
  EXPECT_NE(lines(d.other).find("status: description changed"), std::string::npos) << lines(d.other);
  EXPECT_NE(lines(d.other).find("approvals.list: description changed"), std::string::npos) << lines(d.other);
}
