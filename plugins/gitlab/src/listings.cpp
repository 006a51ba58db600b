// Stub: the listing methods are being written (fix/gitlab-io).
#include "listings.h"

namespace ccmux::gitlab {
struct Listings::Entry {};
Listings::Listings(Host& host, std::shared_ptr<GitLabApi> api, ListingsConfig config)
    : host_(host), api_(std::move(api)), cfg_(std::move(config)) {}
Listings::~Listings() { stop(); }
bool Listings::register_methods() { return false; }
void Listings::stop() {}
std::string Listings::answer(const std::string&, std::string_view) { throw MethodError("internal", "not implemented yet"); }
}  // namespace ccmux::gitlab
