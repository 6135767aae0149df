// Reading passwd and group files, and appending to them safely.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "user_ids/user_ids.h"

namespace wsinit::user_ids {
namespace {

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    size_t end = line.find(sep, start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

std::optional<unsigned long> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  unsigned long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 0xFFFFFFFEul) return std::nullopt;  // (uid_t)-1 is "no uid"
  return value;
}

template <typename F>
void for_each_line(std::string_view text, F handle) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line[0] != '#') handle(line);
    start = end + 1;
  }
}

// What a field holding these would do to the line: split it, end it, or cut it short.
constexpr std::string_view kBreaksALine(":\n\0", 3);

// Fails on the first field of `fields` (name, value) that cannot be written, as "NAME 'VALUE'".
Status check_fields(std::initializer_list<std::pair<const char*, const std::string*>> fields) {
  for (const auto& [name, value] : fields) {
    if (value->find_first_of(kBreaksALine) != std::string::npos)
      return fail(std::string(name) + " '" + value->substr(0, 80) + "' holds ':', a newline or NUL");
  }
  return {};
}

// The name is the first field: empty it is no entry, and '#', '+', '-' or a blank in front
// make readers take the line for a comment, a NIS entry, or another name.
Status check_name(const std::string& name) {
  if (name.empty()) return fail("the name is empty");
  if (std::string_view("#+- \t").find(name[0]) != std::string_view::npos)
    return fail("the name '" + name.substr(0, 80) + "' starts with '" + name[0] + "'");
  return {};
}

Status check_id(unsigned long id) {
  if (id == 0xFFFFFFFFul) return fail("the id 4294967295 means no id");  // (uid_t)-1: "no uid"
  return {};
}

// The first of `checks` that failed, as a refusal to write a line of `file`.
Status refusal(const char* file, std::initializer_list<Status> checks) {
  for (const Status& checked : checks) {
    if (!checked) return fail(std::string("a ") + file + " line cannot be written: " + checked.error().message);
  }
  return {};
}

}  // namespace

Result<std::string> passwd_line(const PasswdEntry& e) {
  Status refused = refusal("passwd", {check_name(e.name), check_id(e.uid), check_id(e.gid),
                                      check_fields({{"name", &e.name},
                                                    {"password", &e.password},
                                                    {"gecos", &e.gecos},
                                                    {"home", &e.home},
                                                    {"shell", &e.shell}})});
  if (!refused) return refused.error();
  return e.name + ":" + e.password + ":" + std::to_string(e.uid) + ":" + std::to_string(e.gid) + ":" + e.gecos + ":" +
         e.home + ":" + e.shell + "\n";
}

Result<std::string> group_line(const GroupEntry& e) {
  Status refused =
      refusal("group", {check_name(e.name), check_id(e.gid),
                        check_fields({{"name", &e.name}, {"password", &e.password}, {"members", &e.members}})});
  if (!refused) return refused.error();
  return e.name + ":" + e.password + ":" + std::to_string(e.gid) + ":" + e.members + "\n";
}

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> entries;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() != 7 || f[0].empty()) return;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) return;
    entries.push_back({std::string(f[0]), std::string(f[1]), static_cast<uid_t>(*uid), static_cast<gid_t>(*gid),
                       std::string(f[4]), std::string(f[5]), std::string(f[6])});
  });
  return entries;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> entries;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() != 4 || f[0].empty()) return;
    auto gid = parse_id(f[2]);
    if (!gid) return;
    entries.push_back({std::string(f[0]), std::string(f[1]), static_cast<gid_t>(*gid), std::string(f[3])});
  });
  return entries;
}

Result<bool> append_once_impl(const std::string& path,
                              std::optional<std::string> (*make_line)(std::string_view, const void*), const void* ctx) {
  int fd = open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(path + ": cannot open for appending: " + strerror(errno), errno);
  auto refused = [&](const std::string& what) {
    close(fd);  // also drops the lock
    return fail(path + ": " + what);
  };
  if (flock(fd, LOCK_EX) < 0) return refused(std::string("cannot lock: ") + strerror(errno));
  // Read under the lock: another process may have added the line a moment ago.
  struct stat st;
  if (fstat(fd, &st) < 0) return refused(std::string("cannot stat: ") + strerror(errno));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return refused(std::string("cannot read: ") + (n < 0 ? strerror(errno) : "file shrank"));
    got += static_cast<size_t>(n);
  }
  std::optional<std::string> line = make_line(text, ctx);
  if (!line) {
    close(fd);
    return false;
  }
  if (!text.empty() && text.back() != '\n') line = std::string(1, '\n').append(*line);  // finish a last line left open
  ssize_t written = write(fd, line->data(), line->size());
  if (written != static_cast<ssize_t>(line->size()) || fsync(fd) < 0) {
    std::string why = written < 0 ? strerror(errno) : written != static_cast<ssize_t>(line->size()) ? "short write" : strerror(errno);
    if (ftruncate(fd, st.st_size) < 0) why += "; truncating back failed too: " + std::string(strerror(errno));
    return refused("cannot append: " + why + " (left as it was)");
  }
  close(fd);
  return true;
}

}  // namespace wsinit::user_ids
