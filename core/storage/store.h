// SQLite persistence (WAL). Writes join one open transaction that the event bus
// commits once per loop iteration (group commit); commit() makes them durable.
#pragma once

#include "storage/sqlite_handles.h"

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux {

struct SessionRow {
  std::string id;
  int64_t created_ms = 0;
  std::string cwd;
  std::string model;
  std::string permission_mode;
  std::string claude_session_id;
  bool claude_started = false;  // claude has written a transcript we can --resume
  std::string state;
  std::string state_reason;
  uint64_t last_seq = 0;
  double cost_usd = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t turns = 0;
  int64_t updated_ms = 0;
  // Issue 15: a session in a git worktree ccmux made. All "" for a session in a plain folder.
  std::string repo;           // top level of the repository's main work tree
  std::string worktree;       // absolute path of the worktree (the session's cwd)
  std::string worktree_name;  // its NAME
  std::string branch;         // the branch checked out there when the session started
};

// A worktree ccmux made for a session (worktree.* methods): kept until removed or pruned.
struct WorktreeRow {
  std::string path;  // absolute; the key
  std::string repo;
  std::string name;
  std::string branch;
  int64_t created_ms = 0;
};

struct ApprovalRow {
  std::string id;
  std::string session;
  std::string claude_request_id;
  std::string kind;  // "tool" or "question"
  std::string tool;
  std::string request;  // the approval request object (JSON)
  std::string state;    // pending | resolved
  std::string decision;  // allow | deny | cancelled
  std::string decided_by;
  std::string reason;
  std::string updated_input;  // JSON or empty
  int64_t created_ms = 0;
  int64_t resolved_ms = 0;
  bool interrupt = false;  // deny and end the turn (not stored; only travels to claude)
};

// A holder (ccmux-shim, issue 13) and the spool position up to which its claude's stdout is
// stored as events: written in the same transaction as those events.
struct HolderRow {
  std::string instance;  // its name: socket <holders>/<instance>.sock
  std::string session;   // "" while it is a warm process no session took
  std::string spool;     // its spool directory
  uint64_t segment = 1, offset = 0;
  int64_t started_ms = 0;
  double cost_base = 0;  // the session's cost before this claude process (claude counts per process)
};

struct PromptRow {
  int64_t id = 0;
  std::string session;
  std::string content;  // JSON: a string or an array of content blocks
  std::string state;    // queued | sent | done
  int64_t created_ms = 0;
};

class Store {
 public:
  static constexpr int kSchemaVersion = 5;

  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void commit();  // ends the open batch transaction, if any
  // `before` runs inside every transaction just before it commits (it may write into it),
  // `after` once it has committed. One of each (the supervisor's holders).
  void set_commit_hooks(std::function<void()> before, std::function<void()> after) {
    before_commit_ = std::move(before);
    after_commit_ = std::move(after);
  }

  void append_event(std::string_view session, uint64_t seq, int64_t ts_ms, std::string_view kind,
                    std::string_view payload);
  // Calls fn for events seq in [from_seq, to_seq], at most `limit`; returns the count.
  using EventFn = std::function<void(uint64_t seq, int64_t ts_ms, std::string_view kind, std::string_view payload)>;
  size_t read_events(const std::string& session, uint64_t from_seq, uint64_t to_seq, size_t limit, const EventFn& fn);

  // A new session: false (nothing written) when the id is taken.
  bool insert_session(const SessionRow& s);
  void upsert_session(const SessionRow& s);
  std::vector<SessionRow> load_sessions();

  // Writes an approval; throws rather than replace another approval's row (same id,
  // different session, claude request or creation time).
  void upsert_approval(const ApprovalRow& a);
  bool approval_exists(const std::string& id);
  std::optional<ApprovalRow> get_approval(const std::string& id);
  std::vector<ApprovalRow> list_approvals(bool pending_only, size_t limit);
  // A session's approvals created at or after `since_ms`, oldest first (any state).
  std::vector<ApprovalRow> session_approvals(const std::string& session, int64_t since_ms);
  // Pending for a human, or still with the policies ("deciding"), oldest first.
  std::vector<ApprovalRow> unresolved_approvals();

  void holder_insert(const HolderRow& h);
  void holder_set_session(const std::string& instance, const std::string& session, double cost_base);
  void holder_set_position(const std::string& instance, uint64_t segment, uint64_t offset);
  void holder_delete(const std::string& instance);
  std::vector<HolderRow> load_holders();

  void worktree_upsert(const WorktreeRow& w);
  std::vector<WorktreeRow> worktree_list();  // by repo, then name
  bool worktree_delete(const std::string& path);

  int64_t add_prompt(const std::string& session, const std::string& content, int64_t ts_ms);
  void set_prompt_state(int64_t id, const std::string& state);
  std::vector<PromptRow> open_prompts(const std::string& session);  // queued or sent, oldest first

  void kv_set(const std::string& plugin, const std::string& key, std::string_view value);
  std::optional<std::string> kv_get(const std::string& plugin, const std::string& key);
  void kv_delete(const std::string& plugin, const std::string& key);

  struct TokenRow {
    std::string name;
    int64_t created_ms;
    int64_t last_used_ms;
  };
  void token_insert(const std::string& name, const std::string& hash, int64_t ts_ms);
  std::vector<TokenRow> token_list();
  bool token_delete(const std::string& name);
  std::optional<std::string> token_find(const std::string& hash);  // name
  void token_touch(const std::string& name, int64_t ts_ms);

  // Client certificates (auth/client_certs.h): what was signed, never the key.
  struct CertRow {
    std::string serial;       // lowercase hex
    std::string name;         // the CN
    std::string fingerprint;  // SHA-256 of the DER, lowercase hex
    int64_t created_ms = 0;
    int64_t not_after_ms = 0;
    int64_t last_used_ms = 0;
    int64_t revoked_ms = 0;  // 0: not revoked
  };
  void cert_insert(const CertRow& c);
  std::vector<CertRow> cert_list();  // oldest first, revoked ones too
  std::optional<CertRow> cert_find(const std::string& fingerprint);
  bool cert_name_live(const std::string& name);  // an unrevoked certificate has this name
  bool cert_revoke(const std::string& name, int64_t ts_ms);  // false: none unrevoked
  void cert_touch(const std::string& serial, int64_t ts_ms);

  // decision -> count over every resolved approval ("pending" for open ones).
  std::map<std::string, int64_t> approval_outcomes();

  int schema_version();

 private:
  void exec(const char* sql);
  void begin();
  // One-off statements: bind args in order (strings or int64_t), step, finalize.
  // write() joins the batch transaction and returns the number of changed rows.
  template <class... A>
  int write(const char* sql, const A&... args);
  template <class... A>
  void read(const char* sql, const std::function<void(sqlite3_stmt*)>& row, const A&... args);
  Statement prepare(const char* sql);  // persistent, kept for the connection's life
  void migrate();
  // The constructor's work after the file is open.
  void prepare_open_store(const std::string& path);
  void stop_checkpointer() noexcept;  // joins the checkpoint thread (destructor, failed open)

  // WAL checkpoints (which fsync) run on a thread with its own connection, so the
  // loop thread never waits for one; the WAL hook tells it when the log has grown.
  void checkpointer(std::string path);
  static int on_wal_commit(void* self, sqlite3*, const char*, int pages);

  Connection db_;  // first member: closed last, after every Statement below
  bool in_tx_ = false;
  std::function<void()> before_commit_, after_commit_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool stopping_ = false;
  Statement insert_event_;
  Statement read_events_;
  Statement insert_session_;
  Statement upsert_session_;
  Statement upsert_approval_;
};

}  // namespace ccmux
