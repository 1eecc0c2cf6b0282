// Every error code the server can produce has its own next step (issue 17 §5): the codes are read from the
// sources themselves (make_error("CODE", …), the wallet's NIP-47 code map), so a new code without an entry fails
// here. And the dynamic parts: when a budget window frees, which approval to ask about, which argument to fix.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "mcp/mcp.h"

using namespace sw;

namespace {
std::set<std::string> codes_in_sources() {
  const std::filesystem::path root = std::filesystem::path(SW_SCHEMAS_DIR).parent_path();
  std::set<std::string> out;
  const std::regex made(R"re(make_error\(\s*"([A-Z][A-Z0-9_]+)")re");
  const std::regex mapped(R"re(\{"[A-Z_]+",\s*"([A-Z][A-Z0-9_]+)"\})re");
  for (const char* dir : {"src", "tools"}) {
    for (const auto& f : std::filesystem::recursive_directory_iterator(root / dir)) {
      if (!f.is_regular_file() || (f.path().extension() != ".cpp" && f.path().extension() != ".h")) continue;
      std::ifstream in(f.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      for (auto it = std::sregex_iterator(text.begin(), text.end(), made); it != std::sregex_iterator(); ++it)
        out.insert((*it)[1]);
      if (f.path().filename() == "codes.cpp")
        for (auto it = std::sregex_iterator(text.begin(), text.end(), mapped); it != std::sregex_iterator(); ++it)
          out.insert((*it)[1]);
    }
  }
  return out;
}
}  // namespace

TEST_CASE("next steps: every error code in the sources has its own") {
  const auto codes = codes_in_sources();
  REQUIRE(codes.size() > 80);  // the scan found the codes
  std::vector<std::string> missing;
  for (const auto& c : codes)
    if (!mcp::has_next_step(c)) missing.push_back(c);
  INFO("codes without a next step: " << json(missing).dump());
  CHECK(missing.empty());
  for (const auto& c : codes) {
    json s = mcp::next_step(make_error(c, "x"), 0);
    INFO(c);
    CHECK(s["text"].is_string());
    CHECK_FALSE(s["text"].get<std::string>().empty());
    const std::set<std::string> actions{"retry", "retry_later", "fix_arguments", "ask_owner", "check_payment", "stop"};
    CHECK(actions.count(s["action"].get<std::string>()));
  }
}

TEST_CASE("next steps: when to retry, whom to ask, what to fix") {
  const int64_t now = 1'767'225'600;  // 2026-01-01T00:00:00Z
  json s = mcp::next_step(make_error("BUDGET_EXCEEDED", "x", json{{"window", "day"}, {"next_rolloff", now + 90}}), now);
  CHECK(s["action"] == "retry_later");
  CHECK(s["retry_after_s"] == 90);
  CHECK(s["retry_at"] == "2026-01-01T00:01:30Z");
  CHECK(s["text"].get<std::string>().find("2026-01-01T00:01:30Z") != std::string::npos);
  s = mcp::next_step(make_error("BUDGET_EXCEEDED", "x", json{{"window", "lifetime"}}), now);
  CHECK(s["action"] == "ask_owner");
  s = mcp::next_step(make_error("BUDGET_EXCEEDED", "x", json{{"window", "per_call"}}), now);
  CHECK(s["action"] == "ask_owner");
  s = mcp::next_step(make_error("APPROVAL_REQUIRED", "x", json{{"approval_id", "K7QF2M"}}), now);
  CHECK(s["approval_id"] == "K7QF2M");
  CHECK(s["text"].get<std::string>().find("satwarden approvals approve K7QF2M") != std::string::npos);
  s = mcp::next_step(make_error("RATE_LIMITED", "x", json{{"retry_after_s", 12}}), now);
  CHECK(s["action"] == "retry");
  CHECK(s["retry_after_s"] == 12);
  s = mcp::next_step(make_error("INVALID_ARGUMENTS", "x", json{{"field", "max_sats"}, {"expected", "integer"}}), now);
  CHECK(s["text"] == "fix argument max_sats: expected integer");
  s = mcp::next_step(make_error("URL_FORBIDDEN", "x"), now);
  CHECK(s["text"].get<std::string>().find("SATWARDEN_FETCH_ALLOW") != std::string::npos);
  CHECK(mcp::next_step(make_error("NIP44_INVALID_MAC", "x"), now)["action"] == "retry_later");
  CHECK(mcp::next_step(make_error("SOMETHING_NEW", "x"), now)["action"] == "retry_later");
}
