#include <dlfcn.h>
#include <unistd.h>

#include <climits>

#include "transport/transport.h"

// Defined in http.cpp. Weak: present when sw_transport_http is linked statically (tests), else null and the
// module is loaded at run time.
extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config)
    __attribute__((weak));

namespace sw::transport {

namespace {
std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}
}  // namespace

Result<std::unique_ptr<HttpServer>> make_http_server(mcp::Server& server, const config::Config& config) {
  using Create = HttpServer* (*)(mcp::Server*, const config::Config*);
  Create create = sw_http_server_create;
  std::string tried;
  if (!create) {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("SATWARDEN_HTTP_MODULE")) candidates.push_back(env);
    candidates.push_back(exe_dir() + "/libsatwarden_http.so");
    candidates.push_back(exe_dir() + "/../lib/satwarden/libsatwarden_http.so");
#ifdef SW_HTTP_MODULE_BUILD_PATH
    candidates.push_back(SW_HTTP_MODULE_BUILD_PATH);
#endif
    for (const auto& path : candidates) {
      void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      create = reinterpret_cast<Create>(::dlsym(h, "sw_http_server_create"));
      if (create) break;
      tried += (tried.empty() ? "" : ", ") + path + " (no entry point)";
    }
  }
  if (!create)
    return make_error("HTTP_MODULE_MISSING", "the HTTP transport module was not found (tried " + tried +
                                                 "); it is built as libsatwarden_http.so next to the satwarden binary");
  return std::unique_ptr<HttpServer>(create(&server, &config));
}

}  // namespace sw::transport
