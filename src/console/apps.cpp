// The MCP App resources (console.h app_resources): the embedded apps/*.html, and one approval's card with its
// nonce filled in.
#include <cstring>

#include "approve/approve.h"
#include "console/internal.h"
#include "spend/spend.h"

namespace sw::console {
namespace {

constexpr const char* kSlot = "<script type=\"application/json\" id=\"sw-approval\">null</script>";

// JSON safe inside a <script> element: no "</" (which could end it) and no "<!--".
std::string script_json(const json& j) {
  std::string s = json_dump(j), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') out += "\\u003c";
    else out += s[i];
  }
  return out;
}

// An app's document with the shared script (apps/common.js) inlined where it asks for it.
Result<std::string> app_html(const std::string& name) {
  const std::string* html = asset("/apps/" + name + ".html");
  const std::string* common = asset("/apps/common.js");
  if (!html || !common) return make_error("NOT_FOUND", "the " + name + " app is not in this build");
  static const std::string kMarker = "/*@sw-app-common*/";
  std::string page = *html;
  const size_t at = page.find(kMarker);
  if (at != std::string::npos) page.replace(at, kMarker.size(), *common);
  return page;
}

mcp::Resource app(const std::string& uri, const std::string& name, const std::string& title,
                  const std::string& description) {
  mcp::Resource r;
  r.uri = uri;
  r.name = name;
  r.title = title;
  r.description = description;
  r.mime_type = mcp::kUiMimeType;
  // No network at all: everything the app needs is inline, and it talks to the host by postMessage only.
  r.meta = json{{"ui", {{"csp", {{"connectDomains", json::array()}, {"resourceDomains", json::array()}}},
                        {"prefersBorder", true}}}};
  return r;
}

}  // namespace

std::vector<mcp::Resource> app_resources(tools::Engine& engine) {
  std::vector<mcp::Resource> out;
  mcp::Resource budget = app("ui://satwarden/budget", "budget-app", "Budget (MCP App)",
                             "satwarden's budget card for MCP Apps hosts: what is left in each window, per domain "
                             "and envelope (renders get_budget_status).");
  budget.read = [](const std::string&, const mcp::CallContext&) { return app_html("budget"); };
  out.push_back(std::move(budget));

  mcp::Resource card = app("ui://satwarden/approval", "approval-app", "Approval card (MCP App)",
                           "satwarden's approval card for MCP Apps hosts: payments waiting for the owner, with "
                           "approve and deny; a paying tool's result shows there.");
  card.read = [](const std::string&, const mcp::CallContext&) { return app_html("approval"); };
  out.push_back(std::move(card));

  mcp::Resource one = app("ui://satwarden/approval/{approval_id}", "approval-card", "One approval (MCP App)",
                          "The approval card for one payment waiting for the owner (linked from a result that "
                          "awaits approval).");
  one.is_template = true;
  tools::Engine* e = &engine;
  one.read = [e](const std::string& uri, const mcp::CallContext& ctx) -> Result<std::string> {
    const std::string id = uri.substr(std::string("ui://satwarden/approval/").size());
    // The card can decide: only for a client whose person may decide approvals (as elicitation); anyone else
    // learns nothing, not even whether the approval exists.
    if (!e->approvals || !e->ledger || !tools::client_may_approve(*e, ctx))
      return make_error("NOT_FOUND", "no approval card " + id + " for this client");
    auto a = e->ledger->get_approval(id);
    if (!a) return make_error("NOT_FOUND", "no approval " + id);
    auto html = app_html("approval");
    if (!html) return html.error();
    std::string page = std::move(*html);
    const size_t at = page.find(kSlot);
    if (at == std::string::npos) return make_error("NOT_FOUND", "the approval app has no slot for its approval");
    const json data{{"approval_id", a->public_id}, {"nonce", e->approvals->app_nonce(a->public_id)},
                    {"approval", spend::to_json(*a)}};
    page.replace(at, std::strlen(kSlot),
                 "<script type=\"application/json\" id=\"sw-approval\">" + script_json(data) + "</script>");
    return page;
  };
  out.push_back(std::move(one));
  return out;
}

}  // namespace sw::console
