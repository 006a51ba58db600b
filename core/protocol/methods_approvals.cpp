// Approval methods: the pending and past approvals, answers from any client, and the hook
// `ccmux-hook` forwards from a Claude Code started by hand (local socket only).
#include "protocol/builtin_methods.h"

#include "daemon/core.h"

namespace ccmux {

using nlohmann::json;

void add_approval_methods(MethodRegistry& r) {
  add_builtin(r, {.name = "approvals.list",
                  .params = {{.name = "all", .type = ParamType::boolean, .meaning = "include resolved ones (the audit)"},
                             {.name = "limit", .type = ParamType::integer,
                              .meaning = "with all: the newest N (default 100)", .min = 1, .max = 10000}},
                  .result = "{approvals: [approval]} (pending only by default)",
                  .handler = [](Call& c, const MethodDone& done) {
                    bool all = c.p.boolean("all", false);
                    auto limit = static_cast<size_t>(c.p.integer("limit", 100, 1, 10000));
                    if (!all) return done(true, {{"approvals", c.core.pending_approvals_json()}});  // other machines' too
                    json arr = json::array();
                    for (auto& row : c.core.store->list_approvals(false, limit)) arr.push_back(ApprovalChain::row_json(row));
                    done(true, {{"approvals", arr}});
                  }});
  add_builtin(r, {.name = "approval.answer",
                  .params = {{.name = "id", .required = true, .meaning = "the approval's id"},
                             {.name = "decision", .required = true, .meaning = "allow or deny"},
                             {.name = "by", .meaning = "free text recorded in decided_by"},
                             {.name = "updated_input", .type = ParamType::object, .meaning = "allow with a changed input"},
                             {.name = "answers", .type = ParamType::object,
                              .meaning = "for questions: {question text: chosen label}"},
                             {.name = "reason", .meaning = "why (shown to claude on deny)"},
                             {.name = "interrupt", .type = ParamType::boolean, .meaning = "deny and end the turn"}},
                  .result = "{status: resolved | already_resolved, approval, message?}: the first answer stands",
                  .handler = [](Call& c, const MethodDone& done) {
                    const Fields& p = c.p;
                    std::string by = p.str("by");
                    // An input or answers of the wrong shape would be dropped silently further on: refused above.
                    json updated_input = p.has("updated_input") ? p.object("updated_input") : json();
                    json answers = p.has("answers") ? p.object("answers") : json();
                    auto res = c.core.approvals->answer(p.required_str("id"), p.required_str("decision"), p.str("reason"),
                                                        updated_input, answers,
                                                        by.empty() ? "client:" + c.who : "client:" + c.who + ":" + by,
                                                        p.boolean("interrupt", false));
                    switch (res.outcome) {
                      case ApprovalChain::Outcome::resolved:
                        return done(true, {{"status", "resolved"}, {"approval", ApprovalChain::row_json(res.row)}});
                      case ApprovalChain::Outcome::already_resolved:
                        // Not an error: the first answer stands and the caller learns which it was.
                        return done(true, {{"status", "already_resolved"},
                                           {"message", res.message},
                                           {"approval", ApprovalChain::row_json(res.row)}});
                      case ApprovalChain::Outcome::not_found:
                        throw CommandError("not_found", res.message);
                      case ApprovalChain::Outcome::invalid:
                        throw CommandError("bad_params", res.message);
                    }
                  }});
  // The hook runs as the daemon's user: only the owner-only local socket may speak for it.
  add_builtin(r, {.name = "hook.event",
                  .trust = Trust::local,
                  .params = {{.name = "input", .type = ParamType::object, .required = true,
                              .meaning = "a Claude Code hook's JSON: session_id, hook_event_name, cwd, permission_mode, "
                                         "tool_name, tool_use_id (strings), tool_input (object), "
                                         "permission_suggestions (array)",
                              .refuse = "input must be the hook's JSON (session_id, hook_event_name, …)"},
                             {.name = "wait_s", .type = ParamType::number,
                              .meaning = "PermissionRequest: how long to ask the humans (default 0: not at all)",
                              .min = 0.0, .max = 86400.0}},
                  .result = "{session, output}: output is the hook output for claude, or null (no decision)",
                  .forbidden = "hook.event is for `ccmux hook` over the local socket",
                  .handler = [](Call& c, const MethodDone& done) { c.core.hooks->handle(c.params, done); }});
}

}  // namespace ccmux
