// Texts the plugin writes: the first prompt of a session (request + MR / issue / pipeline
// context, bounded) and the notes it posts back to GitLab. Pure functions, no I/O.
#pragma once

#include "git_ops.h"
#include "gitlab_api.h"

#include <string>

namespace ccmux::gitlab {

// Bounds: a prompt and a note stay readable (GitLab caps notes at 1 MB anyway).
constexpr size_t kMaxDescription = 4000;
constexpr size_t kMaxDiffSummary = 12000;
constexpr size_t kMaxChangedFiles = 200;
constexpr size_t kMaxSummary = 3000;
constexpr size_t kMaxLogTail = 8000;

// Cuts `s` to at most `max` bytes at a UTF-8 boundary, saying so.
std::string bounded(const std::string& s, size_t max);

// The context block of an MR session: title, branches, description, changed files (+/- line
// counts) and the diffs, bounded.
std::string mr_context(const MrChanges& changes);
// The context block of an issue session on its new branch.
std::string issue_context(const Issue& issue, const std::string& branch);
// The prompt asking to fix a failed pipeline: the job and the tail of its log.
std::string pipeline_fix_prompt(long long pipeline_id, const std::string& ref, const std::string& job_name,
                                const std::string& stage, const std::string& log_tail);
// The last `lines` lines of a job trace (ANSI colour codes and GitLab's section markers removed),
// at most kMaxLogTail bytes.
std::string log_tail(const std::string& trace, int lines);

// <page_url>/#s=<session>, or "" without a page_url.
std::string session_link(const std::string& page_url, const std::string& session);

struct StartNote {
  std::string session, worktree, branch, link, request;
  bool follow_up = false;  // sent to the session this MR already has
  bool pipeline = false;   // started by a failed pipeline
};
std::string start_note(const StartNote& n);

struct ResultNote {
  std::string session, link, summary, branch;
  bool is_error = false;
  double cost_usd = 0;
  int num_turns = 0;
  bool push = false;
  Publication publication;
  std::string opened_mr;  // an MR opened for an issue: its web_url
};
std::string result_note(const ResultNote& n);
std::string failed_note(const std::string& session, const std::string& reason);
std::string refusal_note(const std::string& username);
std::string commit_message(const std::string& what, const std::string& request, const std::string& session);

}  // namespace ccmux::gitlab
