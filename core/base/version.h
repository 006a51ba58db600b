// Version numbers, in a header of their own so small clients (ccmux-hook) need nothing else.
#pragma once

namespace ccmux {

constexpr int kProtocolVersion = 1;
constexpr const char* kVersion = "0.1.0";

}  // namespace ccmux
