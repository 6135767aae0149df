#include "once.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace wsinit::supervisor {
namespace {

void field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

// A timestamp as utc_timestamp_of() writes it: digits and -T:.Z, at most 40 bytes.
bool plausible_timestamp(std::string_view text) {
  if (text.empty() || text.size() > 40) return false;
  return text.find_first_not_of("0123456789-T:.Z") == std::string_view::npos;
}

}  // namespace

std::string once_encoding(const std::vector<std::string>& command, const std::string& cwd, const Environment& env) {
  std::string out = "wsinit-once-1\n";
  field(out, "command");
  out += std::to_string(command.size()) + "\n";
  for (const auto& arg : command) field(out, arg);
  field(out, "cwd");
  field(out, cwd);
  field(out, "env");
  out += std::to_string(env.size()) + "\n";
  for (const auto& [name, value] : env) {  // a std::map: sorted by name
    field(out, name);
    field(out, value);
  }
  return out;
}

std::string once_key(const std::vector<std::string>& command, const std::string& cwd, const Environment& env) {
  std::string data = once_encoding(command, cwd, env);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32) return "";
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

std::string once_marker_text(const std::string& ran_at, const std::string& name) {
  return "ran_at " + ran_at + "\nname " + name + "\n";
}

std::string once_marker_ran_at(std::string_view text) {
  constexpr std::string_view prefix = "ran_at ";
  if (text.substr(0, prefix.size()) != prefix) return "";
  std::string_view rest = text.substr(prefix.size());
  std::string_view stamp = rest.substr(0, rest.find('\n'));
  if (stamp.size() == rest.size() || !plausible_timestamp(stamp)) return "";  // no newline: cut short
  return std::string(stamp);
}

OnceLookup read_once_marker(const std::string& dir, const std::string& key) {
  OnceLookup lookup;
  std::string path = dir + "/" + key;
  auto text = fs::read_file(path, kMaxOnceMarker);
  if (!text && text.error().code == ENOENT) return lookup;
  if (!text) {
    lookup.kind = OnceLookup::Kind::unreadable;
    lookup.problem = text.error().message;
    return lookup;
  }
  lookup.ran_at = once_marker_ran_at(*text);
  lookup.kind = lookup.ran_at.empty() ? OnceLookup::Kind::unreadable : OnceLookup::Kind::ran;
  if (lookup.ran_at.empty()) lookup.problem = path + " is not a marker wsinit wrote";
  return lookup;
}

Status write_once_marker(const std::string& dir, const std::string& key, const std::string& name, const std::string& ran_at) {
  if (key.empty()) return fail("no key for the marker (SHA-256 failed)");
  if (auto made = fs::make_dirs(dir, 0700); !made) return made;
  return fs::write_atomically(dir + "/" + key, once_marker_text(ran_at, name), 0644);
}

std::string once_dir(const std::string& data, const std::string& home) {
  Status usable = fs::usable_dir_in_existing_parent(data, 0700);
  if (usable) return data + "/once";
  if (home.empty() || home[0] != '/') {
    spdlog::warn("once: {} cannot be used ({}) and there is no HOME: once steps run at every start",
                 data, usable.error().message);
    return "";
  }
  std::string dir = home + "/.wsinit/once";
  spdlog::warn("once: {} cannot be used ({}); markers go to {} instead, and once steps run again when HOME is fresh",
               data, usable.error().message, dir);
  return dir;
}

}  // namespace wsinit::supervisor
