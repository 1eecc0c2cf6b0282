#include <malloc.h>
#include <openssl/crypto.h>
#ifdef SW_PORTABLE
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdlib>
#include <initializer_list>
#endif

#include "app/app.h"

#ifdef SW_PORTABLE
namespace {
// The self-contained release carries OpenSSL with the build machine's (Debian's) default trust-store paths. On a
// system that keeps its CA bundle elsewhere (Fedora, Arch, openSUSE, Alpine), point OpenSSL at the bundle there,
// unless the user chose one with SSL_CERT_FILE / SSL_CERT_DIR. Runs before any thread exists.
void find_system_ca_bundle() {
  if (std::getenv(X509_get_default_cert_file_env()) || std::getenv(X509_get_default_cert_dir_env())) return;
  struct stat st {};
  if (::stat(X509_get_default_cert_dir(), &st) == 0 || ::stat(X509_get_default_cert_file(), &st) == 0) return;
  for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                             "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"}) {
    if (::stat(bundle, &st) == 0 && S_ISREG(st.st_mode)) {
      ::setenv(X509_get_default_cert_file_env(), bundle, 0);
      return;
    }
  }
}
}  // namespace
#endif

int main(int argc, char** argv) {
  // Few malloc arenas: tool calls run on short-lived worker threads, and one glibc arena per thread costs
  // hundreds of KB of RSS each for no measurable speed-up at our allocation rates.
  mallopt(M_ARENA_MAX, 2);
  // We use OpenSSL only for its built-in algorithms: skip reading the system openssl.cnf (and whatever extra
  // providers and engines it would load). Error strings are loaded only when an error is formatted.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr);
#ifdef SW_PORTABLE
  find_system_ca_bundle();
#endif
  return sw_main(argc, argv);
}
