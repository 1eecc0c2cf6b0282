// Import of the credential file written before purchases existed (l402-tokens.json). Its credentials move into
// the ledger as usable purchases of their owners, so nothing bought before the upgrade is bought again.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "pay/pay.h"

namespace sw::pay {

namespace {
bool is_str(const json& j, const char* k) { return j.contains(k) && j[k].is_string(); }
}  // namespace

Result<size_t> import_legacy_token_file(spend::Ledger& ledger, const std::string& path) {
  std::ifstream in(path);
  if (!in) return size_t{0};  // nothing to import
  std::stringstream ss;
  ss << in.rdbuf();
  in.close();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) {
    log(LogLevel::warning, "tokens", "the old credential file " + path + " is unreadable; left in place");
    return size_t{0};
  }
  struct Entry {
    spend::Owner owner;
    std::string origin, header;
    std::vector<std::string> paths;
  };
  std::vector<Entry> entries;
  int version = j.contains("version") && j["version"].is_number_integer() ? j["version"].get<int>() : 1;
  if (version == 1 && j.contains("tokens") && j["tokens"].is_object()) {
    // Format 1 was keyed by origin only: whoever paid is unknown, so only the stdio owner may use these.
    for (auto& [origin, v] : j["tokens"].items())
      if (v.is_string() && !v.get<std::string>().empty())
        entries.push_back(Entry{spend::Owner{"stdio", "", false}, origin, v.get<std::string>(), {}});
  } else if (version == 2 && j.contains("credentials") && j["credentials"].is_array()) {
    for (const auto& c : j["credentials"]) {
      if (!c.is_object() || !is_str(c, "client") || !is_str(c, "envelope") || !is_str(c, "origin") ||
          !is_str(c, "authorization") || c["authorization"].get<std::string>().empty() || !c.contains("hosted") ||
          !c["hosted"].is_boolean())
        continue;
      Entry e{spend::Owner{c["client"].get<std::string>(), c["envelope"].get<std::string>(), c["hosted"].get<bool>()},
              c["origin"].get<std::string>(), c["authorization"].get<std::string>(), {}};
      if (c.contains("paths") && c["paths"].is_array())
        for (const auto& p : c["paths"])
          if (p.is_string()) e.paths.push_back(p.get<std::string>());
      entries.push_back(std::move(e));
    }
  } else {
    log(LogLevel::warning, "tokens", "the old credential file " + path + " has an unknown format; left in place");
    return size_t{0};
  }
  size_t n = 0;
  for (const auto& e : entries) {
    auto r = ledger.import_credential(e.owner, e.origin, e.paths, e.header);
    if (!r) return r.error();  // the file stays: the next start tries again (duplicates are skipped)
    if (*r) ++n;
  }
  if (std::rename(path.c_str(), (path + ".imported").c_str()) != 0)
    log(LogLevel::warning, "tokens", "could not rename " + path + " after importing it");
  log(LogLevel::notice, "tokens", "imported " + std::to_string(n) + " credential(s) from " + path + " into the ledger");
  return n;
}

}  // namespace sw::pay
