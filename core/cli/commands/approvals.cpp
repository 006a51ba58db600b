// `ccmux approvals|approve|deny|answer` (the daemon's approvals) and `ccmux autonomy|forget`,
// `approvals --learned` (the approval plugin's methods). An approval id "MACHINE/a-…" goes to
// MACHINE directly when hosts.yaml names it, else to the local daemon's fleet (Context::routed).
#include "commands.h"
#include "render.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

namespace ccmux::cli {

using nlohmann::json;

namespace {

const char* kLevels[] = {"observe: learn only", "suggest: hints on approvals", "auto: read-only + learned patterns",
                         "trust: everything a policy does not deny"};

int list_approvals(client::Connection& c, bool all, bool json_out) {
  json r = c.request("approvals.list", {{"all", all}});
  if (json_out) {
    std::cout << r["approvals"].dump(2) << "\n";
    return 0;
  }
  if (r["approvals"].empty()) std::cout << "no " << (all ? "" : "pending ") << "approvals\n";
  for (auto& a : r["approvals"]) {
    std::cout << Renderer::approval_line(a);
    if (a.value("state", "") == "resolved") std::cout << "  -> " << a.value("decision", "") << " by " << a.value("decided_by", "");
    std::cout << "\n";
  }
  return 0;
}

int learned(client::Connection& c, bool json_out) {
  json r = c.request("approval.learned");
  if (json_out) {
    std::cout << r.dump(2) << "\n";
    return 0;
  }
  std::cout << "autonomy " << r.value("level", 0) << "\n";
  if (r["patterns"].empty()) std::cout << "no learned patterns yet\n";
  for (auto& p : r["patterns"]) {
    char conf[16];
    std::snprintf(conf, sizeof conf, "%.2f", p.value("confidence", 0.0));
    // BLOCKED: kept from an earlier version or list, but today's rules never let it approve.
    const char* mark = p.value("blocked", false) ? "BLOCKED " : p.value("auto", false) ? "AUTO " : "     ";
    std::cout << mark << p.value("pattern", "") << "\t" << p.value("approvals", 0)
              << " approvals since last denial, " << p.value("denials", 0) << " denials, confidence " << conf
              << (p.value("always", false) ? ", always" : "") << "\te.g. " << p.value("last_example", "") << "\n";
  }
  return 0;
}

// `shown`: the id as typed (MACHINE/a-… stays so in what is printed); `id`: as sent.
int answer(client::Connection& c, const std::string& id, const std::string& shown, const std::string& decision,
           const std::string& reason, const json& answers, bool interrupt) {
  json params = {{"id", id}, {"decision", decision}, {"by", "cli"}};
  if (!reason.empty()) params["reason"] = reason;
  if (!answers.is_null()) params["answers"] = answers;
  if (interrupt) params["interrupt"] = true;
  json res = c.request("approval.answer", params);
  if (res.value("status", "") == "already_resolved") {
    std::cout << shown << ": " << res.value("message", "already resolved") << "\n";
    return 0;
  }
  std::cout << shown << ": " << decision << "\n";
  return 0;
}

// `ccmux answer ID LABEL`: without --question, the pending approval's first question.
int answer_question(client::Connection& c, const std::string& id, const std::string& shown, const std::string& label,
                    std::string question) {
  if (question.empty()) {
    json pending = c.request("approvals.list")["approvals"];
    for (auto& a : pending)
      if (a.value("id", "") == id && !a.value("questions", json::array()).empty())
        question = a["questions"][0].value("question", "");
  }
  if (question.empty()) {
    std::cerr << "no pending question " << shown << " (use --question TEXT)\n";
    return 1;
  }
  return answer(c, id, shown, "allow", "", json{{question, label}}, false);
}

const char* const kApprovalArg = "a-…, or MACHINE/a-… (MACHINE of hosts.yaml: asked directly; else the local daemon's fleet)";

// Where an approval id goes (see Context::routed): the connection, and the id to send it.
std::pair<std::unique_ptr<client::Connection>, std::string> approval_target(const Context& ctx, const std::string& shown) {
  std::string id = shown;
  Context to = ctx.routed(id);
  return {to.connect(), id};
}

struct Options {
  std::string id, reason, label, question, pattern;
  bool all = false, json_out = false, learned = false, stop_turn = false;
  int autonomy_level = -1;
};

}  // namespace

void add_approval_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();

  auto* approvals = c.add(nullptr, "approvals", "list pending approvals", [o, &ctx] {
    return o->learned ? learned(*ctx.connect(), o->json_out) : list_approvals(*ctx.connect(), o->all, o->json_out);
  });
  approvals->add_flag("--all", o->all, "include resolved ones (audit)");
  approvals->add_flag("--json", o->json_out, "print JSON");
  approvals->add_flag("--learned", o->learned, "learned patterns of the approval plugin, with their counts");

  auto* autonomy = c.add(nullptr, "autonomy", "show or set the approval plugin's autonomy level (0-3)", [o, &ctx] {
    auto conn = ctx.connect();
    json r = o->autonomy_level >= 0 ? conn->request("autonomy.set", {{"level", o->autonomy_level}})
                                    : conn->request("autonomy.get");
    int l = r.value("level", 0);
    std::cout << "autonomy " << l << " (" << (l >= 0 && l <= 3 ? kLevels[l] : "?") << ")\n";
    return 0;
  });
  autonomy->add_option("level", o->autonomy_level, "0 observe, 1 suggest, 2 auto-approve read-only and learned, 3 trust")
      ->check(CLI::Range(0, 3));

  auto* forget = c.add(nullptr, "forget", "forget a learned approval pattern", [o, &ctx] {
    json r = ctx.connect()->request("approval.forget", {{"pattern", o->pattern}});
    if (!r.value("forgotten", false)) {
      std::cerr << "no learned pattern '" << o->pattern << "' (see: ccmux approvals --learned)\n";
      return 1;
    }
    std::cout << "forgot " << o->pattern << "\n";
    return 0;
  });
  forget->add_option("pattern", o->pattern, "as `ccmux approvals --learned` prints it, e.g. 'Bash:git status'")->required();

  auto* approve = c.add(nullptr, "approve", "allow a pending tool call", [o, &ctx] {
    auto [conn, id] = approval_target(ctx, o->id);
    return answer(*conn, id, o->id, "allow", o->reason, nullptr, false);
  });
  approve->add_option("id", o->id, kApprovalArg)->required();
  approve->add_option("--reason", o->reason);
  auto* deny = c.add(nullptr, "deny", "deny a pending tool call", [o, &ctx] {
    auto [conn, id] = approval_target(ctx, o->id);
    return answer(*conn, id, o->id, "deny", o->reason, nullptr, o->stop_turn);
  });
  deny->add_option("id", o->id, kApprovalArg)->required();
  deny->add_option("--reason", o->reason);
  deny->add_flag("--stop", o->stop_turn, "also end the turn");
  auto* answ = c.add(nullptr, "answer", "answer a question (AskUserQuestion)", [o, &ctx] {
    auto [conn, id] = approval_target(ctx, o->id);
    return answer_question(*conn, id, o->id, o->label, o->question);
  });
  answ->add_option("id", o->id, kApprovalArg)->required();
  answ->add_option("label", o->label, "the chosen option's label (or free text)")->required();
  answ->add_option("--question", o->question, "which question (default: the first)");
}

}  // namespace ccmux::cli
