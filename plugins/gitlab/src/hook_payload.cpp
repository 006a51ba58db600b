// Stub: the payload reader is being written (fix/gitlab-io).
#include "hook_payload.h"

namespace ccmux::gitlab {
Parsed<NoteEvent> parse_note_hook(const nlohmann::json&) noexcept { return {std::nullopt, "not implemented yet"}; }
Parsed<PipelineEvent> parse_pipeline_hook(const nlohmann::json&) noexcept { return {std::nullopt, "not implemented yet"}; }
Parsed<HookEvent> parse_hook(const nlohmann::json&) noexcept { return {std::nullopt, "not implemented yet"}; }
Parsed<HookEvent> parse_hook_text(std::string_view, size_t) noexcept { return {std::nullopt, "not implemented yet"}; }
}  // namespace ccmux::gitlab
