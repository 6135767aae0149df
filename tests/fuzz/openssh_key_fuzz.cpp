// libFuzzer target: reading an OpenSSH private key file (a host key left on the persistent
// volume may be damaged or planted) never crashes; a key it accepts has a fingerprint.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sshd_setup/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::sshd_setup;
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto blob = public_blob_of(text)) {
    if (blob->empty() || fingerprint(*blob).rfind("SHA256:", 0) != 0) abort();
  } else if (blob.error().message.empty()) {
    abort();  // a refusal always says why
  }
  if (auto bytes = unbase64(text)) {
    if (unbase64(base64(*bytes)) != bytes) abort();
  }
  return 0;
}
