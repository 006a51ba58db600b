#include "bash_pattern.h"

#include "danger.h"
#include "paths.h"
#include "shell_words.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <set>

namespace ccmux::approval {

namespace {

// Programs whose first word is a sub-command: learned as "git status", never as "git".
const std::set<std::string> kMultiCommand = {"git",   "npm",    "npx",     "yarn",   "pnpm",  "cargo", "go",
                                              "docker", "kubectl", "pip",    "pip3",  "make",  "cmake", "gh",
                                              "apt",   "apt-get", "brew",   "systemctl", "dotnet", "mvn", "gradle",
                                              "bundle", "rake",   "poetry", "uv",    "deno",  "bun",   "terraform"};

// Sub-commands whose first argument picks what they do (git stash drop, npm run deploy, every
// gh command): their positional arguments are part of the pattern.
const std::set<std::string> kNested = {
    "git stash",     "git remote",     "git worktree",     "git submodule",  "git reflog",   "git bisect",
    "git notes",     "git lfs",        "git sparse-checkout", "docker system", "docker container",
    "docker image",  "docker volume",  "docker network",   "docker compose", "docker builder", "docker buildx",
    "docker context", "npm run",       "npm run-script",   "npm cache",      "npm config",   "pnpm run",
    "yarn run",      "bun run",        "kubectl config",   "kubectl rollout",
    // installing is running someone's code: which package is part of the pattern
    "npm install", "npm i", "npm add", "pnpm add", "pnpm install", "pnpm i", "yarn add", "bun add", "bun install",
    "pip install", "pip3 install", "uv add", "uv pip", "poetry add", "cargo install", "cargo add", "go install",
    "go get", "gem install", "brew install", "apt install", "apt-get install"};

// Programs whose first argument is a program (a sed script, a python file): the whole line is
// the pattern, since `sed -n '1e rm …'` has the flags of `sed -n 1p`.
const std::set<std::string> kCodeTaking = {"sed",  "awk", "gawk", "mawk",    "nawk",      "perl",  "python",
                                           "ruby", "node", "php", "lua",     "Rscript",   "tclsh", "osascript"};

bool is_assignment(const std::string& w) {
  auto eq = w.find('=');
  if (eq == std::string::npos || eq == 0 || std::isdigit(static_cast<unsigned char>(w[0]))) return false;
  for (size_t i = 0; i < eq; ++i)
    if (!std::isalnum(static_cast<unsigned char>(w[i])) && w[i] != '_') return false;
  return true;
}

bool alnum(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(s[i]))) return false;
  return from < s.size();
}

struct Flag {
  std::string name, value;  // value: "=x" of --long=x, or what is glued to a short one (-o/etc/x)
};

std::optional<Flag> split_flag(const std::string& w) {
  if (w.rfind("--", 0) == 0) {
    auto eq = w.find('=');
    std::string name = w.substr(0, eq);
    for (size_t i = 2; i < name.size(); ++i)
      if (!std::isalnum(static_cast<unsigned char>(name[i])) && name[i] != '-' && name[i] != '_') return std::nullopt;
    return Flag{name, eq == std::string::npos ? "" : w.substr(eq + 1)};
  }
  bool digits = w.size() > 1;
  for (size_t i = 1; i < w.size(); ++i) digits = digits && std::isdigit(static_cast<unsigned char>(w[i]));
  if (digits) return Flag{"-N", ""};  // head -20, git log -5
  if (alnum(w, 1)) return Flag{w, ""};
  size_t n = 1;
  while (n < w.size() && std::isalnum(static_cast<unsigned char>(w[n]))) ++n;
  if (n == 1) return std::nullopt;  // "-/x", "-.": not a flag we can read
  // -o/etc/x, and -output=/etc/x (Go and Java style: the value is after "=")
  return Flag{w.substr(0, n), w.substr(n + (w[n] == '=' ? 1 : 0))};
}

// Every file a word may name leads inside cwd (globs expanded the way the shell would).
bool word_inside(const ShellWord& w, const std::string& cwd) {
  if (!w.glob) return relative_inside(w.text, cwd).has_value();
  auto matches = glob_matches(w.pattern, w.text, cwd);
  if (!matches) return false;
  for (auto& m : *matches)
    if (!relative_inside(m, cwd)) return false;
  return true;
}

// A word as it appears in a pattern; quoted so that the pattern reads back as the same words
// (Learner re-checks stored patterns with bash_pattern).
std::string shown(const std::string& w) {
  bool plain = !w.empty();
  for (char c : w)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::string("._/:=,@%+^~-").find(c) != std::string::npos);
  if (plain) return w;
  if (w.find('\'') == std::string::npos) return "'" + w + "'";
  return nlohmann::json(w).dump();
}

}  // namespace

std::optional<std::string> bash_pattern(const std::string& command, const std::string& cwd) {
  auto words = shell_words(command);
  if (!words || words->empty() || cwd.empty() || cwd[0] != '/') return std::nullopt;
  const ShellWord& w0 = (*words)[0];
  if (w0.glob || w0.text.empty() || is_assignment(w0.text)) return std::nullopt;
  std::string program = w0.text;
  CommandShape shape;
  shape.program = program.substr(program.rfind('/') == std::string::npos ? 0 : program.rfind('/') + 1);
  // A program named by its path must be one of the project's own (./gradlew), not /usr/bin/x.
  if (program.find('/') != std::string::npos && !relative_inside(program, cwd)) return std::nullopt;
  std::string head = "Bash:" + shown(program);
  std::string family = program_family(shape.program);
  size_t i = 1;
  if (kMultiCommand.count(shape.program) || kMultiCommand.count(family)) {
    // "git -C x push" has no clear sub-command: it is not learned as "git".
    if (i >= words->size()) return std::nullopt;
    const ShellWord& s = (*words)[i];
    if (s.glob || s.text.empty() || s.text[0] == '-' || s.text.find('/') != std::string::npos) return std::nullopt;
    shape.sub = s.text;
    head += " " + shown(s.text);
    ++i;
  }
  bool nested = family == "gh" || kNested.count(family + " " + shape.sub);
  bool exact = kCodeTaking.count(family) > 0;
  std::set<std::string> flags;
  std::string rest;  // the words as written, for exact patterns
  for (size_t first = i; i < words->size(); ++i) {
    const ShellWord& w = (*words)[i];
    if (w.glob_first) return std::nullopt;  // `rm *` next to a file named "-rf" is `rm -rf …`
    rest += " " + shown(w.text);
    if (family == "tar" && i == first && alnum(" " + w.text, 1)) {  // tar xzf: old-style options, no dash
      flags.insert("-" + w.text);
      shape.flags.push_back("-" + w.text);
      continue;
    }
    if (w.text == "--") continue;  // options may still follow for many programs: keep reading them as flags
    if (w.text.size() > 1 && w.text[0] == '-') {
      if (w.glob) return std::nullopt;
      auto f = split_flag(w.text);
      if (!f) return std::nullopt;
      if (!f->value.empty() && !relative_inside(f->value, cwd)) return std::nullopt;
      flags.insert(f->name);
      shape.flags.push_back(f->name);
      continue;
    }
    if (!word_inside(w, cwd)) return std::nullopt;
    shape.positionals.push_back(w.text);
  }
  if (danger_of(shape)) return std::nullopt;
  if (exact) return head + rest;
  std::string key = head;
  if (nested)
    for (auto& p : shape.positionals) key += " " + shown(p);
  for (auto& f : flags) key += " " + f;
  return key;
}

}  // namespace ccmux::approval
