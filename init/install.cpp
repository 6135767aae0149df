// `wsinit install DIR`: the injector init container's whole job. The running binary is copied
// to DIR/wsinit through a temporary file and one rename, so a main container starting at the
// same moment sees the old binary or the new one, never half of one.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fs.h"
#include "init/init.h"

namespace wsinit::init {

int install(const Command& command) {
  const std::string& dir = command.target;
  std::string target = (dir.size() > 1 && dir.back() == '/' ? dir.substr(0, dir.size() - 1) : dir) + "/wsinit";
  if (auto done = fs::make_dirs(dir, 0755); !done) {
    fprintf(stderr, "wsinit install: %s\n", done.error().message.c_str());
    return 1;
  }
  auto binary = fs::read_file("/proc/self/exe", 256 << 20);
  if (!binary) {
    fprintf(stderr, "wsinit install: cannot read the running binary (/proc/self/exe): %s\n",
            strerror(binary.error().code));
    return 1;
  }
  if (auto done = fs::write_atomically(target, *binary, 0755); !done) {
    fprintf(stderr, "wsinit install: %s\n", done.error().message.c_str());
    return 1;
  }
  printf("installed wsinit %s as %s (%zu bytes)\n", WSINIT_VERSION, target.c_str(), binary->size());
  return 0;
}

}  // namespace wsinit::init
