// Tool registry: holds tools and their compiled input schemas. Validation uses valijson (Debian
// libvalijson-dev) with the nlohmann adapter; valijson 1.0 speaks draft-07, so schemas/ sticks to keywords that
// mean the same in draft-07 and 2020-12 (type, properties, required, additionalProperties, enum, pattern, min*/max*).
//
// Strict-mode clients (OpenAI's function calling in strict mode, and the agent frameworks built on it) send `null`
// for every optional argument they leave out. prepare() drops such nulls before validation, so every tool treats
// them as absent: only for properties the schema declares, that are not `required`, and whose schema does not itself
// admit null. The walk follows the schema (properties, array items), never the arguments, so its depth is the
// schema's, whatever the caller sends.
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <map>
#include <memory>

#include "mcp/mcp.h"

namespace sw::mcp {

namespace {
// Where nulls mean "absent", compiled from one schema node.
struct NullPlan {
  std::vector<std::string> droppable;                         // object: optional properties that do not admit null
  std::map<std::string, std::unique_ptr<NullPlan>> children;  // object: plans for declared properties
  std::unique_ptr<NullPlan> items;                            // array: the plan for every element
  bool empty() const { return droppable.empty() && children.empty() && !items; }
};
}  // namespace

struct ToolRegistry::Compiled {
  Tool tool;
  valijson::Schema schema;
  std::unique_ptr<NullPlan> nulls;  // null when no null can be dropped anywhere
};

std::optional<json> embedded_schema(std::string_view name) {
  const auto& texts = embedded_schema_texts();
  auto it = texts.find(name);
  if (it == texts.end()) return std::nullopt;
  json doc = json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

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

// A schema node lists "null" among its types, in its enum, or as its const: then null is a value, not an absence.
bool admits_null(const json& schema) {
  if (!schema.is_object()) return false;
  auto t = schema.find("type");
  if (t != schema.end()) {
    if (t->is_string() && *t == "null") return true;
    if (t->is_array())
      for (const auto& e : *t)
        if (e == "null") return true;
  }
  auto en = schema.find("enum");
  if (en != schema.end() && en->is_array())
    for (const auto& e : *en)
      if (e.is_null()) return true;
  auto c = schema.find("const");
  return c != schema.end() && c->is_null();
}

// Compiles the null plan of a (trusted, embedded) schema node; nullptr when there is nothing to drop below it.
// `depth` only guards against a pathological schema; ours nest a few levels.
std::unique_ptr<NullPlan> compile_nulls(const json& schema, int depth = 0) {
  if (!schema.is_object() || depth > 32) return nullptr;
  auto plan = std::make_unique<NullPlan>();
  auto props = schema.find("properties");
  if (props != schema.end() && props->is_object()) {
    std::vector<std::string> required;
    auto req = schema.find("required");
    if (req != schema.end() && req->is_array())
      for (const auto& r : *req)
        if (r.is_string()) required.push_back(r.get<std::string>());
    for (const auto& [name, sub] : props->items()) {
      bool is_required = std::find(required.begin(), required.end(), name) != required.end();
      if (!is_required && !admits_null(sub)) plan->droppable.push_back(name);
      if (auto child = compile_nulls(sub, depth + 1)) plan->children[name] = std::move(child);
    }
  }
  auto items = schema.find("items");
  if (items != schema.end() && items->is_object()) plan->items = compile_nulls(*items, depth + 1);
  if (plan->empty()) return nullptr;
  return plan;
}

// Applies a plan in place. Recursion follows the plan (schema depth), not the value.
void drop_nulls(json& value, const NullPlan& plan) {
  if (value.is_object()) {
    for (const auto& name : plan.droppable) {
      auto it = value.find(name);
      if (it != value.end() && it->is_null()) value.erase(it);
    }
    for (const auto& [name, child] : plan.children) {
      auto it = value.find(name);
      if (it != value.end()) drop_nulls(*it, *child);
    }
  } else if (value.is_array() && plan.items) {
    for (auto& element : value) drop_nulls(element, *plan.items);
  }
}

std::string json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "unknown";
  }
}

// The JSON types a schema node allows ("" entries skipped); empty when the node has no "type".
std::vector<std::string> schema_types(const json& schema) {
  std::vector<std::string> out;
  if (!schema.is_object()) return out;
  auto t = schema.find("type");
  if (t == schema.end()) return out;
  if (t->is_string()) out.push_back(t->get<std::string>());
  if (t->is_array())
    for (const auto& e : *t)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

bool type_matches(const json& v, const std::string& type) {
  if (type == "integer") return v.is_number_integer();  // strong types: 2.0 is a number, not an integer
  if (type == "number") return v.is_number();
  return type == json_type_name(v);
}

std::string join_types(const std::vector<std::string>& types) {
  std::string out;
  for (size_t i = 0; i < types.size(); ++i) out += (i == 0 ? "" : i + 1 == types.size() ? " or " : ", ") + types[i];
  return out;
}

// One step into a schema: the declared property (or additionalProperties schema) of an object node, or the items
// schema of an array node. A null json when the schema says nothing about that child.
const json* schema_child(const json* schema, bool index, const std::string& key) {
  static const json kNone;
  if (!schema || !schema->is_object()) return &kNone;
  if (index) {
    auto it = schema->find("items");
    return it != schema->end() && it->is_object() ? &*it : &kNone;
  }
  auto props = schema->find("properties");
  if (props != schema->end() && props->is_object()) {
    auto p = props->find(key);
    if (p != props->end()) return &*p;
  }
  auto ap = schema->find("additionalProperties");
  return ap != schema->end() && ap->is_object() ? &*ap : &kNone;
}

std::string pointer_escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

// Where a valijson error points, resolved against the arguments themselves: valijson writes both a property name
// and an array index as "[x]", so the value at each step decides which it is.
struct Located {
  std::string dotted;   // "tlv_records[0].type"; "" = the arguments object itself
  std::string pointer;  // RFC 6901: "/tlv_records/0/type"; "" = the arguments object itself
  const json* value = nullptr;   // the value there, null when it is absent (a missing property)
  const json* schema = nullptr;  // the schema node for it
};

Located locate(const std::vector<std::string>& ctx, const json& args, const json& root_schema) {
  Located at;
  at.value = &args;
  at.schema = &root_schema;
  for (const auto& part : ctx) {
    if (part == "<root>") continue;
    std::string key = part;
    if (key.size() >= 2 && key.front() == '[' && key.back() == ']') key = key.substr(1, key.size() - 2);
    bool index = at.value && at.value->is_array();
    if (index) {
      at.dotted += "[" + key + "]";
      size_t i = 0;
      bool digits = !key.empty() && key.size() < 10 &&
                    std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) i = std::stoul(key);
      at.value = digits && i < at.value->size() ? &(*at.value)[i] : nullptr;
    } else {
      at.dotted += (at.dotted.empty() ? "" : ".") + key;
      const json* next = nullptr;
      if (at.value && at.value->is_object()) {
        auto it = at.value->find(key);
        if (it != at.value->end()) next = &*it;
      }
      at.value = next;
    }
    at.pointer += "/" + pointer_escape(key);
    at.schema = schema_child(at.schema, index, key);
  }
  return at;
}

// The first required property the object at `at` lacks, or "".
std::string missing_required(const Located& at) {
  if (!at.value || !at.value->is_object() || !at.schema->is_object()) return "";
  auto req = at.schema->find("required");
  if (req == at.schema->end() || !req->is_array()) return "";
  for (const auto& r : *req)
    if (r.is_string() && !at.value->contains(r.get<std::string>())) return r.get<std::string>();
  return "";
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
    c->nulls = compile_nulls(tool.input_schema);
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
  auto prepared = prepare(name, args);
  if (!prepared) return prepared.error();
  return ok_status();
}

Result<json> ToolRegistry::prepare(const std::string& name, json args) const {
  auto it = tools_.find(name);
  if (it == tools_.end()) return make_error("UNKNOWN_TOOL", "unknown tool '" + name + "'");
  const Compiled& c = *it->second;
  if (c.nulls) drop_nulls(args, *c.nulls);
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(args);
  if (validator.validate(c.schema, target, &results)) return args;

  // Every error, located; the headline is the deepest (most specific) one: valijson lists the outer failures
  // ("failed to validate property 'opts'") before the inner one that caused them.
  valijson::ValidationResults::Error err;
  json errors = json::array();
  std::optional<Located> best;
  std::string best_problem;
  while (results.popError(err)) {
    Located at = locate(err.context, args, c.tool.input_schema);
    errors.push_back({{"field", at.dotted}, {"pointer", at.pointer}, {"problem", err.description}});
    if (!best || at.pointer.size() >= best->pointer.size()) {
      best = at;
      best_problem = err.description;
    }
  }
  if (!best) best = locate({}, args, c.tool.input_schema);

  // Say it in the schema's terms: the expected type(s) against the type given, or the missing required property
  // and its type; otherwise valijson's own words (a range, a pattern, an enum, an unknown property).
  std::string field = best->dotted;
  std::string pointer = best->pointer;
  std::vector<std::string> expected = schema_types(*best->schema);
  std::string problem;
  json extra = json::object();
  bool wrong_type = best->value && !expected.empty() &&
                    std::none_of(expected.begin(), expected.end(),
                                 [&](const std::string& t) { return type_matches(*best->value, t); });
  if (wrong_type) {
    problem = "expected " + join_types(expected) + ", got " + json_type_name(*best->value);
    extra["expected"] = expected;
    extra["got"] = json_type_name(*best->value);
  } else if (auto missing = missing_required(*best); !missing.empty()) {
    const json* sub = schema_child(best->schema, false, missing);
    field += (field.empty() ? "" : ".") + missing;
    pointer += "/" + pointer_escape(missing);
    expected = schema_types(*sub);
    problem = "missing required property" + (expected.empty() ? std::string() : " (expected " + join_types(expected) + ")");
    if (!expected.empty()) extra["expected"] = expected;
  } else {
    problem = best_problem;
    if (!problem.empty() && problem.back() == '.') problem.pop_back();
    if (!expected.empty()) extra["expected"] = expected;
  }
  json details{{"field", field}, {"pointer", pointer}, {"problem", problem}, {"errors", std::move(errors)}};
  for (auto& [k, v] : extra.items()) details[k] = v;
  std::string where = field.empty() ? "arguments" : field;
  return make_error("INVALID_ARGUMENTS", "invalid arguments: " + where + ": " + problem, std::move(details));
}

}  // namespace sw::mcp
