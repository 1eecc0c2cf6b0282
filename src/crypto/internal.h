// Internal to sw_crypto (not part of the public API): shared helpers of the .cpp files in this folder.
#pragma once

#include <secp256k1.h>

#include <optional>
#include <string_view>

#include "common/common.h"

namespace sw::crypto::detail {

// The one process-wide secp256k1 context: created and randomized on first use (thread-safe static init),
// never mutated afterwards, never destroyed (avoids static-destruction-order problems at exit).
const secp256k1_context* secp_ctx();

// libsodium must be initialised before its primitives are used; idempotent and thread-safe.
void ensure_sodium();

// Strict RFC 4648 base64 as NIP-04/NIP-44 write it: standard alphabet, '=' padding required, canonical.
// sw::base64_decode is deliberately lenient (URL alphabet, optional padding), so this wraps it with the
// stricter shape check.
std::optional<Bytes> strict_base64_decode(std::string_view text);

}  // namespace sw::crypto::detail
