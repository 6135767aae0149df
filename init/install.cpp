// `wsinit install DIR`: the injector init container's whole job. The running binary is copied
// to DIR/wsinit through a temporary file and one rename, so a main container starting at the
// same moment sees the old binary or the new one, never half of one.
#include <fcntl.h>
#include <unistd.h>

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
  // Copied in pieces: a build with sanitizers and debug information is hundreds of MB.
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    fprintf(stderr, "wsinit install: cannot open the running binary (/proc/self/exe): %s\n", strerror(errno));
    return 1;
  }
  auto copied = fs::copy_atomically(self, "the running binary (/proc/self/exe)", target, 0755);
  close(self);
  if (!copied) {
    fprintf(stderr, "wsinit install: %s\n", copied.error().message.c_str());
    return 1;
  }
  printf("installed wsinit %s as %s (%llu bytes)\n", WSINIT_VERSION, target.c_str(),
         static_cast<unsigned long long>(*copied));
  return 0;
}

}  // namespace wsinit::init
