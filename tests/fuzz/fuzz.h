// Shared helpers of the fuzz targets (tests/fuzz). Every target defines LLVMFuzzerTestOneInput; it must not leak,
// must not keep state between inputs that changes what an input does, and checks its round-trip properties
// with SW_FUZZ_CHECK, which aborts (a crash for libFuzzer and for the ctest replay alike).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);

#define SW_FUZZ_CHECK(cond)                                                                      \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

namespace sw::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits `text` on every occurrence of `sep` (a multi-byte separator that seeds use to lay out several fields
// in one input, e.g. "\n--\n"). Always returns at least one part.
inline std::vector<std::string_view> split(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, at - start));
    start = at + sep.size();
  }
}

// Quiets sw::log (stderr) for the whole run: fuzzing logs nothing useful and writing slows it down.
inline void quiet_logs() { set_log_level(LogLevel::emergency); }

}  // namespace sw::fuzz
