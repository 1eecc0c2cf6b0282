// The notification key file (see owner.h): created 0600 and published atomically (temporary file + link(), so a
// concurrent reader never sees a half-written key), reused afterwards, refused when others could have read it —
// through common's private-file primitives.
#include "owner/owner.h"

namespace sw::owner {

namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("OWNER_KEY_UNUSABLE", "notification key file " + path + ": " + what);
}
Error insecure(const std::string& path, const std::string& what) {
  return make_error("OWNER_KEY_INSECURE",
                    "notification key file " + path + " " + what +
                        "; it may have been copied: `chmod 600` it to keep this identity, or delete it for a new one");
}

// The key from the file's text: one secret key, 64 hex characters (surrounding whitespace ignored).
Result<crypto::SecretKey> parse_key(std::string& text, const std::string& path) {
  std::optional<crypto::SecretKey> key;
  std::string_view t = trim(text);
  if (t.size() == 64)
    if (auto k = crypto::SecretKey::from_hex(t)) key.emplace(std::move(*k));
  wipe_string(text);
  if (!key) return unusable(path, "does not hold one secret key (64 hex characters)");
  return std::move(*key);
}

}  // namespace

const char* channel_name(Channel c) { return c == Channel::nip04 ? "nip04" : "nip17"; }

std::optional<Channel> parse_channel(std::string_view name) {
  if (ascii_iequals(name, "nip17")) return Channel::nip17;
  if (ascii_iequals(name, "nip04")) return Channel::nip04;
  return std::nullopt;
}

std::string notification_key_path(const std::string& data_dir) {
  return data_dir + "/" + kNotificationKeyFile;
}

Result<crypto::SecretKey> load_or_create_notification_key(const std::string& path) {
  if (path.empty()) return unusable("(none)", "no path given");
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto f = read_private_file(path, 159);
    if (f.status == PrivateFile::Status::ok) return parse_key(f.content, path);
    if (f.status == PrivateFile::Status::insecure) return insecure(path, f.why);
    if (f.status != PrivateFile::Status::absent) {
      if (f.why.rfind("is larger than", 0) == 0) return unusable(path, "does not hold one secret key (64 hex characters)");
      return unusable(path, f.why);
    }
    crypto::SecretKey key = crypto::SecretKey::generate();
    std::string text = hex_encode(key.data(), 32) + "\n";
    auto w = write_private_file(path, text, /*replace=*/false);
    wipe_string(text);
    if (w.status == PrivateFile::Status::ok) return key;
    if (w.status != PrivateFile::Status::exists) return unusable(path, w.why);
    // Another process created it between our read and our link: read theirs.
  }
  return unusable(path, "it keeps appearing and disappearing");
}

}  // namespace sw::owner
