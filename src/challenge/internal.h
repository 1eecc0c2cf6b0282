// Internal helpers shared by the challenge sources (not part of the public API).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "challenge/challenge.h"

namespace sw::challenge {
// INVALID_CHALLENGE "<scheme> challenge repeats the parameter '<name>' …" when c.repeated_param(); else ok.
Status refuse_repeated_params(const AuthChallenge& c, std::string_view scheme);
// 64 hex chars → lower-case copy; nullopt otherwise.
std::optional<std::string> normalize_preimage_hex(std::string_view hex);
}  // namespace sw::challenge
