// The login probe as the one reaper drives it: its exit may be reaped before the loop has read
// the pipe, and the group (what the profile left in the background) must still be ended.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "init/login_probe.h"
#include "tests/unit/test_util.h"
#include "workspace/login_env.h"

namespace wsinit::init {
namespace {

bool alive(pid_t pid) { return kill(pid, 0) == 0; }

// The pid a file names once it has been written (bounded wait).
pid_t pid_in(const std::string& path) {
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST(LoginProbe, ReapedBeforeItsOutputWasReadStillEndsTheProfilesBackgroundJobs) {
  wsinit::testing::TempDir dir;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::string end(workspace::kLoginEnvEnd);
  // A profile that leaves a job in the background, then the dump's end marker, then exits.
  std::string script = "sleep 300 & echo $! > " + dir.path + "/bg; printf '%s' '" + end + "'";
  bool done = false;
  LoginProbe::Result result;
  {
    LoginProbe probe(&loop);
    std::string why;
    ASSERT_TRUE(probe.start({"/bin/sh", "-c", script}, {"PATH=/usr/bin:/bin"}, dir.path, dir.path + "/err",
                            std::chrono::seconds(10), [&](LoginProbe::Result r) { done = true; result = std::move(r); }, &why))
        << why;
    pid_t background = pid_in(dir.path + "/bg");
    ASSERT_GT(background, 0);
    // The reaper got to its exit first: the loop has not run, nothing has read the pipe.
    int status = 0;
    pid_t leader = 0;
    for (int i = 0; i < 500 && leader == 0; ++i) {
      leader = waitpid(-1, &status, WNOHANG);
      if (leader == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(leader, 0);
    ASSERT_TRUE(probe.owns(leader));
    probe.on_exit(leader, status);
    ASSERT_TRUE(done);
    EXPECT_EQ(result.kind, LoginProbe::Result::Kind::exited);
    for (int i = 0; i < 200 && alive(background); ++i) {
      waitpid(background, nullptr, WNOHANG);  // the test's own child's child: reaped by us if re-parented here
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_FALSE(alive(background)) << "the profile's background job outlived the probe";
    if (alive(background)) kill(background, SIGKILL);  // the test leaves nothing behind
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace wsinit::init
