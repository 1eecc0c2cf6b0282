#include <map>
#include <stdexcept>

#include "tools.h"

namespace sw::tools {

namespace {
std::map<std::string, Factory>& factories() {
  static std::map<std::string, Factory> m;
  return m;
}
}  // namespace

Registrar::Registrar(const char* name, Factory factory) { factories()[name] = factory; }

Status register_all(mcp::ToolRegistry& registry, Engine& engine) {
  for (auto& [name, factory] : factories()) {
    std::optional<mcp::Tool> tool;
    try {
      tool = factory(engine);
    } catch (const std::exception& e) {
      return make_error("SCHEMA_INVALID", "tool " + name + ": " + e.what());
    }
    if (!tool) continue;  // not ready in this configuration: not registered
    auto st = registry.add(std::move(*tool));
    if (!st) return st;
  }
  return ok_status();
}

mcp::Tool make_tool(const std::string& name, const std::string& title, const std::string& description,
                    json annotations, std::function<mcp::ToolOutcome(const json&, mcp::CallContext&)> handler) {
  const auto& schemas = mcp::embedded_schemas();
  auto in = schemas.find(name + ".input");
  auto out = schemas.find(name + ".output");
  if (in == schemas.end() || out == schemas.end())
    throw std::logic_error("schemas/" + name + ".input.json and .output.json are both required");
  mcp::Tool t;
  t.name = name;
  t.title = title;
  t.description = description;
  t.annotations = std::move(annotations);
  t.input_schema = in->second;
  t.output_schema = out->second;
  t.handler = std::move(handler);
  return t;
}

json read_only_annotations(const std::string& title, bool open_world) {
  return json{{"title", title},
              {"readOnlyHint", true},
              {"destructiveHint", false},
              {"idempotentHint", true},
              {"openWorldHint", open_world}};
}

json paying_annotations(const std::string& title) {
  return json{{"title", title},
              {"readOnlyHint", false},
              {"destructiveHint", true},
              {"idempotentHint", false},
              {"openWorldHint", true}};
}

}  // namespace sw::tools
