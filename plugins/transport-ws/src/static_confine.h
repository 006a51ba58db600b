// static_root through lws' file mount, but only files inside it. The mount follows symlinks,
// so the context's file `open` is wrapped (lws README.coding.md: user code may "override or
// subclass the file operations"): a file whose resolved path is outside the root is closed
// again at once and lws answers 404.
#pragma once

#include <functional>
#include <string>

struct lws_context;

namespace ccmux::ws {

// Before serving starts. `refused` is told the path of each file kept out (any thread).
void confine_files(lws_context* ctx, const std::string& root, std::function<void(const std::string&)> refused);
// Before the context is destroyed.
void unconfine_files(lws_context* ctx);

}  // namespace ccmux::ws
