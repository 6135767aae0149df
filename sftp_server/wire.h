// The SFTP wire format: a byte buffer that fills without zeroing (READ replies are pread
// straight into it), big-endian writers, and a bounds-checked reader of one packet.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace wsinit::sftp_server {

// Bytes from begin to end; space is made by moving the live bytes to the front, then growing.
class Buffer {
 public:
  const char* data() const { return bytes_.get() + begin_; }
  std::size_t size() const { return end_ - begin_; }
  // Room for n more bytes at the end; valid until the next call that changes the buffer.
  char* reserve(std::size_t n);
  void commit(std::size_t n) { end_ += n; }
  void append(const void* p, std::size_t n) {
    std::memcpy(reserve(n), p, n);
    end_ += n;
  }
  void drop_front(std::size_t n);
  void truncate(std::size_t n) { if (n < size()) end_ = begin_ + n; }  // keeps the first n bytes
  // Writes v big-endian over 4 bytes already appended at `offset` from data().
  void patch_u32(std::size_t offset, std::uint32_t v);

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t begin_ = 0, end_ = 0, capacity_ = 0;
};

// Writes v big-endian into q[0..3].
void store_u32(char* q, std::uint32_t v);
void put_u8(Buffer& b, std::uint8_t v);
void put_u32(Buffer& b, std::uint32_t v);
void put_u64(Buffer& b, std::uint64_t v);
void put_string(Buffer& b, std::string_view s);

// Reads the fields of one packet; any field longer than what remains leaves ok false and reads
// as zero or empty from then on.
struct Reader {
  const unsigned char* p;
  std::size_t left;
  bool ok = true;

  Reader(const char* data, std::size_t size) : p(reinterpret_cast<const unsigned char*>(data)), left(size) {}
  std::uint8_t u8();
  std::uint32_t u32();
  std::uint64_t u64();
  std::string_view string();
  // A path or name: a string without NUL (a NUL would cut it short for the system call).
  std::string cstring();
};

// SFTP v3 attributes.
struct Attrs {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint32_t uid = 0, gid = 0, perm = 0, atime = 0, mtime = 0;
};
inline constexpr std::uint32_t kAttrSize = 0x1, kAttrUidGid = 0x2, kAttrPerm = 0x4, kAttrTime = 0x8,
                               kAttrExtended = 0x80000000;

Attrs read_attrs(Reader& r);  // extended pairs are read past (bounded by the packet) and dropped
Attrs attrs_of(const struct stat& st);
void put_attrs(Buffer& b, const Attrs& a);

}  // namespace wsinit::sftp_server
