// Shared by the config unit tests: config::load over a fake environment.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace config_test {

// The environment load() sees; each test sets what it needs.
inline std::map<std::string, std::string>& env() {
  static std::map<std::string, std::string> e;
  return e;
}
inline std::optional<std::string> fake_env(const char* n) {
  auto it = env().find(n);
  if (it == env().end()) return std::nullopt;
  return it->second;
}
// load() with argv = "satwarden" + args.
inline sw::Result<sw::config::Loaded> run(std::vector<const char*> args) {
  args.insert(args.begin(), "satwarden");
  return sw::config::load(static_cast<int>(args.size()), args.data(), fake_env);
}

}  // namespace config_test
