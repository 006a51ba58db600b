#include "auth/tokens.h"
#include "harness.h"
#include "storage/store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

using namespace ccmux;
using namespace ccmux::test;

TEST(Tokens, CreatedTokenAuthenticatesAndOnlyItsHashIsStored) {
  TempDir t;
  Store store(t.path + "/db");
  TokenStore tokens(store);
  std::string token = tokens.create("my-phone");
  EXPECT_EQ(token.rfind("ccmux_", 0), 0u);
  EXPECT_GE(token.size(), 40u);
  EXPECT_EQ(tokens.authenticate(token), "my-phone");
  EXPECT_EQ(tokens.authenticate(token + "x"), std::nullopt);
  EXPECT_EQ(tokens.authenticate(""), std::nullopt);
  EXPECT_NE(tokens.create("laptop"), token);
  store.commit();
  // Nothing in the database file holds the token in clear.
  std::string db = read_file(t.path + "/db") + read_file(t.path + "/db-wal");
  EXPECT_EQ(db.find(token), std::string::npos);
  EXPECT_NE(db.find(sha256_hex(token)), std::string::npos);
  auto list = tokens.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].name, "my-phone");
  EXPECT_GT(list[1].last_used_ms, 0);
}

TEST(Tokens, RevokedTokenNoLongerAuthenticatesAndListenersHear) {
  TempDir t;
  Store store(t.path + "/db");
  TokenStore tokens(store);
  std::vector<std::string> heard;
  tokens.on_revoked([&](const std::string& n) { heard.push_back(n); });
  std::string token = tokens.create("tablet");
  EXPECT_TRUE(tokens.revoke("tablet"));
  EXPECT_FALSE(tokens.revoke("tablet"));
  EXPECT_EQ(tokens.authenticate(token), std::nullopt);
  EXPECT_EQ(heard, std::vector<std::string>{"tablet"});
}

TEST(Tokens, NamesAreValidatedAndUnique) {
  TempDir t;
  Store store(t.path + "/db");
  TokenStore tokens(store);
  tokens.create("a");
  EXPECT_THROW(tokens.create("a"), std::runtime_error);
  EXPECT_THROW(tokens.create(""), std::runtime_error);
  EXPECT_THROW(tokens.create("has space"), std::runtime_error);
  EXPECT_THROW(tokens.create("quote\""), std::runtime_error);
}

TEST(Tokens, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
