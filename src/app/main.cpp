#include <malloc.h>
#include <openssl/crypto.h>

#include "app/app.h"

int main(int argc, char** argv) {
  // Few malloc arenas: tool calls run on short-lived worker threads, and one glibc arena per thread costs
  // hundreds of KB of RSS each for no measurable speed-up at our allocation rates.
  mallopt(M_ARENA_MAX, 2);
  // We use OpenSSL only for its built-in algorithms: skip reading the system openssl.cnf (and whatever extra
  // providers and engines it would load). Error strings are loaded only when an error is formatted.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr);
  return sw_main(argc, argv);
}
