// The fleet tests' fixture: ccmuxd machines with the fleet plugin (each its own state dir,
// socket and project root), the fake Messages API they share, and waits on what they see of
// each other. Used by fleet_e2e_test.cpp and fleet_attack_test.cpp.
#pragma once

#include "harness.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ccmux::test {

struct MachineOptions {
  std::vector<std::string> servers{};
  std::string user{}, password{};  // NATS credentials (written to a 0600 file)
  int heartbeat_ms = 500;
  int down_after_ms = 2000;
  bool required = true;              // the daemon refuses to start without the plugin
  std::string tls_ca{};              // TLS to NATS, servers signed by this CA
  std::string more_yaml{};           // more lines of the fleet entry, then further plugins (YAML)
  std::vector<std::string> claude_keys{};
};

struct Machine {
  std::string name;
  TempDir dir;
  std::unique_ptr<Daemon> d;
  std::unique_ptr<Client> c;
};

class FleetFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) return;
    for (auto& [name, m] : machines)
      if (m->d) {
        std::string log = m->d->log();
        std::cerr << "---- ccmuxd " << name << " log (tail) ----\n" << (log.size() > 12000 ? log.substr(log.size() - 12000) : log) << "\n";
      }
  }

  Machine& add(const std::string& name, const MachineOptions& o) {
    auto m = std::make_unique<Machine>();
    m->name = name;
    std::string yaml = "plugins:\n  - name: fleet\n    search_dir: " + build_dir() + "/plugins\n    required: " +
                       std::string(o.required ? "true" : "false") + "\n    servers: [";
    for (size_t i = 0; i < o.servers.size(); ++i) yaml += (i ? ", " : "") + o.servers[i];
    yaml += "]\n    machine: " + name + "\n    heartbeat_ms: " + std::to_string(o.heartbeat_ms) +
            "\n    down_after_ms: " + std::to_string(o.down_after_ms) + "\n";
    if (!o.user.empty()) {
      std::string creds = m->dir.path + "/nats-credentials";
      write_file(creds, o.user + ":" + o.password + "\n");
      namespace fs = std::filesystem;
      fs::permissions(creds, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
      yaml += "    credentials_file: " + creds + "\n";
    }
    if (!o.tls_ca.empty()) yaml += "    tls_ca: " + o.tls_ca + "\n";
    yaml += o.more_yaml;
    DaemonOptions d;
    d.extra_yaml = yaml;
    d.claude_keys = o.claude_keys;
    m->d = std::make_unique<Daemon>(m->dir.path, api.base_url(), d);
    m->c = m->d->connect();
    auto& ref = *m;
    machines[name] = std::move(m);
    return ref;
  }

  // Polls `who`'s fleet.machines until every name in `names` is in `state`.
  bool wait_state(Machine& who, const std::set<std::string>& names, const std::string& state, int timeout_ms = 20000) {
    return eventually(
        [&] {
          json r = who.c->request("fleet.machines");
          size_t n = 0;
          for (auto& m : r["machines"])
            if (names.count(m["name"]) && m["state"] == state) ++n;
          return n == names.size();
        },
        timeout_ms);
  }

  // The first pending approval a watching client hears of (in its snapshot, or asked since);
  // null when none came within `timeout_ms`.
  static json next_approval(Client& watcher, int timeout_ms = 90000) {
    json pending;
    eventually(
        [&] {
          auto m = watcher.next(200);
          if (m && (*m)["type"] == "approvals" && !(*m)["pending"].empty()) pending = (*m)["pending"][0];
          if (m && (*m)["type"] == "approval_requested") pending = (*m)["approval"];
          return !pending.is_null();
        },
        timeout_ms);
    return pending;
  }

  TempDir dir;
  FakeApi api{dir.path + "/api-requests.ndjson"};
  std::map<std::string, std::unique_ptr<Machine>> machines;
};

}  // namespace ccmux::test
