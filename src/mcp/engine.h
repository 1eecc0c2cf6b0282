// sw::mcp::engine — what both protocol eras serve, in one place (internal to src/mcp): the tool list, the
// resource list and lookup, running a tool and shaping its result. session.cpp (2025 era, stateful) and
// modern.cpp (2026-07-28, stateless) differ only in how a request arrives and what surrounds the answer.
#pragma once

#include <string>

#include "mcp/mcp.h"

namespace sw::mcp::engine {

// One page of tools/list as `version` shows it (title/outputSchema from 2025-06-18, annotations from 2025-03-26),
// in registry order — the same for every caller. params.cursor continues a page. Error INVALID_CURSOR.
// ui_apps: the client declared MCP Apps — tools carry _meta.ui and app-only tools are listed; otherwise neither.
Result<json> list_tools(const Server& server, const std::string& version, const json& params, bool ui_apps = false);
// resources/list (templates = false) or resources/templates/list: {resources|resourceTemplates: […]}.
// UI resources (MCP Apps, kUiMimeType) are listed only when ui_apps (they stay readable by URI).
json list_resources(const Server& server, bool templates, const std::string& version, bool ui_apps = false);
// The resource serving `uri`: an exact URI, else a template whose fixed prefix matches with no '/' after it.
const Resource* find_resource(const Server& server, const std::string& uri);
// Prepares the arguments (nulls for optional properties dropped, validated) and runs the tool; a throwing tool
// becomes an INTERNAL failure.
ToolOutcome run_tool(const Server& server, const Tool& tool, json args, CallContext& ctx);
// True for a tool that works on local state only (annotations.openWorldHint == false): a transport may run it on
// its own thread. Anything else may wait on the network (wallet, relays, paid APIs) and runs on the worker pool,
// so that slow payments never hold the threads that answer other requests.
bool runs_quickly(const Tool& tool);
// The CallToolResult of an outcome: {content, isError} or {content, structuredContent?}.
json tool_result(ToolOutcome out, bool structured);

}  // namespace sw::mcp::engine
