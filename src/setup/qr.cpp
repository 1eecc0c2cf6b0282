// The terminal QR code of the walletauth link (setup.h). QR encoding (Reed-Solomon error correction, mask
// selection, version fitting) is done by libqrencode rather than by hand: it is small, in Debian, and the same
// encoder the `qrencode` tool ships, so what a wallet scans is what a well-tested encoder produced. It is loaded
// on first use (dlopen by SONAME, see CMakeLists.txt): only `satwarden connect` needs it.
#include <dlfcn.h>
#include <qrencode.h>

#include <memory>
#include <mutex>

#include "setup/setup.h"

namespace sw::setup {

namespace {

struct QrLib {
  decltype(&QRcode_encodeString) encode = nullptr;
  decltype(&QRcode_free) free = nullptr;
};

const QrLib* qr_lib() {
  static QrLib lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = ::dlopen(SW_QRENCODE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    lib.encode = reinterpret_cast<decltype(&QRcode_encodeString)>(::dlsym(h, "QRcode_encodeString"));
    lib.free = reinterpret_cast<decltype(&QRcode_free)>(::dlsym(h, "QRcode_free"));
  });
  return lib.encode && lib.free ? &lib : nullptr;
}

}  // namespace

Result<std::string> qr_text(std::string_view data) {
  const QrLib* lib = qr_lib();
  if (!lib)
    return make_error("QR_FAILED", std::string("no QR code: ") + SW_QRENCODE_SONAME +
                                       " is not installed (Debian/Ubuntu: apt install libqrencode4)");
  const std::string text(data);
  // Level L: the most data per module; a terminal is a clean medium (no print damage to correct for).
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(lib->encode(text.c_str(), 0, QR_ECLEVEL_L, QR_MODE_8, 1),
                                                       lib->free);
  if (!code) return make_error("QR_FAILED", "the link does not fit a QR code");
  const int width = code->width;
  const int quiet = 2;
  const int size = width + 2 * quiet;
  // Module (x, y) is dark when bit 0 of its byte is set; the quiet zone is light.
  auto dark = [&](int x, int y) {
    x -= quiet;
    y -= quiet;
    if (x < 0 || y < 0 || x >= width || y >= width) return false;
    return (code->data[y * width + x] & 1) != 0;
  };
  // Light modules are drawn (the terminal's foreground), dark ones left blank: on the usual dark terminal
  // background this is dark-on-light as scanners expect; two module rows per line with half blocks.
  std::string out;
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; ++x) {
      const bool top = !dark(x, y);
      const bool bottom = y + 1 < size ? !dark(x, y + 1) : false;
      if (top && bottom) out += "\u2588";
      else if (top) out += "\u2580";
      else if (bottom) out += "\u2584";
      else out += ' ';
    }
    out += '\n';
  }
  return out;
}

}  // namespace sw::setup
