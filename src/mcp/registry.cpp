// Tool registry: holds tools and their compiled input schemas. Validation uses valijson (Debian
// libvalijson-dev) with the nlohmann adapter; valijson 1.0 speaks draft-07, so schemas/ sticks to keywords that
// mean the same in draft-07 and 2020-12 (type, properties, required, additionalProperties, enum, pattern, min*/max*).
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "mcp/mcp.h"

namespace sw::mcp {

struct ToolRegistry::Compiled {
  Tool tool;
  valijson::Schema schema;
};

ToolRegistry::ToolRegistry() = default;
ToolRegistry::~ToolRegistry() = default;

namespace {
bool valid_tool_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n) {
    bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
    if (!okc) return false;
  }
  return true;
}

// "<root>", "[invoice]", "[0]" → "invoice" / "items[0]"
std::string field_path(const std::vector<std::string>& ctx) {
  std::string out;
  for (const auto& part : ctx) {
    if (part == "<root>") continue;
    std::string p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    bool index = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (index) out += "[" + p + "]";
    else out += (out.empty() ? "" : ".") + p;
  }
  return out;
}
}  // namespace

Status ToolRegistry::add(Tool tool) {
  if (!valid_tool_name(tool.name)) return make_error("SCHEMA_INVALID", "invalid tool name '" + tool.name + "'");
  if (tools_.count(tool.name)) return make_error("SCHEMA_INVALID", "tool '" + tool.name + "' registered twice");
  if (!tool.input_schema.is_object() || tool.input_schema.value("type", "") != "object")
    return make_error("SCHEMA_INVALID", "tool '" + tool.name + "' needs an object inputSchema");
  if (!tool.output_schema.is_object() || tool.output_schema.value("type", "") != "object")
    return make_error("SCHEMA_INVALID", "tool '" + tool.name + "' needs an object outputSchema");
  if (!tool.handler) return make_error("SCHEMA_INVALID", "tool '" + tool.name + "' has no handler");
  auto c = std::make_unique<Compiled>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(tool.input_schema);
    parser.populateSchema(adapter, c->schema);
    // The output schema must compile too, even though we only validate outputs in tests.
    valijson::Schema out_schema;
    valijson::adapters::NlohmannJsonAdapter out_adapter(tool.output_schema);
    parser.populateSchema(out_adapter, out_schema);
  } catch (const std::exception& e) {
    return make_error("SCHEMA_INVALID", "schema of tool '" + tool.name + "' does not compile: " + e.what());
  }
  order_.push_back(tool.name);
  c->tool = std::move(tool);
  tools_[c->tool.name] = std::move(c);
  return ok_status();
}

const Tool* ToolRegistry::find(const std::string& name) const {
  auto it = tools_.find(name);
  return it == tools_.end() ? nullptr : &it->second->tool;
}

Status ToolRegistry::validate(const std::string& name, const json& args) const {
  auto it = tools_.find(name);
  if (it == tools_.end()) return make_error("UNKNOWN_TOOL", "unknown tool '" + name + "'");
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(args);
  if (validator.validate(it->second->schema, target, &results)) return ok_status();
  // Report the deepest (most specific) error: valijson lists outer failures before inner ones.
  valijson::ValidationResults::Error err;
  std::string path;
  json errors = json::array();
  while (results.popError(err)) {
    std::string p = field_path(err.context);
    errors.push_back({{"field", p}, {"problem", err.description}});
    if (p.size() >= path.size()) path = p;
  }
  std::string first_problem;
  for (auto& e : errors)
    if (e["field"] == path) first_problem = e["problem"].get<std::string>();
  std::string where = path.empty() ? "arguments" : "argument '" + path + "'";
  return make_error("INVALID_ARGUMENTS", "invalid " + where + ": " + first_problem,
                    json{{"field", path}, {"errors", errors}});
}

}  // namespace sw::mcp
