// What the bot says: approval messages with their buttons, outcomes, notifications.
// Plain text (no parse_mode): nothing from claude can break the markup.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ccmux::telegram {

std::string approval_text(const nlohmann::json& approval);
// Allow / Deny / Always for tool calls; one button per option for questions.
// callback_data: "a|<id>|allow|deny|always" or "q|<id>|<question>|<option>" (≤ 64 bytes).
nlohmann::json approval_keyboard(const nlohmann::json& approval);
std::string outcome_text(const nlohmann::json& approval, const std::string& original);
std::string sessions_text(const nlohmann::json& sessions);

}  // namespace ccmux::telegram
