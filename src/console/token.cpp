// The owner token file (console.h owner_token): 32 random bytes, base64url, in DATA_DIR/console-token. Created
// 0600 under a temporary name and linked into place (a concurrent reader never sees half of it, and two first
// starts agree on one token); refused when another user owns it or group/others may read it — through common's
// private-file primitives.
#include "console/console.h"
#include "crypto/crypto.h"

namespace sw::console {
namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("CONSOLE_TOKEN_UNUSABLE", "console owner token file " + path + ": " + what);
}

bool valid_token(std::string_view t) {
  if (t.size() != 43) return false;
  for (char c : t)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

Error insecure(const std::string& path, const std::string& what) {
  return make_error("CONSOLE_TOKEN_INSECURE",
                    "console owner token file " + path + " " + what +
                        ": delete it (a new token is made on the next start; old login links stop working)");
}

// The token from the file's text (surrounding whitespace ignored).
Result<std::string> parse_token(std::string& text, const std::string& path) {
  std::string token(trim(text));
  wipe_string(text);
  if (!valid_token(token)) {
    wipe_string(token);
    return unusable(path, "does not hold one token (43 base64url characters): delete it for a new one");
  }
  return token;
}

}  // namespace

Result<std::string> owner_token(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kTokenFile;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto f = read_private_file(path, 127);
    if (f.status == PrivateFile::Status::ok) return parse_token(f.content, path);
    if (f.status == PrivateFile::Status::insecure) return insecure(path, f.why);
    if (f.status != PrivateFile::Status::absent) {
      if (f.why.rfind("is larger than", 0) == 0)
        return unusable(path, "does not hold one token (43 base64url characters): delete it for a new one");
      return unusable(path, f.why);
    }
    Bytes raw = crypto::random_bytes(32);
    std::string token = base64_encode(raw, /*url=*/true, /*pad=*/false);
    crypto::wipe(raw.data(), raw.size());
    std::string text = token + "\n";
    auto w = write_private_file(path, text, /*replace=*/false);
    wipe_string(text);
    if (w.status == PrivateFile::Status::ok) return token;
    wipe_string(token);
    if (w.status != PrivateFile::Status::exists) return unusable(path, w.why);
    // Another process made it first: read theirs.
  }
  return unusable(path, "it keeps changing; is another process replacing it?");
}

}  // namespace sw::console
