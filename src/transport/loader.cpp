#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <mutex>
#include <vector>

#include "transport/transport.h"

// Defined in http.cpp. Weak: present when sw_transport_http is linked statically (tests), else null and the
// module is loaded at run time.
// sw_http_server_serve is the same with what to serve (HttpServe); sw_http_server_create (MCP only) stays for the
// test binaries that reference it to pull http.cpp's object in.
extern "C" sw::transport::HttpServer* sw_http_server_serve(sw::mcp::Server* server, const sw::config::Config* config,
                                                           const sw::transport::HttpLimits* limits,
                                                           const sw::transport::HttpServe* serve)
    __attribute__((weak));

extern "C" sw::transport::FetchFn sw_fetch_entry() __attribute__((weak));

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

namespace {
// dlopen()s the module once (it stays loaded for the life of the process) and returns a symbol from it.
Result<void*> module_symbol(const char* name) {
  static std::mutex mu;
  static void* handle = nullptr;
  static std::string tried;
  std::lock_guard<std::mutex> lk(mu);
  if (!handle) {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("SATWARDEN_HTTP_MODULE")) candidates.push_back(env);
    candidates.push_back(exe_dir() + "/libsatwarden_http.so");
    candidates.push_back(exe_dir() + "/../lib/satwarden/libsatwarden_http.so");
#ifdef SW_HTTP_MODULE_BUILD_PATH
    candidates.push_back(SW_HTTP_MODULE_BUILD_PATH);
#endif
    tried.clear();
    for (const auto& path : candidates) {
      handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
      const char* why = ::dlerror();
      tried += (tried.empty() ? "" : ", ") + path + (why && std::string(why).find("No such file") == std::string::npos
                                                         ? std::string(" (") + why + ")"
                                                         : std::string());
    }
  }
  if (!handle)
    return make_error("HTTP_MODULE_MISSING", "the HTTP module was not found (tried " + tried +
                                                 "); it is built as libsatwarden_http.so next to the satwarden binary");
  void* sym = ::dlsym(handle, name);
  if (!sym) return make_error("HTTP_MODULE_MISSING", std::string("the HTTP module has no ") + name);
  return sym;
}
}  // namespace

std::string SideRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (ascii_iequals(k, name)) return v;
  return "";
}

Result<std::unique_ptr<HttpServer>> make_http_server(mcp::Server& server, const config::Config& config,
                                                     const HttpLimits& limits, const HttpServe& serve) {
  using Create = HttpServer* (*)(mcp::Server*, const config::Config*, const HttpLimits*, const HttpServe*);
  Create create = sw_http_server_serve;
  if (!create) {
    auto sym = module_symbol("sw_http_server_serve");
    if (!sym) return sym.error();
    create = reinterpret_cast<Create>(*sym);
  }
  HttpServer* made = create(&server, &config, &limits, &serve);
  if (!made) return make_error("HTTP_START_FAILED", "the HTTP transport could not be created");
  return std::unique_ptr<HttpServer>(made);
}

Result<FetchFn> load_fetch() {
  if (sw_fetch_entry) return sw_fetch_entry();
  auto sym = module_symbol("sw_fetch_entry");
  if (!sym) return sym.error();
  return reinterpret_cast<FetchFn (*)()>(*sym)();
}

}  // namespace sw::transport
