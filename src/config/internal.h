// Private to src/config: the settings' parser (settings.cpp) and the loader (config.cpp) share these.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "spend/spend.h"

namespace sw::config::detail {

// The spend-policy settings seen so far from the environment and flags (they override the config file's policy).
struct PolicyOverrides {
  std::optional<uint64_t> per_call_msat;       // --max-sats / SATWARDEN_MAX_SATS
  std::optional<uint64_t> file_max_sats_msat;  // the config file's top-level "max_sats"
  std::map<std::string, std::optional<uint64_t>> caps;  // "hour" | "day" | "week" | "month" | "lifetime"
  std::optional<uint64_t> fee_base_msat;
  std::optional<uint32_t> fee_ppm;
  std::optional<std::optional<std::vector<std::string>>> allow_domains;  // inner nullopt: no allow list
  std::optional<std::vector<std::string>> deny_domains;
  std::optional<std::vector<std::string>> protocols;
  std::optional<std::optional<uint64_t>> approve_above_msat;  // inner nullopt: "none"
  std::optional<bool> approve_new_domains;
  // --day-fiat "5 usd" and the like: window → cap in a currency (nullopt: "none", no fiat cap on that window).
  std::map<std::string, std::optional<spend::FiatCap>> fiat;
  std::map<std::string, std::string> sources;  // policy field (Config::policy_sources) → where it was last set
};

std::optional<std::string> real_getenv(const char* name);
Error cfg_error(std::string msg);  // CONFIG_INVALID
// Applies one named setting coming from any source. `source` names where it came from (for messages);
// `from_file` is true for the config file's top-level keys.
Status apply(Config& c, PolicyOverrides& ov, const std::string& key, const std::string& value,
             const std::string& source, bool from_file);

}  // namespace sw::config::detail
