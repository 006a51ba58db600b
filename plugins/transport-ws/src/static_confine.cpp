#include "static_confine.h"

#include "root_path.h"

#include <libwebsockets.h>

#include <cerrno>
#include <map>
#include <mutex>

namespace ccmux::ws {

namespace {

using OpenFn = lws_fop_fd_t (*)(const lws_plat_file_ops*, const char*, const char*, lws_fop_flags_t*);

struct Confined {
  std::string root;  // canonical
  OpenFn open;       // the platform's own
  std::function<void(const std::string&)> refused;
};

// lws hands `open` the context's fops and nothing else: one entry per context, keyed by them.
std::mutex g_mu;
std::map<const lws_plat_file_ops*, Confined> g_confined;

lws_fop_fd_t confined_open(const lws_plat_file_ops* fops, const char* filename, const char* vpath,
                           lws_fop_flags_t* flags) {
  Confined c;
  {
    std::lock_guard lock(g_mu);
    auto it = g_confined.find(fops);
    if (it == g_confined.end()) return nullptr;
    c = it->second;
  }
  lws_fop_fd_t f = c.open(fops, filename, vpath, flags);
  if (!f || fd_inside(f->fd, c.root)) return f;
  lws_vfs_file_close(&f);
  if (c.refused) c.refused(filename);
  errno = EACCES;
  return nullptr;
}

}  // namespace

void confine_files(lws_context* ctx, const std::string& root, std::function<void(const std::string&)> refused) {
  lws_plat_file_ops* fops = lws_get_fops(ctx);
  std::lock_guard lock(g_mu);
  g_confined[fops] = Confined{canonical_root(root), fops->LWS_FOP_OPEN, std::move(refused)};
  fops->LWS_FOP_OPEN = confined_open;
}

void unconfine_files(lws_context* ctx) {
  lws_plat_file_ops* fops = lws_get_fops(ctx);
  std::lock_guard lock(g_mu);
  auto it = g_confined.find(fops);
  if (it == g_confined.end()) return;
  fops->LWS_FOP_OPEN = it->second.open;
  g_confined.erase(it);
}

}  // namespace ccmux::ws
