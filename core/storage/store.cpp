#include "storage/store.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace ccmux {
namespace {

// Each entry migrates from user_version == index to index + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE sessions(
  id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, cwd TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',
  permission_mode TEXT NOT NULL DEFAULT 'default', claude_session_id TEXT NOT NULL,
  claude_started INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, state_reason TEXT NOT NULL DEFAULT '',
  last_seq INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0, turns INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL);
CREATE TABLE events(
  session TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL,
  PRIMARY KEY(session, seq)) WITHOUT ROWID;
CREATE TABLE approvals(
  id TEXT PRIMARY KEY, session TEXT NOT NULL, claude_request_id TEXT NOT NULL, kind TEXT NOT NULL, tool TEXT NOT NULL,
  request BLOB NOT NULL, state TEXT NOT NULL, decision TEXT NOT NULL DEFAULT '', decided_by TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '', updated_input BLOB NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,
  resolved_ms INTEGER NOT NULL DEFAULT 0, latency_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE prompts(
  id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, content BLOB NOT NULL, state TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE INDEX prompts_open ON prompts(session, state, id);
CREATE TABLE plugin_kv(plugin TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY(plugin, key));
)sql",
    R"sql(
CREATE TABLE tokens(name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL DEFAULT 0);
)sql",
    // Issue 13: one row per holder (ccmux-shim) and how far its spool has been turned into events.
    R"sql(
CREATE TABLE holders(instance TEXT PRIMARY KEY, session TEXT NOT NULL DEFAULT '', spool TEXT NOT NULL,
  segment INTEGER NOT NULL, offset INTEGER NOT NULL DEFAULT 0, started_ms INTEGER NOT NULL,
  cost_base REAL NOT NULL DEFAULT 0);
)sql",
    // Issue 14: client certificates `cert.issue` signed (never their keys). A revoked row stays
    // (listed with revoked_ms); only one unrevoked certificate per name.
    R"sql(
CREATE TABLE client_certs(serial TEXT PRIMARY KEY, name TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL, not_after_ms INTEGER NOT NULL, last_used_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX client_certs_live_name ON client_certs(name) WHERE revoked_ms = 0;
)sql",
    // Issue 15: a session's repository, worktree and branch; the worktrees ccmux made.
    R"sql(
ALTER TABLE sessions ADD COLUMN repo TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN worktree TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN worktree_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN branch TEXT NOT NULL DEFAULT '';
CREATE TABLE worktrees(path TEXT PRIMARY KEY, repo TEXT NOT NULL, name TEXT NOT NULL, branch TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL);
)sql",
};

std::string_view col_text(sqlite3_stmt* st, int i) {
  const void* p = sqlite3_column_blob(st, i);
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st, i))};
}

void bind_value(sqlite3_stmt* st, int i, std::string_view v) {
  sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bind_value(sqlite3_stmt* st, int i, int64_t v) { sqlite3_bind_int64(st, i, v); }
void bind_value(sqlite3_stmt* st, int i, double v) { sqlite3_bind_double(st, i, v); }

void bind_all(sqlite3_stmt*, int) {}
template <class T, class... Rest>
void bind_all(sqlite3_stmt* st, int i, const T& v, const Rest&... rest) {
  bind_value(st, i, v);
  bind_all(st, i + 1, rest...);
}

struct Reset {
  sqlite3_stmt* st;
  ~Reset() {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
};

}  // namespace

Store::Store(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error("cannot open store " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  try {
    prepare_open_store(path);
  } catch (...) {
    // No destructor runs for a constructor that throws (a newer schema, a read-only file).
    // The members close themselves (statements, then the connection), but a joinable
    // checkpoint thread would be std::terminate.
    stop_checkpointer();
    throw;
  }
}

void Store::stop_checkpointer() noexcept {
  if (!checkpoint_thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    stopping_ = true;
  }
  checkpoint_cv_.notify_one();
  checkpoint_thread_.join();
}

void Store::prepare_open_store(const std::string& path) {
  sqlite3_busy_timeout(db_.get(), 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
  exec("PRAGMA wal_autocheckpoint=0");  // see checkpointer()
  exec("PRAGMA journal_size_limit=67108864");  // the WAL file shrinks back to 64 MiB after a burst
  sqlite3_wal_hook(db_.get(), &Store::on_wal_commit, this);
  checkpoint_thread_ = std::thread(&Store::checkpointer, this, path);
  insert_event_ = prepare("INSERT INTO events(session, seq, ts_ms, kind, payload) VALUES(?,?,?,?,?)");
  read_events_ = prepare(
      "SELECT seq, ts_ms, kind, payload FROM events WHERE session=? AND seq>=? AND seq<=? ORDER BY seq LIMIT ?");
  // Updates of the same session (same creation time): never another session's row.
  upsert_session_ = prepare(
      "INSERT INTO sessions(id, created_ms, cwd, model, permission_mode, claude_session_id, claude_started,"
      " state, state_reason, last_seq, cost_usd, input_tokens, output_tokens, turns, updated_ms,"
      " repo, worktree, worktree_name, branch)"
      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET cwd=excluded.cwd, model=excluded.model,"
      " permission_mode=excluded.permission_mode, claude_session_id=excluded.claude_session_id,"
      " claude_started=excluded.claude_started, state=excluded.state, state_reason=excluded.state_reason,"
      " last_seq=excluded.last_seq, cost_usd=excluded.cost_usd, input_tokens=excluded.input_tokens,"
      " output_tokens=excluded.output_tokens, turns=excluded.turns, updated_ms=excluded.updated_ms,"
      " repo=excluded.repo, worktree=excluded.worktree, worktree_name=excluded.worktree_name, branch=excluded.branch"
      " WHERE sessions.created_ms=excluded.created_ms");
  insert_session_ = prepare(
      "INSERT INTO sessions(id, created_ms, cwd, model, permission_mode, claude_session_id, claude_started,"
      " state, state_reason, last_seq, cost_usd, input_tokens, output_tokens, turns, updated_ms,"
      " repo, worktree, worktree_name, branch)"
      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING");
  // An update of the same approval only: an id collision must not replace an audit row.
  upsert_approval_ = prepare(
      "INSERT INTO approvals(id, session, claude_request_id, kind, tool, request, state, decision,"
      " decided_by, reason, updated_input, created_ms, resolved_ms, latency_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
      " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, tool=excluded.tool, request=excluded.request,"
      " state=excluded.state, decision=excluded.decision, decided_by=excluded.decided_by, reason=excluded.reason,"
      " updated_input=excluded.updated_input, resolved_ms=excluded.resolved_ms, latency_ms=excluded.latency_ms"
      " WHERE approvals.session=excluded.session AND approvals.claude_request_id=excluded.claude_request_id"
      " AND approvals.created_ms=excluded.created_ms");
}

Store::~Store() {
  // A destructor that throws terminates the daemon: a last COMMIT that fails (disk full, I/O
  // error) is logged; SQLite rolls the batch back at close and the database stays consistent.
  try {
    commit();
  } catch (const std::exception& e) {
    spdlog::error("store: the last batch could not be committed at close, it is lost: {}", e.what());
  }
  stop_checkpointer();
  // The statements, then the connection, close as members (db_ is declared first).
}

int Store::on_wal_commit(void* self, sqlite3*, const char*, int pages) {
  auto* s = static_cast<Store*>(self);
  if (pages >= 1000) {
    std::unique_lock<std::mutex> lock(s->checkpoint_mu_);
    if (s->checkpoint_wanted_) return SQLITE_OK;  // already asked: no wake-up per commit
    s->checkpoint_wanted_ = true;
    lock.unlock();
    s->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void Store::checkpointer(std::string path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection owned(raw);
  if (rc != SQLITE_OK) return;
  sqlite3* db = owned.get();
  sqlite3_busy_timeout(db, 5000);
  // A connection learns the file is in WAL mode on its first read; until then a
  // checkpoint on it is a no-op.
  sqlite3_exec(db, "PRAGMA journal_mode", nullptr, nullptr, nullptr);
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lock, [this] { return checkpoint_wanted_ || stopping_; });
    if (stopping_) break;
    checkpoint_wanted_ = false;
    lock.unlock();
    int log_frames = 0, done_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done_frames);
    spdlog::debug("store checkpoint: rc {} ({} of {} WAL frames copied)", rc, done_frames, log_frames);
    lock.lock();
  }
  lock.unlock();
  sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string("sqlite: ") + msg);
  }
}

Statement Store::prepare(const char* sql) { return prepare_statement(db_.get(), sql, SQLITE_PREPARE_PERSISTENT); }

int Store::schema_version() {
  Statement st = prepare_statement(db_.get(), "PRAGMA user_version");
  return sqlite3_step(st.get()) == SQLITE_ROW ? sqlite3_column_int(st.get(), 0) : 0;
}

void Store::migrate() {
  int v = schema_version();
  if (v > kSchemaVersion)
    throw std::runtime_error("store schema version " + std::to_string(v) + " is newer than this ccmuxd (" +
                             std::to_string(kSchemaVersion) + "): upgrade ccmuxd");
  for (; v < kSchemaVersion; ++v) {
    exec("BEGIN IMMEDIATE");
    exec(kMigrations[v]);
    exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
    exec("COMMIT");
  }
}

template <class... A>
int Store::write(const char* sql, const A&... args) {
  begin();
  Statement st = prepare_statement(db_.get(), sql);
  bind_all(st.get(), 1, args...);
  int rc = sqlite3_step(st.get());
  st.reset();
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_.get()));
  return sqlite3_changes(db_.get());
}

template <class... A>
void Store::read(const char* sql, const std::function<void(sqlite3_stmt*)>& row, const A&... args) {
  Statement st = prepare_statement(db_.get(), sql);  // finalized also when `row` throws
  bind_all(st.get(), 1, args...);
  while (sqlite3_step(st.get()) == SQLITE_ROW) row(st.get());
}

void Store::begin() {
  if (!in_tx_) {
    exec("BEGIN IMMEDIATE");
    in_tx_ = true;
  }
}

void Store::commit() {
  if (!in_tx_) return;
  // The hook writes into this transaction (the spool positions of the lines whose events it holds).
  if (before_commit_) before_commit_();
  in_tx_ = false;
  exec("COMMIT");
  if (after_commit_) after_commit_();
}

void Store::append_event(std::string_view session, uint64_t seq, int64_t ts_ms, std::string_view kind,
                         std::string_view payload) {
  begin();
  sqlite3_stmt* st = insert_event_.get();
  Reset r{st};
  bind_value(st, 1, session);
  bind_value(st, 2, static_cast<int64_t>(seq));
  bind_value(st, 3, ts_ms);
  bind_value(st, 4, kind);
  sqlite3_bind_blob(st, 5, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    throw std::runtime_error(std::string("sqlite insert event: ") + sqlite3_errmsg(db_.get()));
}

size_t Store::read_events(const std::string& session, uint64_t from_seq, uint64_t to_seq, size_t limit,
                          const EventFn& fn) {
  sqlite3_stmt* st = read_events_.get();
  Reset r{st};
  bind_value(st, 1, session);
  bind_value(st, 2, static_cast<int64_t>(from_seq));
  bind_value(st, 3, static_cast<int64_t>(to_seq));
  bind_value(st, 4, static_cast<int64_t>(limit));
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    fn(static_cast<uint64_t>(sqlite3_column_int64(st, 0)), sqlite3_column_int64(st, 1), col_text(st, 2),
       col_text(st, 3));
    ++n;
  }
  return n;
}

namespace {
void bind_session(sqlite3_stmt* st, const SessionRow& s) {
  bind_value(st, 1, s.id);
  bind_value(st, 2, s.created_ms);
  bind_value(st, 3, s.cwd);
  bind_value(st, 4, s.model);
  bind_value(st, 5, s.permission_mode);
  bind_value(st, 6, s.claude_session_id);
  bind_value(st, 7, static_cast<int64_t>(s.claude_started));
  bind_value(st, 8, s.state);
  bind_value(st, 9, s.state_reason);
  bind_value(st, 10, static_cast<int64_t>(s.last_seq));
  bind_value(st, 11, s.cost_usd);
  bind_value(st, 12, s.input_tokens);
  bind_value(st, 13, s.output_tokens);
  bind_value(st, 14, s.turns);
  bind_value(st, 15, s.updated_ms);
  bind_value(st, 16, s.repo);
  bind_value(st, 17, s.worktree);
  bind_value(st, 18, s.worktree_name);
  bind_value(st, 19, s.branch);
}
}  // namespace

bool Store::insert_session(const SessionRow& s) {
  begin();
  Reset r{insert_session_.get()};
  bind_session(insert_session_.get(), s);
  if (sqlite3_step(insert_session_.get()) != SQLITE_DONE)
    throw std::runtime_error(std::string("sqlite session: ") + sqlite3_errmsg(db_.get()));
  return sqlite3_changes(db_.get()) == 1;
}

void Store::upsert_session(const SessionRow& s) {
  begin();
  auto* st = upsert_session_.get();
  Reset r{st};
  bind_session(st, s);
  if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(std::string("sqlite session: ") + sqlite3_errmsg(db_.get()));
  if (sqlite3_changes(db_.get()) == 0)
    throw std::runtime_error("session id " + s.id + " already names another session: not replaced");
}

std::vector<SessionRow> Store::load_sessions() {
  std::vector<SessionRow> out;
  Statement owned = prepare_statement(db_.get(),
                                     "SELECT id, created_ms, cwd, model, permission_mode, claude_session_id,"
                                     " claude_started, state, state_reason, last_seq, cost_usd, input_tokens,"
                                     " output_tokens, turns, updated_ms,"
                                     " (SELECT COALESCE(MAX(seq),0) FROM events e WHERE e.session=s.id),"
                                     " repo, worktree, worktree_name, branch"
                                     " FROM sessions s ORDER BY created_ms");
  sqlite3_stmt* st = owned.get();
  while (sqlite3_step(st) == SQLITE_ROW) {
    SessionRow s;
    s.id = std::string(col_text(st, 0));
    s.created_ms = sqlite3_column_int64(st, 1);
    s.cwd = std::string(col_text(st, 2));
    s.model = std::string(col_text(st, 3));
    s.permission_mode = std::string(col_text(st, 4));
    s.claude_session_id = std::string(col_text(st, 5));
    s.claude_started = sqlite3_column_int(st, 6) != 0;
    s.state = std::string(col_text(st, 7));
    s.state_reason = std::string(col_text(st, 8));
    // The events table is the truth for seq: a crash may have left the session row behind.
    s.last_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 15));
    s.cost_usd = sqlite3_column_double(st, 10);
    s.input_tokens = sqlite3_column_int64(st, 11);
    s.output_tokens = sqlite3_column_int64(st, 12);
    s.turns = sqlite3_column_int64(st, 13);
    s.updated_ms = sqlite3_column_int64(st, 14);
    s.repo = std::string(col_text(st, 16));
    s.worktree = std::string(col_text(st, 17));
    s.worktree_name = std::string(col_text(st, 18));
    s.branch = std::string(col_text(st, 19));
    out.push_back(std::move(s));
  }
  return out;
}

void Store::worktree_upsert(const WorktreeRow& w) {
  write("INSERT INTO worktrees(path, repo, name, branch, created_ms) VALUES(?,?,?,?,?) ON CONFLICT(path) DO UPDATE"
        " SET repo=excluded.repo, name=excluded.name, branch=excluded.branch",
        w.path, w.repo, w.name, w.branch, w.created_ms);
}

std::vector<WorktreeRow> Store::worktree_list() {
  std::vector<WorktreeRow> out;
  read("SELECT path, repo, name, branch, created_ms FROM worktrees ORDER BY repo, name", [&](sqlite3_stmt* st) {
    out.push_back({std::string(col_text(st, 0)), std::string(col_text(st, 1)), std::string(col_text(st, 2)),
                   std::string(col_text(st, 3)), sqlite3_column_int64(st, 4)});
  });
  return out;
}

bool Store::worktree_delete(const std::string& path) { return write("DELETE FROM worktrees WHERE path=?", path) > 0; }

void Store::upsert_approval(const ApprovalRow& a) {
  begin();
  auto* st = upsert_approval_.get();
  Reset r{st};
  bind_value(st, 1, a.id);
  bind_value(st, 2, a.session);
  bind_value(st, 3, a.claude_request_id);
  bind_value(st, 4, a.kind);
  bind_value(st, 5, a.tool);
  bind_value(st, 6, a.request);
  bind_value(st, 7, a.state);
  bind_value(st, 8, a.decision);
  bind_value(st, 9, a.decided_by);
  bind_value(st, 10, a.reason);
  bind_value(st, 11, a.updated_input);
  bind_value(st, 12, a.created_ms);
  bind_value(st, 13, a.resolved_ms);
  bind_value(st, 14, a.resolved_ms ? a.resolved_ms - a.created_ms : int64_t{0});
  if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(std::string("sqlite approval: ") + sqlite3_errmsg(db_.get()));
  if (sqlite3_changes(db_.get()) == 0)
    throw std::runtime_error("approval id " + a.id + " already names another approval: not replaced");
}

bool Store::approval_exists(const std::string& id) {
  bool found = false;
  read("SELECT 1 FROM approvals WHERE id=?", [&](sqlite3_stmt*) { found = true; }, id);
  return found;
}

namespace {
ApprovalRow approval_from(sqlite3_stmt* st) {
  ApprovalRow a;
  a.id = std::string(col_text(st, 0));
  a.session = std::string(col_text(st, 1));
  a.claude_request_id = std::string(col_text(st, 2));
  a.kind = std::string(col_text(st, 3));
  a.tool = std::string(col_text(st, 4));
  a.request = std::string(col_text(st, 5));
  a.state = std::string(col_text(st, 6));
  a.decision = std::string(col_text(st, 7));
  a.decided_by = std::string(col_text(st, 8));
  a.reason = std::string(col_text(st, 9));
  a.updated_input = std::string(col_text(st, 10));
  a.created_ms = sqlite3_column_int64(st, 11);
  a.resolved_ms = sqlite3_column_int64(st, 12);
  return a;
}
constexpr const char* kApprovalCols =
    "SELECT id, session, claude_request_id, kind, tool, request, state, decision, decided_by, reason, updated_input,"
    " created_ms, resolved_ms FROM approvals ";
}  // namespace

std::optional<ApprovalRow> Store::get_approval(const std::string& id) {
  std::optional<ApprovalRow> out;
  read((std::string(kApprovalCols) + "WHERE id=?").c_str(), [&](sqlite3_stmt* st) { out = approval_from(st); }, id);
  return out;
}

std::vector<ApprovalRow> Store::list_approvals(bool pending_only, size_t limit) {
  std::string sql = std::string(kApprovalCols) + (pending_only ? "WHERE state='pending' " : "") +
                    "ORDER BY created_ms DESC LIMIT " + std::to_string(limit);
  std::vector<ApprovalRow> out;
  read(sql.c_str(), [&](sqlite3_stmt* st) { out.push_back(approval_from(st)); });
  return out;
}

int64_t Store::add_prompt(const std::string& session, const std::string& content, int64_t ts_ms) {
  write("INSERT INTO prompts(session, content, state, created_ms) VALUES(?,?,'queued',?)", session, content, ts_ms);
  return sqlite3_last_insert_rowid(db_.get());
}

void Store::set_prompt_state(int64_t id, const std::string& state) {
  write("UPDATE prompts SET state=? WHERE id=?", state, id);
}

std::vector<PromptRow> Store::open_prompts(const std::string& session) {
  std::vector<PromptRow> out;
  read("SELECT id, session, content, state, created_ms FROM prompts WHERE session=? AND state IN ('queued','sent') "
       "ORDER BY id",
       [&](sqlite3_stmt* st) {
         out.push_back({sqlite3_column_int64(st, 0), std::string(col_text(st, 1)), std::string(col_text(st, 2)),
                        std::string(col_text(st, 3)), sqlite3_column_int64(st, 4)});
       },
       session);
  return out;
}

void Store::kv_set(const std::string& plugin, const std::string& key, std::string_view value) {
  begin();
  Statement st = prepare_statement(db_.get(), "INSERT OR REPLACE INTO plugin_kv(plugin, key, value) VALUES(?,?,?)");
  bind_value(st.get(), 1, plugin);
  bind_value(st.get(), 2, key);
  sqlite3_bind_blob(st.get(), 3, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st.get()) != SQLITE_DONE)  // was ignored: a failed write looked stored
    throw std::runtime_error(std::string("sqlite plugin_kv: ") + sqlite3_errmsg(db_.get()));
}

std::optional<std::string> Store::kv_get(const std::string& plugin, const std::string& key) {
  std::optional<std::string> out;
  read("SELECT value FROM plugin_kv WHERE plugin=? AND key=?", [&](sqlite3_stmt* st) { out = std::string(col_text(st, 0)); },
       plugin, key);
  return out;
}

void Store::kv_delete(const std::string& plugin, const std::string& key) {
  write("DELETE FROM plugin_kv WHERE plugin=? AND key=?", plugin, key);
}

std::vector<ApprovalRow> Store::session_approvals(const std::string& session, int64_t since_ms) {
  std::string sql = std::string(kApprovalCols) + "WHERE session=? AND created_ms>=? ORDER BY created_ms";
  std::vector<ApprovalRow> out;
  read(sql.c_str(), [&](sqlite3_stmt* st) { out.push_back(approval_from(st)); }, session, since_ms);
  return out;
}

void Store::holder_insert(const HolderRow& h) {
  write("INSERT INTO holders(instance, session, spool, segment, offset, started_ms) VALUES(?,?,?,?,?,?)", h.instance,
        h.session, h.spool, static_cast<int64_t>(h.segment), static_cast<int64_t>(h.offset), h.started_ms);
}

void Store::holder_set_session(const std::string& instance, const std::string& session, double cost_base) {
  write("UPDATE holders SET session=?, cost_base=? WHERE instance=?", session, cost_base, instance);
}

std::vector<ApprovalRow> Store::unresolved_approvals() {
  std::string sql = std::string(kApprovalCols) + "WHERE state IN ('pending','deciding') ORDER BY created_ms";
  std::vector<ApprovalRow> out;
  read(sql.c_str(), [&](sqlite3_stmt* st) { out.push_back(approval_from(st)); });
  return out;
}

void Store::holder_set_position(const std::string& instance, uint64_t segment, uint64_t offset) {
  write("UPDATE holders SET segment=?, offset=? WHERE instance=?", static_cast<int64_t>(segment),
        static_cast<int64_t>(offset), instance);
}

void Store::holder_delete(const std::string& instance) { write("DELETE FROM holders WHERE instance=?", instance); }

std::vector<HolderRow> Store::load_holders() {
  std::vector<HolderRow> out;
  read("SELECT instance, session, spool, segment, offset, started_ms, cost_base FROM holders", [&](sqlite3_stmt* st) {
    HolderRow h;
    h.instance = col_text(st, 0);
    h.session = col_text(st, 1);
    h.spool = col_text(st, 2);
    h.segment = static_cast<uint64_t>(sqlite3_column_int64(st, 3));
    h.offset = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
    h.started_ms = sqlite3_column_int64(st, 5);
    h.cost_base = sqlite3_column_double(st, 6);
    out.push_back(std::move(h));
  });
  return out;
}

std::map<std::string, int64_t> Store::approval_outcomes() {
  std::map<std::string, int64_t> out;
  // "deciding": stored while the policies run (issue 13), counted as pending.
  read("SELECT CASE WHEN state IN ('pending','deciding') THEN 'pending' ELSE decision END, count(*) FROM approvals"
       " GROUP BY 1",
       [&](sqlite3_stmt* st) { out[std::string(col_text(st, 0))] = sqlite3_column_int64(st, 1); });
  return out;
}

void Store::token_insert(const std::string& name, const std::string& hash, int64_t ts_ms) {
  write("INSERT INTO tokens(name, sha256, created_ms) VALUES(?,?,?)", name, hash, ts_ms);
}

std::vector<Store::TokenRow> Store::token_list() {
  std::vector<TokenRow> out;
  read("SELECT name, created_ms, last_used_ms FROM tokens ORDER BY name", [&](sqlite3_stmt* st) {
    out.push_back({std::string(col_text(st, 0)), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)});
  });
  return out;
}

bool Store::token_delete(const std::string& name) { return write("DELETE FROM tokens WHERE name=?", name) > 0; }

std::optional<std::string> Store::token_find(const std::string& hash) {
  std::optional<std::string> out;
  read("SELECT name FROM tokens WHERE sha256=?", [&](sqlite3_stmt* st) { out = std::string(col_text(st, 0)); }, hash);
  return out;
}

void Store::token_touch(const std::string& name, int64_t ts_ms) {
  write("UPDATE tokens SET last_used_ms=? WHERE name=?", ts_ms, name);
}

void Store::cert_insert(const CertRow& c) {
  write("INSERT INTO client_certs(serial, name, fingerprint, created_ms, not_after_ms) VALUES(?,?,?,?,?)", c.serial,
        c.name, c.fingerprint, c.created_ms, c.not_after_ms);
}

namespace {
constexpr const char* kCertColumns =
    "SELECT serial, name, fingerprint, created_ms, not_after_ms, last_used_ms, revoked_ms FROM client_certs";
Store::CertRow cert_row(sqlite3_stmt* st) {
  return {std::string(col_text(st, 0)), std::string(col_text(st, 1)), std::string(col_text(st, 2)),
          sqlite3_column_int64(st, 3),  sqlite3_column_int64(st, 4),  sqlite3_column_int64(st, 5),
          sqlite3_column_int64(st, 6)};
}
}  // namespace

std::vector<Store::CertRow> Store::cert_list() {
  std::vector<CertRow> out;
  read((std::string(kCertColumns) + " ORDER BY created_ms, name").c_str(),
       [&](sqlite3_stmt* st) { out.push_back(cert_row(st)); });
  return out;
}

std::optional<Store::CertRow> Store::cert_find(const std::string& fingerprint) {
  std::optional<CertRow> out;
  read((std::string(kCertColumns) + " WHERE fingerprint=?").c_str(), [&](sqlite3_stmt* st) { out = cert_row(st); },
       fingerprint);
  return out;
}

bool Store::cert_name_live(const std::string& name) {
  bool live = false;
  read("SELECT 1 FROM client_certs WHERE name=? AND revoked_ms=0", [&](sqlite3_stmt*) { live = true; }, name);
  return live;
}

bool Store::cert_revoke(const std::string& name, int64_t ts_ms) {
  return write("UPDATE client_certs SET revoked_ms=? WHERE name=? AND revoked_ms=0", ts_ms, name) > 0;
}

void Store::cert_touch(const std::string& serial, int64_t ts_ms) {
  write("UPDATE client_certs SET last_used_ms=? WHERE serial=?", ts_ms, serial);
}

}  // namespace ccmux
