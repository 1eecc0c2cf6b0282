// Configuration (config file JSON, environment, command line): config::load with an injected environment and the
// config file in a memfd. Input layout, parts separated by a line "---":
//   <config file text (none when empty)>\n---\n<NAME=VALUE lines: environment>\n---\n<one argv element a line>
// The input cannot point load() at other files: HOME/XDG_*/SATWARDEN_CONFIG and --config are the target's own.
// Properties: a loaded config passes its own invariants (tokens ≥ 16 characters with unique labels, a fee allowance
// unless allowed to be 0); an error never contains a bearer token or the NWC URL given to it (those marked
// "sw-secret", see below).
#include <sys/mman.h>
#include <unistd.h>

#include <map>

#include "config/config.h"
#include "fuzz.h"

using namespace sw;

namespace {

std::map<std::string, std::string>& env_table() {
  static std::map<std::string, std::string> t;
  return t;
}

std::optional<std::string> lookup(const char* name) {
  auto it = env_table().find(name);
  if (it == env_table().end()) return std::nullopt;
  return it->second;
}

int config_fd() {
  static const int fd = [] {
    int f = memfd_create("satwarden-fuzz-config", 0);
    if (f < 0) std::abort();
    return f;
  }();
  return fd;
}

bool reserved(std::string_view name) {
  return name == "HOME" || name == "SATWARDEN_CONFIG" || name.rfind("XDG_", 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split(fuzz::as_text(data, size), "\n---\n");
  auto& env = env_table();
  env.clear();
  env["HOME"] = "/nonexistent/satwarden-fuzz";
  std::vector<std::string> secrets;
  if (!parts[0].empty()) {
    const int fd = config_fd();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, parts[0].data(), parts[0].size(), 0) != ssize_t(parts[0].size()))
      std::abort();
    env["SATWARDEN_CONFIG"] = "/proc/self/fd/" + std::to_string(fd);
  }
  if (parts.size() > 1) {
    for (auto line : fuzz::split(parts[1], "\n")) {
      const size_t eq = line.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      const std::string name(line.substr(0, eq));
      if (reserved(name)) continue;
      env[name] = std::string(line.substr(eq + 1));
    }
  }
  // Secrets whose leak is checked: bearer tokens and the NWC URL from the environment that carry the marker
  // "sw-secret" (seeds do; a message cannot contain it by itself) and occur once in the input (so no other
  // setting, echoed legitimately, holds the same text).
  auto secret = [&](std::string_view v) {
    const std::string_view all = fuzz::as_text(data, size);
    const size_t at = all.find(v);
    if (v.find("sw-secret") != std::string_view::npos && at != std::string_view::npos &&
        all.find(v, at + 1) == std::string_view::npos)
      secrets.emplace_back(v);
  };
  if (auto t = lookup("SATWARDEN_TOKENS"))
    for (auto tok : fuzz::split(*t, ",")) secret(trim(tok));
  if (auto u = lookup("NWC_URL")) secret(*u);

  std::vector<std::string> args{"satwarden"};
  if (parts.size() > 2) {
    for (auto line : fuzz::split(parts[2], "\n")) {
      if (line.rfind("--config", 0) == 0) continue;
      args.emplace_back(line);
    }
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);

  auto loaded = config::load(static_cast<int>(args.size()), argv.data(), lookup);
  if (!loaded) {
    SW_FUZZ_CHECK(loaded.error().code == "CONFIG_INVALID");
    for (const auto& s : secrets)
      SW_FUZZ_CHECK(loaded.error().message.find(s) == std::string::npos);
    return 0;
  }
  if (loaded->action != config::Action::run) return 0;
  const config::Config& c = loaded->config;
  SW_FUZZ_CHECK(c.transport == "stdio" || c.transport == "http");
  SW_FUZZ_CHECK(!c.data_dir.empty());
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    SW_FUZZ_CHECK(c.tokens[i].token.size() >= 16 && !c.tokens[i].label.empty());
    for (size_t j = 0; j < i; ++j) SW_FUZZ_CHECK(c.tokens[j].label != c.tokens[i].label);
  }
  SW_FUZZ_CHECK(c.allow_zero_fee_allowance || c.policy.fee.base_msat > 0 || c.policy.fee.ppm > 0);
  SW_FUZZ_CHECK(c.l402_unbound == "allow" || c.l402_unbound == "refuse");
  (void)c.loopback_bind();
  return 0;
}
