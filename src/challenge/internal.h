// Internal helpers shared by the challenge sources (not part of the public API).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sw::challenge {
// 64 hex chars → lower-case copy; nullopt otherwise.
std::optional<std::string> normalize_preimage_hex(std::string_view hex);
}  // namespace sw::challenge
