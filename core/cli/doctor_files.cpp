// `ccmux doctor`: files ccmux relies on: TLS certificates, Claude Code's hook settings, the store.
#include "doctor_checks.h"
#include "hook_files.h"
#include "hook_settings.h"
#include "run_program.h"
#include "util.h"

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/x509_crt.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace ccmux::cli {

namespace fs = std::filesystem;

namespace {

constexpr int kCertWarnDays = 30;

std::string date(time_t t) {
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d", gmtime(&t));
  return buf;
}

time_t to_time(const mbedtls_x509_time& x) {
  tm t{};
  t.tm_year = x.year - 1900;
  t.tm_mon = x.mon - 1;
  t.tm_mday = x.day;
  t.tm_hour = x.hour;
  t.tm_min = x.min;
  t.tm_sec = x.sec;
  return timegm(&t);
}

struct CertFile {
  std::string path;
  std::string why;  // "ccmux certs init" or "plugin transport-ws, tls_cert"
};

// `ccmux certs init` again for the same folder and names.
std::string renew_fix(const std::string& dir, const std::vector<std::string>& hosts) {
  std::string cmd = "ccmux certs init --force --dir " + dir;
  for (auto& h : hosts) cmd += " --host " + h;
  return cmd + "   (then trust the new ca.crt on your devices)";
}

Finding check_cert(const CertFile& c, time_t now) {
  Finding f{"certs", Level::ok, "", ""};
  std::string dir = fs::path(c.path).parent_path().string();
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int rc = mbedtls_x509_crt_parse_file(&crt, c.path.c_str());
  if (rc != 0) {
    char err[200];
    mbedtls_strerror(rc, err, sizeof err);
    mbedtls_x509_crt_free(&crt);
    std::error_code ec;
    f.level = Level::problem;
    f.message = c.path + " (" + c.why + ") " + (fs::exists(c.path, ec) ? "is not a readable certificate: " + std::string(err) : "does not exist");
    f.fix = renew_fix(dir, {});
    return f;
  }
  std::vector<std::string> hosts;
  for (const mbedtls_x509_sequence* s = &crt.subject_alt_names; s && s->buf.p; s = s->next)
    if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
      hosts.emplace_back(reinterpret_cast<const char*>(s->buf.p), s->buf.len);
  time_t from = to_time(crt.valid_from), to = to_time(crt.valid_to);
  bool is_ca = crt.ca_istrue != 0;
  mbedtls_x509_crt_free(&crt);
  std::string what = c.path + (is_ca ? " (CA" : " (") + (is_ca ? ", " : "") + c.why + ")";
  f.fix = renew_fix(dir, hosts);
  long days = static_cast<long>((to - now) / 86400);
  if (now < from) {
    f.level = Level::problem;
    f.message = what + " is not valid before " + date(from) + " (is the clock right?)";
  } else if (to <= now) {
    f.level = Level::problem;
    f.message = what + " expired on " + date(to);
  } else if (days < kCertWarnDays) {
    f.level = Level::warning;
    f.message = what + " expires on " + date(to) + ", in " + std::to_string(days) + " days";
  } else {
    f.message = what + " valid until " + date(to) + " (" + std::to_string(days) + " days)";
    f.fix.clear();
  }
  return f;
}

std::string human_size(int64_t bytes) {
  char buf[32];
  if (bytes >= (1 << 20)) snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  else snprintf(buf, sizeof buf, "%.0f KB", static_cast<double>(bytes) / 1024);
  return buf;
}

}  // namespace

std::vector<Finding> check_certs(const Config& cfg, const std::string& default_dir, time_t now) {
  std::vector<CertFile> files;
  std::error_code ec;
  for (const char* name : {"ca.crt", "server.crt"})
    if (fs::exists(default_dir + "/" + name, ec)) files.push_back({default_dir + "/" + name, "ccmux certs init"});
  for (auto& p : cfg.plugins) {
    if (!p.enabled || !p.node.IsMap()) continue;
    for (const char* key : {"tls_cert", "tls_ca"}) {
      YAML::Node v = p.node[key];
      if (!v || !v.IsScalar() || v.Scalar().empty()) continue;
      std::string path = expand_home(v.Scalar());
      if (std::none_of(files.begin(), files.end(), [&](const CertFile& f) { return f.path == path; }))
        files.push_back({path, "plugin " + p.name + ", " + key});
    }
  }
  if (files.empty())
    return {{"certs", Level::ok, "none (remote transports over TLS need them: ccmux certs init --host NAME)", ""}};
  std::vector<Finding> out;
  for (auto& f : files) out.push_back(check_cert(f, now));
  return out;
}

Finding check_hooks(const std::string& settings_path) {
  Finding f{"hooks", Level::ok, "", ""};
  FileRead file;
  try {
    file = read_file_at(settings_path, true);
  } catch (const std::exception& e) {
    f.level = Level::warning;
    f.message = std::string("cannot read Claude Code's settings: ") + e.what();
    return f;
  }
  HooksFound found = find_ccmux_hooks(file.exists ? file.text : "");
  if (!found.ok) {
    f.level = Level::warning;
    f.message = settings_path + ": " + found.error + " (Claude Code cannot read it either)";
    f.fix = "correct " + settings_path + ", then: ccmux hooks install";
    return f;
  }
  if (found.commands.empty()) {
    f.level = Level::note;
    f.message = "not installed (optional: they route a claude you start by hand through ccmux)";
    f.fix = "ccmux hooks install";
    return f;
  }
  for (auto& cmd : found.commands) {
    std::string program = hook_program(cmd);
    if (program.find('/') == std::string::npos) program = find_on_path(program);
    struct stat st {};
    if (program.empty() || stat(program.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || access(program.c_str(), X_OK) != 0) {
      f.level = Level::problem;
      f.message = "the hooks in " + settings_path + " run " + hook_program(cmd) +
                  ", which is not an executable file: Claude Code's tool calls fail their hook";
      f.fix = "ccmux hooks install   (points them at this ccmux's ccmux-hook)";
      return f;
    }
  }
  std::string runs = hook_program(found.commands.front());
  size_t total = sizeof kHookEvents / sizeof kHookEvents[0];
  if (!found.stray.empty()) {
    f.level = Level::warning;
    f.message = "a ccmux hook under " + found.stray.front() + " in " + settings_path +
                ", an event ccmux does not install (Claude Code never runs it)";
    f.fix = "ccmux hooks install   (rewrites ccmux's hooks, removing that one)";
  } else if (found.events.size() < total) {
    std::string missing;
    for (const char* ev : kHookEvents)
      if (std::find(found.events.begin(), found.events.end(), ev) == found.events.end())
        missing += (missing.empty() ? "" : ", ") + std::string(ev);
    f.level = Level::warning;
    f.message = std::to_string(found.events.size()) + " of " + std::to_string(total) + " hooks in " + settings_path +
                " (missing: " + missing + ")";
    f.fix = "ccmux hooks install";
  } else {
    f.message = std::to_string(total) + "/" + std::to_string(total) + " installed in " + settings_path + ", running " + runs;
  }
  return f;
}

Finding check_store(const std::string& db_path) {
  Finding f{"store", Level::ok, "", ""};
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    f.level = Level::note;
    f.message = "no store yet at " + db_path + " (ccmuxd makes it when it first starts)";
    return f;
  }
  if (access(db_path.c_str(), R_OK) != 0) {
    f.level = Level::note;
    f.message = "not checked: " + db_path + " is not readable by you (ccmuxd runs as another user?)";
    return f;
  }
  int64_t size = static_cast<int64_t>(fs::file_size(db_path, ec));
  int64_t wal = static_cast<int64_t>(fs::file_size(db_path + "-wal", ec));
  if (ec) wal = 0;
  // Read-only: never writes, checkpoints or truncates the WAL of a ccmuxd that runs.
  sqlite3* db = nullptr;
  std::vector<std::string> errors;
  int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(10)", -1, &st, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      auto* t = sqlite3_column_text(st, 0);
      std::string row = t ? reinterpret_cast<const char*>(t) : "";
      std::replace(row.begin(), row.end(), '\n', ' ');  // "*** in database main ***\nPage 11: ..."
      if (row != "ok") errors.push_back(row);
      rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK) errors.push_back(sqlite3_errmsg(db));
    sqlite3_finalize(st);
  } else {
    errors.push_back(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
  sqlite3_close(db);
  std::string sizes = human_size(size) + (wal > 0 ? " + " + human_size(wal) + " WAL" : "");
  if (errors.empty()) {
    f.message = db_path + ": " + sizes + ", quick_check ok";
    return f;
  }
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    f.level = Level::warning;
    f.message = db_path + ": " + sizes + ", not checked: busy (" + errors.front() + ")";
    return f;
  }
  std::string what;
  for (size_t i = 0; i < errors.size() && i < 3; ++i) what += (i ? "; " : "") + errors[i];
  f.level = Level::problem;
  f.message = db_path + " (" + sizes + ") is damaged: " + what;
  f.fix = "stop ccmuxd; mv " + db_path + " " + db_path + ".damaged (ccmuxd starts a new, empty store; " +
          "sqlite3's .recover may get sessions back from the old one)";
  return f;
}

}  // namespace ccmux::cli
