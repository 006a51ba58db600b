// SQLite handles that release themselves: a statement is finalized and a connection closed
// when its owner goes, also when a row callback or a bind throws halfway (before, such a
// statement leaked and kept the WAL from being checkpointed).
#pragma once

#include <sqlite3.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace ccmux {

struct StatementFinalizer {
  void operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// Closes with sqlite3_close_v2: a connection with statements still open is closed once they
// are finalized, instead of failing with SQLITE_BUSY and staying open.
struct ConnectionCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

// Prepares `sql` on `db` (flags: e.g. SQLITE_PREPARE_PERSISTENT for statements kept for the
// connection's life); throws std::runtime_error with SQLite's message when it does not compile.
inline Statement prepare_statement(sqlite3* db, const char* sql, unsigned flags = 0) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, flags, &st, nullptr) != SQLITE_OK) {
    sqlite3_finalize(st);
    throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  return Statement(st);
}

}  // namespace ccmux
