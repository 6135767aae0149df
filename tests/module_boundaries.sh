#!/usr/bin/env bash
# The module boundaries CMakeLists.txt declares hold: a module compiles against the public
# headers of the modules it links and no other header of theirs, and no product source reaches
# around that with "../". Each check compiles a scratch file, alone in a folder as a module's
# source is, with exactly the include directories, definitions and options of that module's
# target (MODULE_FLAGS/<module>, written by CMake).
set -euo pipefail
: "${CXX:?CXX must name the C++ compiler}" "${MODULE_FLAGS:?MODULE_FLAGS must name the folder of flags}"
: "${SOURCE_DIR:?SOURCE_DIR must name the source tree}"

tmp=$(mktemp -d /tmp/wsinit-boundaries.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0

# Compiles `#include "HEADER"` as a source of MODULE would be; the compiler's errors in $tmp/err.
compile() {
  local module=$1 header=$2 flags
  mapfile -t flags < <(grep -vx -e '' -e '-I' -e '-D' "$MODULE_FLAGS/$module")
  mkdir -p "$tmp/$module"
  printf '#include "%s"\n' "$header" >"$tmp/$module/scratch.cpp"
  "$CXX" "${flags[@]}" -fsyntax-only "$tmp/$module/scratch.cpp" 2>"$tmp/err"
}

allowed() {
  if compile "$1" "$2"; then
    echo "ok: $1 may include $2"
  else
    echo "FAIL: $1 cannot include $2, which it may:" >&2
    head -n 20 "$tmp/err" >&2
    status=1
  fi
}

refused() {
  if compile "$1" "$2"; then
    echo "FAIL: $1 can include $2, which it must not" >&2
    status=1
  elif grep -q "No such file" "$tmp/err"; then
    echo "ok: $1 may not include $2: $(grep -m1 -o "$2: No such file.*" "$tmp/err")"
  else
    echo "FAIL: including $2 from $1 failed, but not for want of the file:" >&2
    head -n 20 "$tmp/err" >&2
    status=1
  fi
}

allowed health supervisor/supervisor.h   # public, and health links supervisor
allowed health common/http_status.h
refused health supervisor/service.h      # internal to supervisor/
refused health supervisor/probe.h
refused workspace supervisor/supervisor.h  # public, but workspace does not link supervisor
allowed workspace supervisor/service_spec.h  # it links only the spec it hands the supervisor
refused sshd_setup supervisor/spawn.h
refused init workspace/internal.h
refused sshd_setup health/health.h
allowed common common/timer.h
refused common config/config.h
allowed init sftp_server/sftp_server.h
refused init sftp_server/paths.h          # internal to sftp_server/
refused sftp_server supervisor/supervisor.h

cd "$SOURCE_DIR"
if up=$(grep -rnE '^\s*#\s*include\s*["<][^">]*\.\./' --include='*.cpp' --include='*.h' \
          common config user_ids sshd_setup supervisor health workspace sftp_server init); then
  echo "FAIL: product sources include by a path with ../ (include a public header as \"module/header.h\"):" >&2
  echo "$up" >&2
  status=1
else
  echo "ok: no product source includes a path with ../"
fi
exit $status
