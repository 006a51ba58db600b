// Session methods: where sessions may start, their lifecycle, and their events (subscribe
// and unsubscribe, kept by the asking ProtocolClient; event.payload for events stored cut).
#include "protocol/builtin_methods.h"

#include "daemon/core.h"
#include "protocol/protocol_client.h"
#include "unique_fd.h"

#include <mbedtls/base64.h>

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace ccmux {

using nlohmann::json;

namespace {

// The project roots and their immediate sub-folders: where a remote client may start a session.
json projects(const Core& core) {
  namespace fs = std::filesystem;
  json roots = json::array();
  for (const auto& root : core.config.project_roots) {
    json folders = json::array();
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || !it->is_directory(ec)) continue;
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    if (names.size() > 500) names.resize(500);  // a phone needs a short list, not a home directory dump
    for (auto& n : names) folders.push_back(root + "/" + n);
    roots.push_back({{"root", root}, {"folders", folders}});
  }
  return {{"roots", roots}};
}

// A piece of the whole payload of an event that was stored cut (over claude.max_event_bytes),
// as base64: the bytes are claude's, and a piece may end inside a UTF-8 sequence.
json event_payload(Core& core, const Fields& p) {
  std::string session = p.required_str("session");
  if (!core.supervisor->exists(session)) throw CommandError("not_found", "no session " + session);
  auto seq = static_cast<uint64_t>(p.integer("seq", 0, 1));
  auto offset = static_cast<size_t>(p.integer("offset", 0, 0));
  auto length = static_cast<size_t>(p.integer("length", 1 << 20, 1, 4 << 20));
  const EventCap* cap = core.bus->cap();
  std::string path = cap ? cap->file_for(session, seq) : "";
  // Never through a symlink: the file is ccmuxd's own, under its state dir.
  UniqueFd fd(path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (fd && (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))) fd.reset();
  if (!fd)
    throw CommandError("not_found", "no whole payload is kept for event " + std::to_string(seq) + " of " + session +
                                        " (only events over claude.max_event_bytes have one; their ccmux_truncated "
                                        "says file_error when it could not be written)");
  auto size = static_cast<size_t>(st.st_size);
  std::string data(offset < size ? std::min(length, size - offset) : 0, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = pread(fd.get(), data.data() + got, data.size() - got, static_cast<off_t>(offset + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  fd.reset();
  data.resize(got);
  std::string b64(4 * ((got + 2) / 3) + 1, '\0');
  size_t written = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(b64.data()), b64.size(), &written,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size());
  b64.resize(written);
  return {{"session", session}, {"seq", seq}, {"bytes", size}, {"offset", offset}, {"data", b64}};
}

Param session_param(const char* meaning = "a session id") {
  return {.name = "session", .required = true, .meaning = meaning};
}

// claude answers interrupt and set_permission_mode later: its error becomes claude_error.
MethodDone claude_reply(const MethodDone& done, const char* fallback) {
  return [done, fallback](bool ok, const json& r) {
    done(ok, ok ? r : json{{"code", "claude_error"}, {"message", r.value("error", fallback)}});
  };
}

const char* const kSession = "the session object (docs/protocol.md, Objects)";

}  // namespace

void add_session_methods(MethodRegistry& r) {
  add_builtin(r, {.name = "projects.list",
                  .result = "{roots: [{root, folders: [path]}]}: where session.new may start",
                  .handler = [](Call& c, const MethodDone& done) { done(true, projects(c.core)); }});
  add_builtin(r, {.name = "session.new",
                  .params = {{.name = "cwd", .meaning = "a folder under a project root (default ~)"},
                             {.name = "prompt", .type = ParamType::any,
                              .meaning = "a first prompt: a non-empty string or array of content blocks"},
                             {.name = "model", .meaning = "claude's --model (default: the config's)"},
                             {.name = "permission_mode",
                              .meaning = "default, acceptEdits, plan, bypassPermissions, dontAsk or auto"},
                             {.name = "worktree",
                              .meaning = "NAME: run in the git worktree NAME of the repository holding cwd (made when "
                                         "missing, reused when no live session uses it)"},
                             {.name = "branch",
                              .meaning = "with worktree: the branch to check out (local, else origin/<branch>, else "
                                         "created from `from`; default ccmux/NAME)"},
                             {.name = "from", .meaning = "with worktree: where a new branch starts (default HEAD)"}},
                  .result = kSession,
                  .handler = [](Call& c, const MethodDone& done) {
                    // "" counts as absent: a form's empty field.
                    if (!c.p.str("worktree").empty()) return new_session_in_worktree(c, done);
                    if (!c.p.str("branch").empty() || !c.p.str("from").empty())
                      throw CommandError("bad_params", "branch and from go with worktree (a NAME)");
                    Supervisor& sup = *c.core.supervisor;
                    std::string id = sup.create(c.p.str("cwd"), c.p.any("prompt"), c.p.str("model"), c.p.str("permission_mode"));
                    done(true, sup.info(id));
                  }});
  add_builtin(r, {.name = "session.list",
                  .result = "{sessions: [session]}",
                  .handler = [](Call& c, const MethodDone& done) { done(true, {{"sessions", c.core.supervisor->list()}}); }});
  add_builtin(r, {.name = "session.get",
                  .params = {session_param()},
                  .result = kSession,
                  .handler = [](Call& c, const MethodDone& done) {
                    done(true, c.core.supervisor->info(c.p.required_str("session")));
                  }});
  add_builtin(r, {.name = "session.send",
                  .params = {session_param(),
                             {.name = "prompt", .type = ParamType::any, .required = true,
                              .meaning = "a non-empty string or array of content blocks"}},
                  .result = "{prompt_id, session}: queued, delivered when the current turn ends",
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string id = c.p.required_str("session");
                    int64_t pid = c.core.supervisor->send(id, c.p.any("prompt"));
                    done(true, {{"prompt_id", pid}, {"session", id}});
                  }});
  add_builtin(r, {.name = "session.resume",
                  .params = {session_param()},
                  .result = kSession,
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string id = c.p.required_str("session");
                    c.core.supervisor->resume(id);
                    done(true, c.core.supervisor->info(id));
                  }});
  add_builtin(r, {.name = "session.stop",
                  .params = {session_param()},
                  .result = "{}",
                  .handler = [](Call& c, const MethodDone& done) {
                    c.core.supervisor->stop(c.p.required_str("session"));
                    done(true, json::object());
                  }});
  add_builtin(r, {.name = "session.interrupt",
                  .params = {session_param()},
                  .result = "claude's reply to interrupt (later: waits for claude)",
                  .handler = [](Call& c, const MethodDone& done) {
                    c.core.supervisor->interrupt(c.p.required_str("session"), claude_reply(done, "interrupt failed"));
                  }});
  add_builtin(r, {.name = "session.mode",
                  .params = {session_param(),
                             {.name = "mode", .required = true,
                              .meaning = "default, acceptEdits, plan, bypassPermissions, dontAsk or auto"}},
                  .result = "{mode} (claude's set_permission_mode reply; later: waits for claude)",
                  .handler = [](Call& c, const MethodDone& done) {
                    c.core.supervisor->set_mode(c.p.required_str("session"), c.p.required_str("mode"),
                                                claude_reply(done, "mode change failed"));
                  }});
  add_builtin(r, {.name = "subscribe",
                  .params = {{.name = "session", .meaning = "a session id, or \"*\": every session, live events only"},
                             {.name = "from_seq", .type = ParamType::integer, .meaning = "the first seq (default 1)",
                              .min = 0}},
                  .result = "{session, subscription, head}, then events carrying that subscription id",
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string session = c.p.str("session");
                    auto from = static_cast<uint64_t>(c.p.integer("from_seq", 1, 0));
                    Core& core = c.core;
                    if (session != "*" && !core.supervisor->exists(session))
                      throw CommandError("not_found", "no session " + session);
                    ProtocolClient& client = c.client;
                    // Answered first so the client knows the id and the head before the replay arrives.
                    core.bus->subscribe(session, from, &client, [&](uint64_t sub) {
                      client.track_subscription(sub, session);
                      done(true, {{"session", session}, {"subscription", sub},
                                  {"head", session == "*" ? 0 : core.bus->head(session)}});
                    });
                  }});
  add_builtin(r, {.name = "unsubscribe",
                  .params = {{.name = "session", .meaning = "ends this client's subscriptions to it"}},
                  .result = "{}",
                  .handler = [](Call& c, const MethodDone& done) {
                    c.client.drop_subscriptions(c.p.str("session"));
                    done(true, json::object());
                  }});
  add_builtin(r, {.name = "event.payload",
                  .params = {session_param(),
                             {.name = "seq", .type = ParamType::integer, .required = true,
                              .meaning = "an event stored cut (over claude.max_event_bytes)", .min = 1},
                             {.name = "offset", .type = ParamType::integer, .meaning = "the first byte (default 0)",
                              .min = 0},
                             {.name = "length", .type = ParamType::integer, .meaning = "bytes (default 1 MiB)",
                              .min = 1, .max = 4 << 20}},
                  .result = "{session, seq, bytes, offset, data}: data is base64 of the piece",
                  .handler = [](Call& c, const MethodDone& done) { done(true, event_payload(c.core, c.p)); }});
}

}  // namespace ccmux
