// The status page a browser gets at `/` (health/page/): its HTML, script and style, compiled in
// from those files at build time (health/page/embed.cmake), so the binary serves them alone.
#pragma once

#include <string_view>

namespace wsinit::health::page {

extern const std::string_view html;    // health/page/index.html
extern const std::string_view script;  // health/page/page.js, served as /page.js
extern const std::string_view style;   // health/page/page.css, served as /page.css

}  // namespace wsinit::health::page
