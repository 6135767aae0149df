// The SFTP session core (sftp_server/): whole packets in, replies out, on a temporary directory.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "sftp_server/paths.h"
#include "sftp_server/sftp_server.h"
#include "test_util.h"

namespace {

using namespace wsinit::sftp_server;
using wsinit::testing::slurp;
using wsinit::testing::spit;
using wsinit::testing::TempDir;

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string u64(std::uint64_t v) { return u32(static_cast<std::uint32_t>(v >> 32)) + u32(static_cast<std::uint32_t>(v)); }
std::string str(const std::string& s) { return u32(static_cast<std::uint32_t>(s.size())) + s; }
std::string framed(std::uint8_t type, const std::string& body) {
  return u32(static_cast<std::uint32_t>(body.size() + 1)) + std::string(1, static_cast<char>(type)) + body;
}

std::uint32_t get_u32(const std::string& s, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s.at(at + i))); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}
std::uint64_t get_u64(const std::string& s, std::size_t at) {
  return std::uint64_t{get_u32(s, at)} << 32 | get_u32(s, at + 4);
}
std::string get_str(const std::string& s, std::size_t& at) {
  std::uint32_t n = get_u32(s, at);
  std::string v = s.substr(at + 4, n);
  at += 4 + n;
  return v;
}

struct Reply {
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  std::string body;  // after the id
  std::uint32_t code() const { return get_u32(body, 0); }
  std::string message() const {
    std::size_t at = 4;
    return get_str(body, at);
  }
};

// Drives a Session as a client would, one request at a time.
struct Client {
  Session session;
  std::string pending;
  std::uint32_t next_id = 1;

  explicit Client(Options options = {}, bool init = true) : session(std::move(options)) {
    if (init) {
      send(framed(1, u32(3)));
      EXPECT_EQ(take_output().substr(4, 1), "\x02");
    }
  }
  void send(const std::string& bytes) {
    pending += bytes;
    pending.erase(0, session.consume(pending.data(), pending.size()));
  }
  std::string take_output() {
    std::string out(session.output_data(), session.output_size());
    session.output_done(out.size());
    return out;
  }
  std::vector<Reply> replies() {
    std::string out = take_output();
    std::vector<Reply> r;
    for (std::size_t at = 0; at + 9 <= out.size();) {
      std::uint32_t len = get_u32(out, at);
      r.push_back({static_cast<std::uint8_t>(out[at + 4]), get_u32(out, at + 5), out.substr(at + 9, len - 5)});
      at += 4 + len;
    }
    return r;
  }
  Reply call(std::uint8_t type, const std::string& payload) {
    std::uint32_t id = next_id++;
    send(framed(type, u32(id) + payload));
    auto r = replies();
    EXPECT_EQ(r.size(), 1u);
    if (r.empty()) return {};
    EXPECT_EQ(r[0].id, id);
    return r[0];
  }
  std::uint32_t status(std::uint8_t type, const std::string& payload) {
    Reply r = call(type, payload);
    EXPECT_EQ(r.type, 101) << "type " << int(type);
    return r.type == 101 ? r.code() : 999;
  }
  std::string handle(std::uint8_t type, const std::string& payload) {
    Reply r = call(type, payload);
    EXPECT_EQ(r.type, 102) << (r.type == 101 ? r.message() : "");
    std::size_t at = 0;
    return r.type == 102 ? get_str(r.body, at) : "";
  }
  std::string open(const std::string& path, std::uint32_t pflags, std::string attrs = u32(0)) {
    return handle(3, str(path) + u32(pflags) + attrs);
  }
  std::vector<std::string> names(const Reply& r, std::vector<std::string>* longnames = nullptr) {
    std::vector<std::string> v;
    if (r.type != 104) return v;
    std::uint32_t count = get_u32(r.body, 0);
    std::size_t at = 4;
    for (std::uint32_t i = 0; i < count; ++i) {
      v.push_back(get_str(r.body, at));
      std::string l = get_str(r.body, at);
      if (longnames) longnames->push_back(l);
      std::uint32_t flags = get_u32(r.body, at);
      at += 4 + (flags & 1 ? 8 : 0) + (flags & 2 ? 8 : 0) + (flags & 4 ? 4 : 0) + (flags & 8 ? 8 : 0);
    }
    return v;
  }
  std::string realpath(const std::string& path) {
    auto n = names(call(16, str(path)));
    return n.size() == 1 ? n[0] : "<error>";
  }
};

constexpr std::uint32_t kRead = 1, kWrite = 2, kAppend = 4, kCreat = 8, kTrunc = 0x10, kExcl = 0x20;
constexpr std::uint8_t kOpen = 3, kClose = 4, kReadReq = 5, kWriteReq = 6, kLstat = 7, kFstat = 8, kSetstat = 9,
                       kFsetstat = 10, kOpendir = 11, kReaddir = 12, kRemove = 13, kMkdir = 14, kRmdir = 15,
                       kStat = 17, kRename = 18, kReadlink = 19, kSymlink = 20, kExtended = 200;

TEST(SftpSession, InitAnswersVersion3AndNamesEveryExtension) {
  Client c({}, false);
  c.send(framed(1, u32(6)));
  std::string out = c.take_output();
  ASSERT_GE(out.size(), 9u);
  EXPECT_EQ(out[4], 2);
  EXPECT_EQ(get_u32(out, 5), 3u);
  for (const char* ext : {"posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com",
                          "hardlink@openssh.com", "fsync@openssh.com", "lsetstat@openssh.com", "limits@openssh.com",
                          "expand-path@openssh.com"})
    EXPECT_NE(out.find(ext), std::string::npos) << ext;
}

TEST(SftpSession, ARequestBeforeInitEndsTheSession) {
  Client c({}, false);
  c.send(framed(17, u32(1) + str("/")));
  EXPECT_TRUE(c.session.failed());
  EXPECT_NE(c.session.error().find("before INIT"), std::string::npos);
  EXPECT_EQ(c.session.output_size(), 0u);
}

TEST(SftpSession, APacketOverTheBoundEndsTheSessionFromItsLengthAlone) {
  Client c;
  c.send(u32(kMaxPacketLength + 1));
  EXPECT_TRUE(c.session.failed());
  EXPECT_NE(c.session.error().find("bound"), std::string::npos);
  Client z;
  z.send(u32(0));
  EXPECT_TRUE(z.session.failed());
  Client ok;
  ok.send(u32(kMaxPacketLength));  // at the bound: waits for the rest
  EXPECT_FALSE(ok.session.failed());
}

TEST(SftpSession, AnIncompletePacketWaitsForItsRest) {
  Client c;
  std::string p = framed(16, u32(7) + str("/"));
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    c.send(p.substr(i, 1));
    EXPECT_EQ(c.session.output_size(), 0u);
  }
  c.send(p.substr(p.size() - 1));
  auto r = c.replies();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, 7u);
}

TEST(SftpSession, FieldsCutShortOrHoldingNulAreABadMessageNotTheEnd) {
  TempDir d;
  Client c;
  EXPECT_EQ(c.status(kOpen, u32(100) + "abc"), 5u);                    // string longer than the packet
  EXPECT_EQ(c.status(kOpen, str(d.path + "/x") + u32(kRead)), 5u);     // attrs missing
  EXPECT_EQ(c.status(kReadReq, str("12345678") + u32(0)), 5u);         // offset cut
  EXPECT_EQ(c.status(kStat, str(std::string("a\0b", 3))), 5u);         // NUL in a path
  EXPECT_EQ(c.status(kMkdir, str(d.path + "/m") + u32(0x80000000) + u32(5) + str("a")), 5u);  // ext pairs short
  EXPECT_EQ(c.status(kExtended, u32(3)), 5u);
  EXPECT_FALSE(c.session.failed());
  EXPECT_EQ(c.realpath("/"), "/");  // the session goes on
}

TEST(SftpSession, APacketWithoutARequestIdEndsTheSession) {
  Client c;
  c.send(framed(17, "ab"));
  EXPECT_TRUE(c.session.failed());
}

TEST(SftpSession, HandlesAreCheckedOnEveryUse) {
  TempDir d;
  spit(d.path + "/f", "data");
  Client c;
  std::string h = c.open(d.path + "/f", kRead);
  ASSERT_EQ(h.size(), 8u);
  EXPECT_EQ(c.status(kReadReq, str("short") + u64(0) + u32(10)), 4u);
  std::string forged = h;
  forged[7] ^= 1;  // another generation of the same slot
  EXPECT_EQ(c.status(kReadReq, str(forged) + u64(0) + u32(10)), 4u);
  std::string other = h;
  other[3] = 9;  // a slot never used
  EXPECT_EQ(c.status(kFstat, str(other)), 4u);
  EXPECT_EQ(c.status(kReaddir, str(h)), 4u);  // a file handle is no directory handle
  EXPECT_EQ(c.status(kClose, str(h)), 0u);
  EXPECT_EQ(c.status(kReadReq, str(h) + u64(0) + u32(10)), 4u);  // closed
  EXPECT_EQ(c.status(kClose, str(h)), 4u);
  std::string again = c.open(d.path + "/f", kRead);  // the same slot, a new generation
  EXPECT_NE(again, h);
  EXPECT_EQ(c.session.open_handles(), 1u);
}

TEST(SftpSession, WriteThenReadBackAndEndOfFile) {
  TempDir d;
  Client c;
  std::string h = c.open(d.path + "/f", kWrite | kCreat | kTrunc, u32(4) + u32(0640));
  EXPECT_EQ(c.status(kWriteReq, str(h) + u64(0) + str("hello ")), 0u);
  EXPECT_EQ(c.status(kWriteReq, str(h) + u64(6) + str("world")), 0u);
  EXPECT_EQ(c.status(kReadReq, str(h) + u64(0) + u32(5)), 2u);  // opened write-only: EBADF, as OpenSSH maps it
  EXPECT_EQ(c.status(kClose, str(h)), 0u);
  EXPECT_EQ(slurp(d.path + "/f"), "hello world");
  struct stat st;
  ASSERT_EQ(stat((d.path + "/f").c_str(), &st), 0);
  mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0640u & ~mask);
  h = c.open(d.path + "/f", kRead);
  Reply r = c.call(kReadReq, str(h) + u64(6) + u32(100));
  ASSERT_EQ(r.type, 103);
  std::size_t at = 0;
  EXPECT_EQ(get_str(r.body, at), "world");
  EXPECT_EQ(c.status(kReadReq, str(h) + u64(11) + u32(100)), 1u);  // EOF
  EXPECT_EQ(c.status(kReadReq, str(h) + u64(~0ull) + u32(100)), 5u);
}

TEST(SftpSession, AReadIsServedShortAtTheBound) {
  TempDir d;
  spit(d.path + "/big", std::string(kMaxReadLength + 5000, 'x'));
  Client c;
  std::string h = c.open(d.path + "/big", kRead);
  Reply r = c.call(kReadReq, str(h) + u64(0) + u32(4 * 1024 * 1024));
  ASSERT_EQ(r.type, 103);
  EXPECT_EQ(get_u32(r.body, 0), kMaxReadLength);
}

TEST(SftpSession, OpenFlags) {
  TempDir d;
  spit(d.path + "/f", "abc");
  Client c;
  EXPECT_EQ(c.status(kOpen, str(d.path + "/f") + u32(kWrite | kCreat | kExcl) + u32(0)), 4u);
  Reply r = c.call(kOpen, str(d.path + "/missing") + u32(kRead) + u32(0));
  EXPECT_EQ(r.code(), 2u);
  EXPECT_EQ(r.message(), "No such file or directory");
  std::string h = c.open(d.path + "/f", kWrite | kAppend);
  EXPECT_EQ(c.status(kWriteReq, str(h) + u64(0) + str("def")), 0u);
  c.status(kClose, str(h));
  EXPECT_EQ(slurp(d.path + "/f"), "abcdef");
  h = c.open(d.path + "/f", kWrite | kTrunc);
  c.status(kClose, str(h));
  EXPECT_EQ(slurp(d.path + "/f"), "");
}

std::uint32_t attr_flags(const Reply& r) { return get_u32(r.body, 0); }

TEST(SftpSession, StatLstatFstatAndSetstat) {
  TempDir d;
  spit(d.path + "/f", "12345");
  ASSERT_EQ(symlink("f", (d.path + "/l").c_str()), 0);
  Client c;
  Reply s = c.call(kStat, str(d.path + "/l"));
  ASSERT_EQ(s.type, 105);
  EXPECT_EQ(attr_flags(s), 15u);
  EXPECT_EQ(get_u64(s.body, 4), 5u);
  EXPECT_TRUE(S_ISREG(get_u32(s.body, 20)));
  Reply l = c.call(kLstat, str(d.path + "/l"));
  EXPECT_TRUE(S_ISLNK(get_u32(l.body, 20)));
  EXPECT_EQ(c.status(kStat, str(d.path + "/none")), 2u);
  // size, mode and times by path, then by handle
  EXPECT_EQ(c.status(kSetstat, str(d.path + "/f") + u32(1 | 4 | 8) + u64(2) + u32(0600) + u32(1000) + u32(2000)), 0u);
  struct stat st;
  ASSERT_EQ(stat((d.path + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 2);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 2000);
  EXPECT_EQ(st.st_atime, 1000);
  std::string h = c.open(d.path + "/f", kRead | kWrite);
  EXPECT_EQ(c.status(kFsetstat, str(h) + u32(1 | 4) + u64(7) + u32(0644)), 0u);
  Reply f = c.call(kFstat, str(h));
  EXPECT_EQ(get_u64(f.body, 4), 7u);
  EXPECT_EQ(get_u32(f.body, 20) & 07777, 0644u);
  // lsetstat: no size (as OpenSSH), times of the link itself
  ASSERT_EQ(stat((d.path + "/f").c_str(), &st), 0);
  time_t target_mtime = st.st_mtime;
  std::string lset = str("lsetstat@openssh.com") + str(d.path + "/l");
  EXPECT_EQ(c.status(kExtended, lset + u32(1) + u64(0)), 5u);
  EXPECT_EQ(c.status(kExtended, lset + u32(8) + u32(10) + u32(20)), 0u);
  ASSERT_EQ(lstat((d.path + "/l").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 20);
  ASSERT_EQ(stat((d.path + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, target_mtime);
}

TEST(SftpSession, ReaddirListsEverythingInBatchesThenEof) {
  TempDir d;
  for (int i = 0; i < 250; ++i) spit(d.path + "/f" + std::to_string(i), "x");
  Client c;
  std::string h = c.handle(kOpendir, str(d.path));
  std::vector<std::string> all, longs;
  for (int round = 0; round < 10; ++round) {
    Reply r = c.call(kReaddir, str(h));
    if (r.type == 101) {
      EXPECT_EQ(r.code(), 1u);
      break;
    }
    auto n = c.names(r, &longs);
    EXPECT_LE(n.size(), kMaxDirEntries);
    all.insert(all.end(), n.begin(), n.end());
  }
  EXPECT_EQ(all.size(), 252u);  // with . and ..
  EXPECT_EQ(c.status(kReaddir, str(h)), 1u);  // stays at the end
  for (const auto& l : longs)
    if (l.ends_with(" f7")) EXPECT_EQ(l.substr(0, 15), "-rw-r--r--    1") << l;
  EXPECT_EQ(c.status(kOpendir, str(d.path + "/f1")), 2u);  // ENOTDIR
  EXPECT_EQ(c.status(kReadReq, str(h) + u64(0) + u32(1)), 4u);
  EXPECT_EQ(c.status(kClose, str(h)), 0u);
}

TEST(SftpSession, RemoveMkdirRmdir) {
  TempDir d;
  spit(d.path + "/f", "x");
  Client c;
  EXPECT_EQ(c.status(kRemove, str(d.path + "/f")), 0u);
  EXPECT_EQ(c.status(kRemove, str(d.path + "/f")), 2u);
  EXPECT_EQ(c.status(kMkdir, str(d.path + "/m") + u32(4) + u32(0700)), 0u);
  struct stat st;
  ASSERT_EQ(stat((d.path + "/m").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(c.status(kMkdir, str(d.path + "/m") + u32(0)), 4u);  // EEXIST
  spit(d.path + "/m/in", "x");
  EXPECT_EQ(c.status(kRmdir, str(d.path + "/m")), 4u);  // ENOTEMPTY
  EXPECT_EQ(c.status(kRemove, str(d.path + "/m/in")), 0u);
  EXPECT_EQ(c.status(kRmdir, str(d.path + "/m")), 0u);
}

struct InDir {  // chdir for one test, back afterwards
  char old[PATH_MAX];
  explicit InDir(const std::string& dir) {
    EXPECT_NE(getcwd(old, sizeof old), nullptr);
    EXPECT_EQ(chdir(dir.c_str()), 0);
  }
  ~InDir() { EXPECT_EQ(chdir(old), 0); }
};

TEST(SftpSession, RealpathCases) {
  TempDir t;
  char real[PATH_MAX];
  ASSERT_NE(realpath(t.path.c_str(), real), nullptr);
  std::string d = real;
  mkdir((d + "/sub").c_str(), 0755);
  symlink("sub", (d + "/link").c_str());
  InDir in(d);
  Client c;
  EXPECT_EQ(c.realpath("."), d);
  EXPECT_EQ(c.realpath(""), d);
  EXPECT_EQ(c.realpath("sub"), d + "/sub");
  EXPECT_EQ(c.realpath("sub/"), d + "/sub");
  EXPECT_EQ(c.realpath("link/../sub/./"), d + "/sub");
  EXPECT_EQ(c.realpath("link"), d + "/sub");
  EXPECT_EQ(c.realpath("new-file"), d + "/new-file");  // the last component need not exist
  EXPECT_EQ(c.realpath("link/new"), d + "/sub/new");
  EXPECT_EQ(c.realpath("/.."), "/");
  EXPECT_EQ(c.realpath("//"), "/");
  EXPECT_EQ(c.status(16, str("missing/new")), 2u);  // nor any other
  Options o;
  o.home = d + "/sub";
  o.homes["someone"] = d;
  Client e(o);
  auto expand = [&](const std::string& p) {
    auto n = e.names(e.call(kExtended, str("expand-path@openssh.com") + str(p)));
    return n.size() == 1 ? n[0] : "<error>";
  };
  EXPECT_EQ(expand("~"), d + "/sub");
  EXPECT_EQ(expand("~/x"), d + "/sub/x");
  EXPECT_EQ(expand("~someone/link"), d + "/sub");
  EXPECT_EQ(expand("sub"), d + "/sub");
  EXPECT_EQ(e.status(kExtended, str("expand-path@openssh.com") + str("~nobody-here/x")), 2u);
}

TEST(SftpSession, RenameRefusesAnExistingTargetPosixRenameReplaces) {
  TempDir d;
  spit(d.path + "/a", "A");
  spit(d.path + "/b", "B");
  Client c;
  EXPECT_EQ(c.status(kRename, str(d.path + "/a") + str(d.path + "/b")), 4u);
  EXPECT_EQ(slurp(d.path + "/b"), "B");
  EXPECT_EQ(c.status(kRename, str(d.path + "/a") + str(d.path + "/c")), 0u);
  EXPECT_EQ(slurp(d.path + "/c"), "A");
  EXPECT_EQ(c.status(kExtended, str("posix-rename@openssh.com") + str(d.path + "/c") + str(d.path + "/b")), 0u);
  EXPECT_EQ(slurp(d.path + "/b"), "A");
  EXPECT_EQ(c.status(kRename, str(d.path + "/none") + str(d.path + "/z")), 2u);
}

TEST(SftpSession, SymlinkTakesTheTargetFirstAsOpenSSH) {
  TempDir d;
  spit(d.path + "/t", "T");
  Client c;
  EXPECT_EQ(c.status(kSymlink, str("t") + str(d.path + "/link")), 0u);
  EXPECT_EQ(slurp(d.path + "/link"), "T");
  auto n = c.names(c.call(kReadlink, str(d.path + "/link")));
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0], "t");
  EXPECT_EQ(c.status(kReadlink, str(d.path + "/t")), 5u);  // EINVAL: no symlink
  EXPECT_EQ(c.status(kExtended, str("hardlink@openssh.com") + str(d.path + "/t") + str(d.path + "/h")), 0u);
  struct stat st;
  ASSERT_EQ(stat((d.path + "/t").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST(SftpSession, StatvfsFsyncLimitsAndTheUnknown) {
  TempDir d;
  Client c;
  Reply v = c.call(kExtended, str("statvfs@openssh.com") + str(d.path));
  ASSERT_EQ(v.type, 201);
  EXPECT_EQ(v.body.size(), 88u);
  EXPECT_GT(get_u64(v.body, 0), 0u);
  std::string h = c.open(d.path + "/f", kWrite | kCreat);
  EXPECT_EQ(c.call(kExtended, str("fstatvfs@openssh.com") + str(h)).type, 201);
  EXPECT_EQ(c.status(kExtended, str("fsync@openssh.com") + str(h)), 0u);
  std::string dh = c.handle(kOpendir, str(d.path));
  EXPECT_EQ(c.status(kExtended, str("fsync@openssh.com") + str(dh)), 8u);
  Reply l = c.call(kExtended, str("limits@openssh.com"));
  ASSERT_EQ(l.type, 201);
  EXPECT_EQ(get_u64(l.body, 0), kAdvertisedPacketLength);
  EXPECT_EQ(get_u64(l.body, 8), kMaxReadLength);
  EXPECT_EQ(get_u64(l.body, 24), kMaxHandles);
  EXPECT_EQ(c.status(kExtended, str("copy-data") + str(h)), 8u);
  EXPECT_EQ(c.status(77, u32(1)), 8u);
  c.send(framed(1, u32(3)));  // a second INIT ends the session
  EXPECT_TRUE(c.session.failed());
}

TEST(SftpSession, HandlesAreBoundedAndComeBackWhenClosed) {
  TempDir d;
  spit(d.path + "/f", "x");
  Client c;
  std::vector<std::string> hs;
  for (std::size_t i = 0; i < kMaxHandles; ++i) hs.push_back(c.open(d.path + "/f", kRead));
  EXPECT_EQ(c.session.open_handles(), kMaxHandles);
  Reply r = c.call(kOpen, str(d.path + "/f") + u32(kRead) + u32(0));
  EXPECT_EQ(r.code(), 4u);
  EXPECT_NE(r.message().find("handles"), std::string::npos);
  EXPECT_EQ(c.status(kOpendir, str(d.path)), 4u);
  EXPECT_EQ(c.status(kClose, str(hs[100])), 0u);
  EXPECT_EQ(c.open(d.path + "/f", kRead).size(), 8u);
}

TEST(SftpSession, NoPacketIsTakenWhileTheOutputIsBackedUp) {
  TempDir d;
  spit(d.path + "/big", std::string(kMaxReadLength, 'x'));
  Client c;
  std::string h = c.open(d.path + "/big", kRead);
  std::string many;
  for (int i = 0; i < 40; ++i) many += framed(kReadReq, u32(100 + i) + str(h) + u64(0) + u32(kMaxReadLength));
  std::size_t taken = c.session.consume(many.data(), many.size());
  EXPECT_LT(taken, many.size());
  EXPECT_LE(c.session.output_size(), kMaxPendingOutput + kMaxReadLength + 13);
  std::size_t first = taken;
  c.session.output_done(c.session.output_size());
  taken += c.session.consume(many.data() + taken, many.size() - taken);
  EXPECT_GT(taken, first);
}

// serve() over one socket for both directions, as `sftp -D` gives it: requests whose replies
// are several times the output bound, sent at once and never followed by more input, are all
// answered (the loop goes back to the packets it stopped at, with no new input to wake it).
TEST(SftpServe, AnswersEveryRequestPastTheOutputBoundWithoutNewInput) {
  TempDir d;
  spit(d.path + "/big", std::string(kMaxReadLength, 'x'));
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // Room for all the replies the bound lets through at once, so one write empties the output
  // (root only: above the system's maximum).
  int room = 16 * 1024 * 1024;
  socklen_t len = sizeof room;
  if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof room) != 0 ||
      getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &room, &len) != 0 || room < 8 * 1024 * 1024)
    GTEST_SKIP() << "no socket buffer above the output bound (needs CAP_NET_ADMIN)";
  int status = -1;
  std::thread server([&] { status = serve(sv[1], sv[1], Options{}); });
  std::string requests = framed(1, u32(3)) + framed(3, u32(1) + str(d.path + "/big") + u32(1) + u32(0));
  ASSERT_EQ(write(sv[0], requests.data(), requests.size()), static_cast<ssize_t>(requests.size()));
  std::string got;
  auto read_until = [&](std::size_t replies_wanted) {
    std::size_t count = 0, at = 0;
    while (count < replies_wanted) {
      while (got.size() - at >= 4 && got.size() - at - 4 >= get_u32(got, at)) at += 4 + get_u32(got, at), ++count;
      if (count >= replies_wanted) break;
      struct pollfd p = {sv[0], POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) return count;  // 5 s without a byte: stuck
      char buf[65536];
      ssize_t n = read(sv[0], buf, sizeof buf);
      if (n <= 0) return count;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return count;
  };
  ASSERT_EQ(read_until(2), 2u);
  std::size_t at = 4 + get_u32(got, 0);
  std::size_t hat = at + 9;
  std::string h = get_str(got, hat);
  got.clear();
  std::string reads;
  for (std::uint32_t i = 0; i < 40; ++i) reads += framed(5, u32(10 + i) + str(h) + u64(0) + u32(kMaxReadLength));
  ASSERT_EQ(write(sv[0], reads.data(), reads.size()), static_cast<ssize_t>(reads.size()));
  EXPECT_EQ(read_until(40), 40u);
  shutdown(sv[0], SHUT_WR);
  server.join();
  EXPECT_EQ(status, 0);
  close(sv[0]);
  close(sv[1]);
}

TEST(SftpListing, ModeStringAndLongName) {
  EXPECT_EQ(mode_string(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(mode_string(S_IFREG | 04755), "-rwsr-xr-x");
  EXPECT_EQ(mode_string(S_IFREG | 02640), "-rw-r-S---");
  EXPECT_EQ(mode_string(S_IFDIR | 01777), "drwxrwxrwt");
  EXPECT_EQ(mode_string(S_IFLNK | 0777), "lrwxrwxrwx");
  struct stat st {};
  st.st_mode = S_IFREG | 0644;
  st.st_nlink = 1;
  st.st_uid = 1000;
  st.st_gid = 5;
  st.st_size = 1234;
  st.st_mtime = 0;  // long ago: the year
  Options o;
  o.user_names[1000] = "alice";
  std::string l = long_name("notes.txt", st, o, 100000000);
  EXPECT_TRUE(l.starts_with("-rw-r--r--    1 alice    5            1234 ")) << l;
  EXPECT_TRUE(l.ends_with(" 1970 notes.txt") || l.ends_with(" 1969 notes.txt")) << l;
}

}  // namespace
