// libFuzzer target: whole SFTP sessions (sftp_server/session.cpp) on a scratch directory made
// anew for each input. The input is a script: each step builds one packet of any type, known or
// not, with fields taken from the input (numbers, data, attributes, handles the server gave or
// forged ones), cut short anywhere or left whole, the stream fed in chunks of any size and the
// replies read now or later. Every path field is a name inside the scratch directory (a symlink
// made points inside too), so the fuzzer's operations never reach the rest of the machine.
// Invariants: exactly one well-formed reply per request, in order, with its id; status codes
// are SSH_FX_* codes; DATA at most kMaxReadLength, NAME at most kMaxDirEntries; the output stays
// under kMaxPendingOutput plus one reply; at most kMaxHandles open; consume() never takes more
// than it was given, nor anything after failed(); no descriptor is left open after the session.
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "sftp_server/sftp_server.h"

namespace {

using namespace wsinit::sftp_server;

std::string g_root;  // the scratch directory, made once per process

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string str(const std::string& s) { return u32(static_cast<std::uint32_t>(s.size())) + s; }
std::uint32_t get_u32(const char* p) {
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path.c_str(), 0700);  // the session may have taken every permission away
    if (DIR* d = opendir(path.c_str())) {
      std::vector<std::string> names;
      while (dirent* e = readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
      closedir(d);
      for (const auto& n : names) remove_tree(path + "/" + n);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

void make_scratch() {
  remove_tree(g_root + "/s");
  mkdir((g_root + "/s").c_str(), 0755);
  mkdir((g_root + "/s/d").c_str(), 0755);
  int fd = open((g_root + "/s/a").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    std::string text(70000, 'a');
    if (write(fd, text.data(), text.size()) < 0) abort();
    close(fd);
  }
  if (symlink("a", (g_root + "/s/l").c_str()) != 0) abort();
}

int count_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

// Names inside the scratch directory only: no "..", no other absolute path.
std::string path(FuzzedDataProvider& in) {
  static const char* const kNames[] = {"", "a", "b", "d", "d/a", "d/b", "l", "d/l", "missing/x", "a/x", "."};
  return g_root + "/s/" + kNames[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kNames) - 1)];
}
std::string link_target(FuzzedDataProvider& in) {
  static const char* const kTargets[] = {"a", "b", "d", "l", "missing"};
  return kTargets[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kTargets) - 1)];
}

struct Script {
  FuzzedDataProvider& in;
  std::deque<std::string>& handles;  // the last ones the server gave

  std::string handle() {
    if (handles.empty() || in.ConsumeIntegralInRange(0, 7) == 0) return in.ConsumeBytesAsString(in.ConsumeIntegralInRange(0, 9));
    return handles[in.ConsumeIntegralInRange<std::size_t>(0, handles.size() - 1)];
  }
  std::string attrs() {
    std::uint32_t flags = in.ConsumeIntegral<std::uint32_t>();
    std::string a = u32(flags);
    if (flags & 1) a += u32(0) + u32(in.ConsumeIntegralInRange<std::uint32_t>(0, 200000));  // sizes stay small
    if (flags & 2) a += u32(in.ConsumeIntegral<std::uint32_t>()) + u32(in.ConsumeIntegral<std::uint32_t>());
    if (flags & 4) a += u32(in.ConsumeIntegral<std::uint32_t>());
    if (flags & 8) a += u32(in.ConsumeIntegral<std::uint32_t>()) + u32(in.ConsumeIntegral<std::uint32_t>());
    if (flags & 0x80000000) {
      std::uint32_t n = in.ConsumeIntegralInRange<std::uint32_t>(0, 3);
      a += u32(n);
      for (std::uint32_t i = 0; i < n; ++i) a += str(in.ConsumeBytesAsString(4)) + str(in.ConsumeBytesAsString(4));
    }
    return a;
  }
  std::string offset() { return u32(in.ConsumeBool() ? in.ConsumeIntegral<std::uint32_t>() : 0) + u32(in.ConsumeIntegral<std::uint32_t>()); }
  std::string extended();
  std::string body(std::uint8_t type);
};

std::string Script::extended() {
  static const char* const kNames[] = {"posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com",
                                       "hardlink@openssh.com",     "fsync@openssh.com",   "lsetstat@openssh.com",
                                       "limits@openssh.com",       "expand-path@openssh.com", "copy-data"};
  std::size_t which = in.ConsumeIntegralInRange<std::size_t>(0, std::size(kNames) - 1);
  std::string b = str(kNames[which]);
  switch (which) {
    case 0: case 3: return b + str(path(in)) + str(path(in));
    case 1: return b + str(path(in));
    case 2: case 4: return b + str(handle());
    case 5: return b + str(path(in)) + attrs();
    case 7: return b + str(in.ConsumeBool() ? "~/" + link_target(in) : path(in));
    default: return b + str(handle());
  }
}

std::string Script::body(std::uint8_t type) {
  switch (type) {
    case 3: return str(path(in)) + u32(in.ConsumeIntegral<std::uint32_t>()) + attrs();
    case 4: case 8: case 12: return str(handle());
    case 5: return str(handle()) + offset() + u32(in.ConsumeIntegral<std::uint32_t>());
    case 6: return str(handle()) + offset() + str(in.ConsumeBytesAsString(in.ConsumeIntegralInRange(0, 3000)));
    case 7: case 11: case 13: case 15: case 17: case 19: return str(path(in));
    case 9: case 14: return str(path(in)) + attrs();
    case 10: return str(handle()) + attrs();
    case 16: return str(in.ConsumeBool() ? path(in) : in.ConsumeBytesAsString(in.ConsumeIntegralInRange(0, 40)));
    case 18: return str(path(in)) + str(path(in));
    case 20: return str(link_target(in)) + str(path(in));
    case 200: return extended();
    default: return in.ConsumeBytesAsString(in.ConsumeIntegralInRange(0, 16));  // no path is read from these
  }
}

}  // namespace

namespace {

// What the stream holds, in order: a reply expected (its id; ~0u for VERSION), or the packet
// that must end the session.
struct Expect {
  bool ends = false;
  std::uint32_t id = 0;
};

struct Harness {
  Session session;
  std::string unfed, pending;  // built but not yet given; given but not yet taken
  std::deque<Expect> expect;
  std::deque<std::string> handles;
  bool initialized = false, ended = false;

  explicit Harness(Options o) : session(std::move(o)) {}

  void add(std::uint8_t type, std::string body) {
    if (ended) return;
    unfed += u32(static_cast<std::uint32_t>(body.size() + 1)) + std::string(1, static_cast<char>(type)) + body;
    bool ends = type == 1 ? initialized : !initialized || body.size() < 4;
    if (type == 1) initialized = true;
    expect.push_back({ends, type == 1 ? ~0u : ends ? 0 : get_u32(body.data())});
    ended = ends;
  }
  void oversize(std::uint32_t length) {
    if (ended) return;
    unfed += u32(length);
    expect.push_back({true, 0});
    ended = true;
  }
  void feed(std::size_t n) {
    n = std::min(n, unfed.size());
    pending += unfed.substr(0, n);
    unfed.erase(0, n);
    step();
  }
  void step() {
    bool was_failed = session.failed();
    std::size_t taken = session.consume(pending.data(), pending.size());
    if (taken > pending.size() || (was_failed && taken != 0)) abort();
    pending.erase(0, taken);
    if (session.output_size() > kMaxPendingOutput + 256 * 1024) abort();
    if (session.open_handles() > kMaxHandles) abort();
  }
  void check_reply(std::uint8_t type, const char* p, std::uint32_t len);
  void drain();
};

void Harness::check_reply(std::uint8_t type, const char* p, std::uint32_t len) {
  if (expect.empty() || expect.front().ends) abort();  // a reply nothing asked for
  Expect e = expect.front();
  expect.pop_front();
  if (type == 2) {
    if (e.id != ~0u) abort();
    return;
  }
  if (len < 5 || get_u32(p + 5) != e.id) abort();
  std::uint32_t body = len - 5;
  const char* b = p + 9;
  switch (type) {
    case 101: if (body < 12 || get_u32(b) > 8) abort(); break;
    case 102:
      if (body != 12 || get_u32(b) != 8) abort();
      handles.push_back(std::string(b + 4, 8));
      if (handles.size() > 16) handles.pop_front();
      break;
    case 103: if (body < 4 || get_u32(b) != body - 4 || body - 4 > kMaxReadLength || body == 4) abort(); break;
    case 104: if (body < 4 || get_u32(b) == 0 || get_u32(b) > kMaxDirEntries) abort(); break;
    case 105: case 201: break;
    default: abort();
  }
}

void Harness::drain() {
  std::string out(session.output_data(), session.output_size());
  session.output_done(out.size());
  std::size_t at = 0;
  while (at < out.size()) {
    if (out.size() - at < 5) abort();
    std::uint32_t len = get_u32(out.data() + at);
    if (len < 1 || len > out.size() - at - 4) abort();
    check_reply(static_cast<std::uint8_t>(out[at + 4]), out.data() + at, len);
    at += 4 + std::size_t{len};
  }
}

void run_script(Harness& h, FuzzedDataProvider& in) {
  Script script{in, h.handles};
  if (in.ConsumeIntegralInRange(0, 15) != 0) h.add(1, u32(3));
  std::uint32_t next_id = 1;
  for (int steps = 0; steps < 200 && in.remaining_bytes() > 0; ++steps) {
    int action = in.ConsumeIntegralInRange(0, 15);
    if (action < 11) {
      static const std::uint8_t kTypes[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 200};
      std::uint8_t type = in.ConsumeBool() ? kTypes[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kTypes) - 1)]
                                           : in.ConsumeIntegral<std::uint8_t>();
      std::string body = u32(next_id++) + script.body(type);
      if (in.ConsumeIntegralInRange(0, 7) == 0) body.resize(in.ConsumeIntegralInRange<std::size_t>(0, body.size()));
      h.add(type, body);
    } else if (action == 11) {
      if (in.ConsumeIntegralInRange(0, 7) == 0) h.oversize(in.ConsumeIntegralInRange<std::uint32_t>(kMaxPacketLength + 1, ~0u));
    } else if (action < 14) {
      h.feed(in.ConsumeIntegralInRange<std::size_t>(0, 70000));
    } else {
      h.drain();
    }
  }
  h.feed(h.unfed.size());
  for (int rounds = 0; rounds < 1000 && !h.pending.empty() && !h.session.failed(); ++rounds) {
    h.drain();
    h.step();
  }
  h.drain();
  if (!h.session.failed() && (!h.pending.empty() || !h.expect.empty())) abort();  // every request answered
  if (h.session.failed() && (h.expect.empty() || !h.expect.front().ends)) abort();  // ended where it had to
}

void remove_root() { remove_tree(g_root); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/wsinit-sftp-fuzz-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) abort();
  g_root = tmpl;
  atexit(remove_root);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  make_scratch();
  int fds = count_fds();
  {
    Options o;
    o.home = g_root + "/s";
    o.user_names[0] = "root";
    Harness h(o);
    FuzzedDataProvider in(data, size);
    run_script(h, in);
  }
  if (count_fds() != fds) abort();  // the session closed every handle it had
  return 0;
}
