#include "wire.h"

#include <algorithm>

namespace wsinit::sftp_server {

char* Buffer::reserve(std::size_t n) {
  if (capacity_ - end_ >= n) return bytes_.get() + end_;
  std::size_t live = size();
  if (begin_ > 0 && capacity_ - live >= n && live <= capacity_ / 2) {  // moving is cheap: do it
    std::memmove(bytes_.get(), bytes_.get() + begin_, live);
  } else {
    std::size_t capacity = std::max({capacity_ * 2, live + n, std::size_t{64 * 1024}});
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (live > 0) std::memcpy(bigger.get(), bytes_.get() + begin_, live);
    bytes_ = std::move(bigger);
    capacity_ = capacity;
  }
  begin_ = 0;
  end_ = live;
  return bytes_.get() + end_;
}

void Buffer::drop_front(std::size_t n) {
  begin_ += std::min(n, size());
  if (begin_ == end_) begin_ = end_ = 0;
}

void store_u32(char* at, std::uint32_t v) {
  unsigned char* q = reinterpret_cast<unsigned char*>(at);
  q[0] = static_cast<unsigned char>(v >> 24);
  q[1] = static_cast<unsigned char>(v >> 16);
  q[2] = static_cast<unsigned char>(v >> 8);
  q[3] = static_cast<unsigned char>(v);
}

void Buffer::patch_u32(std::size_t offset, std::uint32_t v) { store_u32(bytes_.get() + begin_ + offset, v); }

void put_u8(Buffer& b, std::uint8_t v) { b.append(&v, 1); }

void put_u32(Buffer& b, std::uint32_t v) {
  store_u32(b.reserve(4), v);
  b.commit(4);
}

void put_u64(Buffer& b, std::uint64_t v) {
  put_u32(b, static_cast<std::uint32_t>(v >> 32));
  put_u32(b, static_cast<std::uint32_t>(v));
}

void put_string(Buffer& b, std::string_view s) {
  put_u32(b, static_cast<std::uint32_t>(s.size()));
  b.append(s.data(), s.size());
}

std::uint8_t Reader::u8() {
  if (!ok || left < 1) return ok = false, 0;
  --left;
  return *p++;
}

std::uint32_t Reader::u32() {
  if (!ok || left < 4) return ok = false, 0;
  std::uint32_t v = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
  p += 4;
  left -= 4;
  return v;
}

std::uint64_t Reader::u64() {
  std::uint64_t high = u32();
  return (high << 32) | u32();
}

std::string_view Reader::string() {
  std::uint32_t n = u32();
  if (!ok || n > left) return ok = false, std::string_view{};
  std::string_view s(reinterpret_cast<const char*>(p), n);
  p += n;
  left -= n;
  return s;
}

std::string Reader::cstring() {
  std::string_view s = string();
  if (s.find('\0') != std::string_view::npos) ok = false;
  return ok ? std::string(s) : std::string{};
}

Attrs read_attrs(Reader& r) {
  Attrs a;
  a.flags = r.u32();
  if (a.flags & kAttrSize) a.size = r.u64();
  if (a.flags & kAttrUidGid) a.uid = r.u32(), a.gid = r.u32();
  if (a.flags & kAttrPerm) a.perm = r.u32();
  if (a.flags & kAttrTime) a.atime = r.u32(), a.mtime = r.u32();
  if (a.flags & kAttrExtended) {
    std::uint32_t count = r.u32();
    for (std::uint32_t i = 0; i < count && r.ok; ++i) r.string(), r.string();  // each pair >= 8 bytes
  }
  return a;
}

Attrs attrs_of(const struct stat& st) {
  Attrs a;
  a.flags = kAttrSize | kAttrUidGid | kAttrPerm | kAttrTime;
  a.size = static_cast<std::uint64_t>(st.st_size);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.perm = st.st_mode;
  a.atime = static_cast<std::uint32_t>(st.st_atime);
  a.mtime = static_cast<std::uint32_t>(st.st_mtime);
  return a;
}

void put_attrs(Buffer& b, const Attrs& a) {
  put_u32(b, a.flags & ~kAttrExtended);
  if (a.flags & kAttrSize) put_u64(b, a.size);
  if (a.flags & kAttrUidGid) put_u32(b, a.uid), put_u32(b, a.gid);
  if (a.flags & kAttrPerm) put_u32(b, a.perm);
  if (a.flags & kAttrTime) put_u32(b, a.atime), put_u32(b, a.mtime);
}

}  // namespace wsinit::sftp_server
