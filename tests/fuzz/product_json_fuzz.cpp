// libFuzzer target: the editor's product.json edits. Whatever the text, each edit refuses it
// (with a reason) or makes text the scanner reads back as a JSON object; every member but the
// ones named stays, in order, exactly as written; the marketplace edit (take out every "k",
// put one first) leaves `{` alone on line 1 and changes nothing when made again; and GitLab's
// start script, replacing line 1 after it, still leaves a JSON object.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "workspace/workspace.h"

namespace {

using wsinit::workspace::JsonMember;

// A key that reads as "k": the two ways of writing it (the scanner refuses any other escape).
bool is_k(std::string_view raw) {
  if (raw == "\"k\"") return true;
  if (raw.size() != 8 || raw.substr(0, 3) != "\"\\u" || raw.back() != '"') return false;
  std::string hex(raw.substr(3, 4));
  for (char& c : hex) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return hex == "006b";
}

bool same(const std::vector<JsonMember>& a, const std::vector<JsonMember>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value != b[i].value) return false;
  }
  return true;
}

std::vector<JsonMember> members_of(std::string_view text) {
  auto members = wsinit::workspace::json_object_members(text);
  if (!members) abort();
  return *members;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::workspace;
  const std::string value = R"({"serviceUrl":"https://open-vsx.org/vscode/gallery"})";
  std::string text(reinterpret_cast<const char*>(data), size);
  auto members = json_object_members(text);
  auto without = without_members(text, "k");
  if (!members != !without) abort();
  if (!members) {
    if (members.error().message.empty() || without.error().message.empty() || with_first_member(text, "k", value))
      abort();
    return 0;
  }
  std::vector<JsonMember> kept;
  for (const auto& m : *members) {
    if (!is_k(m.key)) kept.push_back(m);
  }
  if (kept.size() == members->size() && *without != text) abort();
  if (!same(members_of(*without), kept)) abort();

  auto edited = with_first_member(*without, "k", value);
  if (!edited || edited->compare(0, 2, "{\n") != 0) abort();
  auto after = members_of(*edited);
  if (after.empty() || after[0].key != "\"k\"" || after[0].value != value) abort();
  if (!same(std::vector<JsonMember>(after.begin() + 1, after.end()), kept)) abort();
  auto again = without_members(*edited, "k");
  if (!again || with_first_member(*again, "k", value).value_or("") != *edited) abort();

  // GitLab's `sed "1s|.*|{\n\t\"extensionsGallery\": {...},|"`, run after.
  std::string gitlab = "{\n\t\"k\": {\n\t\t\"serviceUrl\": \"https://open-vsx.org/vscode/gallery\"\n\t}," + edited->substr(1);
  auto both = members_of(gitlab);
  if (both.size() != after.size() + 1 || both[0].key != "\"k\"" || both[1].key != "\"k\"") abort();
  return 0;
}
