# Writes a C++ file holding every schemas/*.json as a raw string (name → text, sorted by name). The text is parsed
# where it is used (mcp::embedded_schema), so the server holds each schema parsed once: in its tool.
file(GLOB files ${DIR}/*.json)
list(SORT files)
set(body "// generated from schemas/*.json — do not edit\n#include \"mcp/mcp.h\"\nnamespace sw::mcp {\nconst std::map<std::string_view, std::string_view>& embedded_schema_texts() {\n  static const std::map<std::string_view, std::string_view> m{\n")
foreach(f ${files})
  get_filename_component(fname ${f} NAME)
  string(REGEX REPLACE "\\.json$" "" key ${fname})
  file(READ ${f} content)
  string(APPEND body "      {\"${key}\", R\"SWSCHEMA(${content})SWSCHEMA\"},\n")
endforeach()
string(APPEND body "  };\n  return m;\n}\n}  // namespace sw::mcp\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
