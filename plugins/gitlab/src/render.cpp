#include "render.h"

#include <cstdio>
#include <regex>
#include <sstream>
#include <vector>

namespace ccmux::gitlab {


namespace {

std::string money(double usd) {
  char b[32];
  std::snprintf(b, sizeof b, "$%.4f", usd);
  return b;
}

// Quoted as a Markdown block quote, so a summary cannot close our own formatting.
std::string block_quote(const std::string& s) {
  std::string out = "> ";
  for (char c : s) {
    out += c;
    if (c == '\n') out += "> ";
  }
  return out;
}

// A fence longer than any run of backticks inside `s`.
std::string fence_for(const std::string& s) {
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

}  // namespace

std::string bounded(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\n… (cut: " + std::to_string(s.size() - cut) + " more bytes)";
}

std::string mr_context(const MrChanges& changes) {
  const MergeRequest& mr = changes.mr;
  std::ostringstream o;
  o << "You are working on GitLab merge request !" << mr.iid << " \"" << mr.title << "\" (" << mr.web_url
    << "), branch `" << mr.source_branch << "` into `" << mr.target_branch
    << "`. Your working directory is a git worktree on the MR's source branch; what you change there is committed "
       "and reported back on the MR when your turn ends.\n";
  if (!mr.description.empty()) o << "\nDescription:\n" << bounded(mr.description, kMaxDescription) << "\n";
  const auto& files = changes.files;
  if (!files.empty()) {
    o << "\nChanged files (" << files.size() << "):\n";
    std::string diffs;
    size_t n = 0;
    for (auto& f : files) {
      if (n++ == kMaxChangedFiles) {
        o << "- … and " << files.size() - kMaxChangedFiles << " more\n";
        break;
      }
      int added = 0, removed = 0;
      std::istringstream lines(f.diff);
      for (std::string l; std::getline(lines, l);) {
        if (l.rfind("+++", 0) == 0 || l.rfind("---", 0) == 0) continue;
        if (!l.empty() && l[0] == '+') ++added;
        if (!l.empty() && l[0] == '-') ++removed;
      }
      std::string what = f.new_file ? " (new)" : f.deleted_file ? " (deleted)"
                         : f.renamed_file ? " (renamed from " + f.old_path + ")" : "";
      o << "- " << f.new_path << what << " +" << added << " -" << removed << (f.diff_truncated ? " (diff cut)" : "") << "\n";
      if (diffs.size() < kMaxDiffSummary && !f.diff.empty())
        diffs += "--- " + f.new_path + "\n" + f.diff + (f.diff.back() == '\n' ? "" : "\n");
    }
    if (!diffs.empty()) {
      std::string cut = bounded(diffs, kMaxDiffSummary);
      o << "\nDiff summary" << (changes.truncated ? " (cut)" : "") << ":\n" << fence_for(cut) << "diff\n" << cut << "\n"
        << fence_for(cut) << "\n";
    }
  }
  o << "\nThe request from the MR's discussion follows.";
  return o.str();
}

std::string issue_context(const Issue& issue, const std::string& branch) {
  std::ostringstream o;
  o << "You are working on GitLab issue #" << issue.iid << " \"" << issue.title << "\" (" << issue.web_url
    << "). Your working directory is a git worktree on the new branch `" << branch
    << "`; what you change there is committed and reported back on the issue when your turn ends.\n";
  if (!issue.description.empty()) o << "\nDescription:\n" << bounded(issue.description, kMaxDescription) << "\n";
  o << "\nThe request from the issue's discussion follows.";
  return o.str();
}

std::string log_tail(const std::string& trace, int lines) {
  // ESC[…m colours and GitLab's "section_start:…" markers are noise to a reader.
  static const std::regex ansi("\x1b\\[[0-9;]*[A-Za-z]|section_(start|end):[0-9]+:[A-Za-z0-9_.-]+\r?");
  std::string clean = std::regex_replace(trace, ansi, "");
  std::vector<std::string> all;
  std::istringstream in(clean);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    all.push_back(l);
  }
  while (!all.empty() && all.back().empty()) all.pop_back();
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) out += all[i] + "\n";
  if (out.size() > kMaxLogTail) {
    size_t cut = out.size() - kMaxLogTail;
    while (cut < out.size() && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) ++cut;
    out = "… (earlier lines cut)\n" + out.substr(cut);
  }
  return out;
}

std::string pipeline_fix_prompt(long long pipeline_id, const std::string& ref, const std::string& job_name,
                                const std::string& stage, const std::string& tail) {
  std::ostringstream o;
  o << "Pipeline #" << pipeline_id << " on branch `" << ref << "` failed. The job `" << job_name << "`"
    << (stage.empty() ? "" : " (stage " + stage + ")") << " failed; the end of its log:\n\n"
    << fence_for(tail) << "\n" << tail << fence_for(tail) << "\n\n"
    << "Find the cause of this failure and fix it in the working directory (a git worktree on that branch). "
       "What you change is committed and reported back on the merge request when your turn ends.";
  return o.str();
}

std::string session_link(const std::string& page_url, const std::string& session) {
  return page_url.empty() ? "" : page_url + "/#s=" + session;
}

std::string start_note(const StartNote& n) {
  std::string who = n.link.empty() ? "`" + n.session + "`" : "[`" + n.session + "`](" + n.link + ")";
  if (n.follow_up) return "🤖 ccmux: sent to session " + who + "; the answer comes here when its turn ends.";
  std::string out = n.pipeline ? "🤖 ccmux: the pipeline failed; session " + who + " is looking into it"
                               : "🤖 ccmux: started session " + who;
  out += " in worktree `" + n.worktree + "` on branch `" + n.branch + "`.";
  if (!n.request.empty()) out += "\n\n" + block_quote(bounded(n.request, 500));
  return out;
}

std::string result_note(const ResultNote& n) {
  std::string who = n.link.empty() ? "`" + n.session + "`" : "[`" + n.session + "`](" + n.link + ")";
  std::ostringstream o;
  o << (n.is_error ? "⚠️ ccmux: session " + who + " ended its turn with an error"
                   : "✅ ccmux: session " + who + " finished its turn")
    << " · " << money(n.cost_usd) << " · " << n.num_turns << (n.num_turns == 1 ? " turn" : " turns") << "\n\n";
  std::string summary = n.summary.empty() ? "(no summary)" : bounded(n.summary, kMaxSummary);
  o << block_quote(summary) << "\n\n";
  const Publication& p = n.publication;
  if (p.commits.empty()) {
    o << "No changes to commit.";
  } else {
    o << (p.pushed ? "Commits pushed to `" + n.branch + "`:" : n.push ? "Commits (not pushed):" : "Commits (kept locally, `push: false`):")
      << "\n";
    for (auto& c : p.commits) o << "- " << c << "\n";
  }
  if (!p.error.empty()) o << "\n\n⚠️ " << bounded(p.error, 1500);
  if (!n.opened_mr.empty()) o << "\n\nOpened a merge request: " << n.opened_mr;
  return o.str();
}

std::string failed_note(const std::string& session, const std::string& reason) {
  return "❌ ccmux: session `" + session + "` failed: " + bounded(reason, 1000);
}

std::string refusal_note(const std::string& username) {
  return "🤖 Sorry @" + username +
         ", you are not allowed to start ccmux sessions here. A maintainer can add you to the plugin's "
         "`allowed_users` or `allowed_groups`.";
}

std::string commit_message(const std::string& what, const std::string& request, const std::string& session) {
  std::string first = request;
  if (auto nl = first.find('\n'); nl != std::string::npos) first = first.substr(0, nl);
  if (first.size() > 60) {
    size_t cut = 57;
    while (cut > 0 && (static_cast<unsigned char>(first[cut]) & 0xC0) == 0x80) --cut;
    first = first.substr(0, cut) + "…";
  }
  std::string subject = what + (first.empty() ? "" : ": " + first);
  return subject + "\n\n" + (request.empty() ? "" : "Request: " + bounded(request, 2000) + "\n\n") +
         "Made by ccmux session " + session + ".";
}

}  // namespace ccmux::gitlab
