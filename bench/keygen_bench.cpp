// keygen-bench [N]: mean time to make one host key of each type in-process, as wsinit does.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "sshd_setup/keys.h"

using namespace wsinit::sshd_setup;

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  for (KeyType type : {KeyType::ed25519, KeyType::ecdsa, KeyType::rsa}) {
    int rounds = type == KeyType::rsa ? std::max(1, n / 4) : n;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {
      auto key = generate_key(type, "bench");
      if (!key) return fprintf(stderr, "%s\n", key.error().message.c_str()), 1;
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / rounds;
    printf("%s %.3f\n", key_type_name(type).c_str(), ms);
  }
  return 0;
}
