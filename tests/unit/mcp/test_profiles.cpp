// Tool profiles (config `tools`: presets, "all" and tool names combined; an unknown entry refused) and the
// per-audience description text ({hosted}…{/hosted} only for bearer-token callers). interop.mcp.profile checks the
// same through the real server's tools/list.
#include <catch2/catch.hpp>

#include "mcp/mcp.h"

using namespace sw;
using namespace sw::mcp;

namespace {
bool known(const std::string& n) { return n == "spending_report" || n == "pay_invoice"; }
Tool tool(const std::string& name, json ui = nullptr) {
  Tool t;
  t.name = name;
  t.ui = std::move(ui);
  return t;
}
}  // namespace

TEST_CASE("profiles: presets and tool names combine, all shows everything, app-only tools are never hidden") {
  auto p = resolve_tool_profile({"lnurl", "spending_report"}, known);
  REQUIRE(p);
  CHECK_FALSE(p->everything);
  CHECK_FALSE(p->hides(tool("pay_lnurl")));
  CHECK_FALSE(p->hides(tool("spending_report")));
  CHECK(p->hides(tool("pay_invoice")));
  CHECK_FALSE(p->hides(tool("decide_approval_in_app", json{{"visibility", json::array({"app"})}})));
  auto all = resolve_tool_profile({"pay", "all"}, known);
  REQUIRE(all);
  CHECK_FALSE(all->hides(tool("make_invoice")));
  CHECK(tool_presets().at("pay").size() == 6);
}

TEST_CASE("profiles: an entry that is neither a tool nor a preset is refused") {
  auto p = resolve_tool_profile({"pay", "pay_everything"}, known);
  REQUIRE_FALSE(p);
  CHECK(p.error().code == "CONFIG_INVALID");
  CHECK(p.error().message ==
        "tools: 'pay_everything' is neither a tool nor a preset (presets: budget, l402, lnurl, pay, wallet, all; or "
        "tool names as in tools/list)");
}

TEST_CASE("profiles: {hosted} text reaches hosted callers only") {
  const std::string d = "Pay it.{hosted} Tokens see their own.{/hosted} Read-only.{hosted} Tail.{/hosted}";
  CHECK(for_audience(d, true) == "Pay it. Tokens see their own. Read-only. Tail.");
  CHECK(for_audience(d, false) == "Pay it. Read-only.");
  CHECK(for_audience("no markers  here ", false) == "no markers here");
  CHECK(for_audience("open {hosted} only", false) == "open {hosted} only");
}
