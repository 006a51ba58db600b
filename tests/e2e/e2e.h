// Shared fixture: fake Messages API + ccmuxd + the real pinned claude CLI.
#pragma once

#include "harness.h"

#include <gtest/gtest.h>

namespace ccmux::test {

class E2E : public ::testing::Test {
 protected:
  void start(DaemonOptions o = {}) { daemon = std::make_unique<Daemon>(dir.path, api.base_url(), std::move(o)); }
  void SetUp() override { start(); }
  void TearDown() override {
    if (HasFailure() && daemon) std::cerr << "---- ccmuxd log ----\n" << daemon->log().substr(0, 20000) << "\n";
  }
  std::string new_session(Client& c, const std::string& prompt) {
    return c.request("session.new", {{"cwd", daemon->project()}, {"prompt", prompt}})["id"];
  }
  TempDir dir;
  FakeApi api{dir.path + "/api-requests.ndjson"};
  std::unique_ptr<Daemon> daemon;
};

// A prompt that makes the fake Messages API call Bash with `command`.
inline std::string bash(const std::string& command) {
  return "tool: Bash " + json{{"command", command}, {"description", "test"}}.dump();
}

// A Lua policy file written into the test dir.
inline std::string policy_file(const TempDir& dir, const std::string& name, const std::string& source) {
  std::string path = dir.path + "/" + name;
  write_file(path, source);
  return path;
}

}  // namespace ccmux::test
