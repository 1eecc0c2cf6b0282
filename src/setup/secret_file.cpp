// Secret files of the set-up commands (setup.h): the private-file primitives of src/common with this module's
// error codes and next steps.
#include "setup/setup.h"

namespace sw::setup {

namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("SECRET_FILE_UNUSABLE", path + ": " + what);
}

}  // namespace

Status write_secret_file(const std::string& path, std::string_view content, bool replace) {
  auto f = write_private_file(path, content, replace);
  switch (f.status) {
    case PrivateFile::Status::ok: return ok_status();
    case PrivateFile::Status::exists: return make_error("CONNECTION_EXISTS", path + " already exists");
    default: return unusable(path, f.why);
  }
}

Result<std::optional<std::string>> read_secret_file(const std::string& path, size_t max_bytes) {
  auto f = read_private_file(path, max_bytes);
  switch (f.status) {
    case PrivateFile::Status::ok: return std::optional<std::string>(std::move(f.content));
    case PrivateFile::Status::absent: return std::optional<std::string>{};
    case PrivateFile::Status::insecure:
      if (f.why == "is a symbolic link")
        return make_error("SECRET_FILE_INSECURE", path + " is a symbolic link: replace it with the file itself");
      return make_error("SECRET_FILE_INSECURE",
                        path + " " + f.why +
                            ": it may have been read by someone else; `chmod 600` it if you trust it, or remove it "
                            "and make a new one");
    default: return unusable(path, f.why);
  }
}

}  // namespace sw::setup
