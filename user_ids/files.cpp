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

// The first field of `fields` (name, value) that cannot be written, as "NAME 'VALUE'".
std::optional<std::string> unwritable_field(std::initializer_list<std::pair<const char*, const std::string*>> fields) {
  for (const auto& [name, value] : fields) {
    if (value->find_first_of(kBreaksALine) != std::string::npos)
      return std::string(name) + " '" + value->substr(0, 80) + "' holds ':', a newline or NUL";
  }
  return std::nullopt;
}

// The name is the first field: empty it is no entry, and '#', '+', '-' or a blank in front
// make readers take the line for a comment, a NIS entry, or another name.
std::optional<std::string> unwritable_name(const std::string& name) {
  if (name.empty()) return std::string("the name is empty");
  if (std::string_view("#+- \t").find(name[0]) != std::string_view::npos)
    return "the name '" + name.substr(0, 80) + "' starts with '" + name[0] + "'";
  return std::nullopt;
}

template <typename... Problems>
bool refuse(std::string* error, const char* file, Problems... problems) {
  for (const std::optional<std::string>& p : {problems...}) {
    if (p) {
      *error = std::string("a ") + file + " line cannot be written: " + *p;
      return true;
    }
  }
  return false;
}

constexpr unsigned long kNoId = 0xFFFFFFFFul;  // (uid_t)-1: "no uid"

}  // namespace

std::optional<std::string> passwd_line(const PasswdEntry& e, std::string* error) {
  std::optional<std::string> bad_id;
  if (e.uid == kNoId || e.gid == kNoId) bad_id = "the id 4294967295 means no id";
  if (refuse(error, "passwd", unwritable_name(e.name), bad_id,
             unwritable_field({{"name", &e.name}, {"password", &e.password}, {"gecos", &e.gecos}, {"home", &e.home},
                               {"shell", &e.shell}})))
    return std::nullopt;
  return e.name + ":" + e.password + ":" + std::to_string(e.uid) + ":" + std::to_string(e.gid) + ":" + e.gecos + ":" +
         e.home + ":" + e.shell + "\n";
}

std::optional<std::string> group_line(const GroupEntry& e, std::string* error) {
  std::optional<std::string> bad_id;
  if (e.gid == kNoId) bad_id = "the id 4294967295 means no id";
  if (refuse(error, "group", unwritable_name(e.name), bad_id,
             unwritable_field({{"name", &e.name}, {"password", &e.password}, {"members", &e.members}})))
    return std::nullopt;
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

AppendOutcome append_once_impl(const std::string& path,
                               std::optional<std::string> (*make_line)(std::string_view, const void*), const void* ctx) {
  AppendOutcome outcome;
  int fd = open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    outcome.error = path + ": cannot open for appending: " + strerror(errno);
    return outcome;
  }
  auto fail = [&](const std::string& what) {
    outcome.error = path + ": " + what;
    close(fd);  // also drops the lock
    return outcome;
  };
  if (flock(fd, LOCK_EX) < 0) return fail(std::string("cannot lock: ") + strerror(errno));
  // Read under the lock: another process may have added the line a moment ago.
  struct stat st;
  if (fstat(fd, &st) < 0) return fail(std::string("cannot stat: ") + strerror(errno));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(std::string("cannot read: ") + (n < 0 ? strerror(errno) : "file shrank"));
    got += static_cast<size_t>(n);
  }
  std::optional<std::string> line = make_line(text, ctx);
  if (!line) {
    close(fd);
    return outcome;
  }
  if (!text.empty() && text.back() != '\n') line = std::string(1, '\n').append(*line);  // finish a last line left open
  ssize_t written = write(fd, line->data(), line->size());
  if (written != static_cast<ssize_t>(line->size()) || fsync(fd) < 0) {
    std::string why = written < 0 ? strerror(errno) : written != static_cast<ssize_t>(line->size()) ? "short write" : strerror(errno);
    if (ftruncate(fd, st.st_size) < 0) why += "; truncating back failed too: " + std::string(strerror(errno));
    return fail("cannot append: " + why + " (left as it was)");
  }
  close(fd);
  outcome.appended = true;
  return outcome;
}

}  // namespace wsinit::user_ids
