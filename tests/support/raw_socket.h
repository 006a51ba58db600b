// A raw local-socket connection for tests: what a client that gets things wrong sends, read
// back with a bounded wait so a dead daemon fails the test instead of hanging it.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace ccmux::test {

struct Raw {
  int fd;
  explicit Raw(const std::string& path) {
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{10, 0};  // a missing answer fails the test instead of hanging it
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Raw() { close(fd); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  void send_all(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  nlohmann::json line() {
    std::string l;
    char c;
    while (recv(fd, &c, 1, 0) == 1 && c != '\n') l += c;
    nlohmann::json j = nlohmann::json::parse(l, nullptr, false);
    // A dead daemon sends "": fail, do not throw.
    return j.is_object() ? j : nlohmann::json{{"not_a_json_object", l}};
  }
};

}  // namespace ccmux::test
