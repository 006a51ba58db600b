// The owned handles of core/base/unique_fd.h and core/storage/sqlite_handles.h: what they
// hold is released exactly once, also when the code between acquiring and handing over throws.
#include "unique_fd.h"
#include "storage/sqlite_handles.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

using namespace ccmux;

namespace {
bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }
}  // namespace

TEST(UniqueFd, ClosesWhenAnExceptionLeavesTheScope) {
  int raw = -1;
  try {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    ASSERT_TRUE(fd_is_open(raw));
    throw std::runtime_error("between open and hand-over");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fd_is_open(raw));
}

TEST(UniqueFd, MovingHandsOverOwnershipAndReleaseGivesItUp) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  UniqueFd b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
  int kept = b.release();
  EXPECT_FALSE(b);
  EXPECT_TRUE(fd_is_open(kept));  // released, not closed
  ::close(kept);
}

TEST(UniqueFd, ResetAndMoveAssignCloseWhatWasHeld) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int first = a.get();
  a.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(fd_is_open(first));
  int second = a.get();
  a = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(fd_is_open(second));
  EXPECT_EQ(a.close_checked(), 0);
  EXPECT_FALSE(a);
}

TEST(UniqueFd, MakePipeGivesTwoConnectedOwnedEnds) {
  int r_raw, w_raw;
  {
    UniqueFd r, w;
    ASSERT_TRUE(make_pipe(r, w));
    r_raw = r.get();
    w_raw = w.get();
    ASSERT_EQ(::write(w.get(), "x", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(r.get(), &c, 1), 1);
    EXPECT_EQ(c, 'x');
    EXPECT_TRUE(fcntl(r.get(), F_GETFD) & FD_CLOEXEC);
  }
  EXPECT_FALSE(fd_is_open(r_raw));
  EXPECT_FALSE(fd_is_open(w_raw));
}

TEST(SqliteHandles, AStatementIsFinalizedWhenARowCallbackThrows) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &raw), SQLITE_OK);
  Connection db(raw);
  Statement setup = prepare_statement(db.get(), "CREATE TABLE t(x)");
  ASSERT_EQ(sqlite3_step(setup.get()), SQLITE_DONE);
  setup.reset();
  ASSERT_EQ(sqlite3_next_stmt(db.get(), nullptr), nullptr);
  auto each_row = [&](auto&& row) {
    Statement st = prepare_statement(db.get(), "SELECT 1 UNION ALL SELECT 2");
    while (sqlite3_step(st.get()) == SQLITE_ROW) row(st.get());
  };
  EXPECT_THROW(each_row([](sqlite3_stmt*) { throw std::runtime_error("callback failed"); }), std::runtime_error);
  EXPECT_EQ(sqlite3_next_stmt(db.get(), nullptr), nullptr) << "the statement leaked";
}

TEST(SqliteHandles, APrepareThatDoesNotCompileThrowsWithSqlitesMessage) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &raw), SQLITE_OK);
  Connection db(raw);
  try {
    prepare_statement(db.get(), "SELEKT nonsense");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("syntax error"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sqlite3_next_stmt(db.get(), nullptr), nullptr);
}
