# Hostile input meets a stated bound, as a user would see it: a failed compile fails
# scripts/build.
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")" && pwd)"

# --- scripts/build: a compile error fails the build, and the old binary is not reported as built.
# A tree of its own (the real script, a one-file project that does not compile, and a stale
# static build/wsinit from an earlier build), so it takes a second, not a full build.
tree="$TMP/tree"
mkdir -p "$tree/scripts" "$tree/build"
cp "$here/../../scripts/build" "$tree/scripts/build"
cat >"$tree/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(broken LANGUAGES CXX)
add_executable(wsinit broken.cpp)
CMAKE
printf 'int main() { return not_declared_anywhere; }\n' >"$tree/broken.cpp"
cp "$WSINIT" "$tree/build/wsinit"
build_status=0
timeout 60 "$tree/scripts/build" >"$TMP/build.out" 2>&1 || build_status=$?
[ "$build_status" -ne 0 ] || fail "scripts/build exited 0 on a compile error: $(tail -n 3 "$TMP/build.out")"
grep -q "not_declared_anywhere" "$TMP/build.out" || fail "the compiler's error is not shown: $(cat "$TMP/build.out")"
! grep -q "bytes, static, stripped" "$TMP/build.out" || fail "the stale build/wsinit was reported as built"
ok "scripts/build exits $build_status on a compile error, shows it, and does not report the old binary"
