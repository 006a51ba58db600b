// Failed logins per remote address: the SDK's limiter (shared with transport-grpc).
#pragma once

#include <ccmux/auth_limiter.hpp>

namespace ccmux::ws {
using AuthLimiter = ccmux::AuthLimiter;
}  // namespace ccmux::ws
