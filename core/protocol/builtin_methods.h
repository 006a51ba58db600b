// The methods ccmuxd itself serves, one table per area (methods_*.cpp): each method's name,
// trust, params, result and handler in one place. Core::open registers them; the list is
// frozen in tests/abi/methods.frozen.json (tests/unit/methods_frozen_test.cpp).
#pragma once

#include "protocol/method_registry.h"

#include <stdexcept>

namespace ccmux {

void add_daemon_methods(MethodRegistry& r);    // ping, status, plugins.list, methods.list, token.*
void add_session_methods(MethodRegistry& r);   // projects.list, session.*, subscribe, unsubscribe, event.payload
void add_approval_methods(MethodRegistry& r);  // approvals.list, approval.answer, hook.event
void add_cert_methods(MethodRegistry& r);      // cert.issue, cert.list, cert.revoke
void add_worktree_methods(MethodRegistry& r);  // worktree.list, worktree.remove, worktree.prune

// session.new with a `worktree` (methods_worktrees.cpp): git runs off the loop, then the session starts.
void new_session_in_worktree(Call& c, const MethodDone& done);

inline void add_builtin_methods(MethodRegistry& r) {
  add_daemon_methods(r);
  add_session_methods(r);
  add_approval_methods(r);
  add_cert_methods(r);
  add_worktree_methods(r);
}

// A built-in name twice is a programming error, found at start-up.
inline void add_builtin(MethodRegistry& r, Method m) {
  std::string name = m.name;
  if (!r.add(std::move(m))) throw std::logic_error("built-in method " + name + " registered twice");
}

}  // namespace ccmux
