#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "tests/unit/test_util.h"
#include "workspace/workspace.h"

using namespace wsinit::workspace;
using wsinit::testing::spit;
using wsinit::testing::TempDir;
using namespace std::string_literals;

namespace {

constexpr std::int64_t kT0 = 1796068214000;  // 2026-11-30T19:50:14Z
constexpr std::int64_t kNow = 42;            // "now", for dates that do not parse
std::int64_t at(int seconds_after_t0) { return kT0 + seconds_after_t0 * 1000LL; }

// What GitLab's hook leaves in the flat poststart-stdout.log, the user's command still running.
const std::string kFlatLog =
    "2026-11-30T19:50:14+00:00: Running /workspace-scripts/gl-clone-project-command...\n"
    "Cloning into '/projects/my-project'...\n"
    "2026-11-30T19:50:16+00:00: Finished running /workspace-scripts/gl-clone-project-command.\n"
    "2026-11-30T19:50:16+00:00: Running /workspace-scripts/gl-start-sshd-command...\n"
    "2026-11-30T19:50:16+00:00: Finished running /workspace-scripts/gl-start-sshd-command.\n"
    "2026-11-30T19:50:16+00:00: Running /workspace-scripts/gl-init-tools-command...\n"
    "2026-11-30T19:50:17+00:00: Finished running /workspace-scripts/gl-init-tools-command.\n"
    "2026-11-30T19:50:17+00:00: Running /workspace-scripts/gl-sleep-until-container-is-running-command...\n"
    "Waiting for the workspace to be Running: Creating\n"
    "2026-11-30T19:50:32+00:00: Finished running /workspace-scripts/gl-sleep-until-container-is-running-command.\n"
    "2026-11-30T19:50:32+00:00: Running /workspace-scripts/install-dependencies...\n"
    "npm WARN deprecated inflight@1.0.6: This module is not supported\n"
    "step 3: Running /workspace-scripts/not-a-step...\n"
    "added 312 packages in 9s\n";

std::vector<PostStartStep> flat_steps() {
  return {
      {"gl-clone-project-command", "", at(0), at(2)},
      {"gl-start-sshd-command", "", at(2), at(2)},
      {"gl-init-tools-command", "", at(2), at(3)},
      {"gl-sleep-until-container-is-running-command", "", at(3), at(18)},
      {"install-dependencies", "", at(18), std::nullopt},
  };
}

// The per-component layout: the main component's folder, and another component's.
const std::string kMainLog =
    "2026-11-30T19:50:14+00:00: Running poststart commands for workspace...\n"
    "2026-11-30T19:50:14+00:00: Running internal blocking poststart commands script...\n"
    "2026-11-30T19:50:14+00:00: Running /workspace-scripts/gl-clone-project-command...\n"
    "2026-11-30T19:50:20+00:00: Finished running /workspace-scripts/gl-clone-project-command.\n"
    "2026-11-30T19:50:20+00:00: Running /workspace-scripts/gl-sleep-until-container-is-running-command...\n"
    "2026-11-30T19:50:25+00:00: Finished running /workspace-scripts/gl-sleep-until-container-is-running-command.\n";
const std::string kDatabaseLog =
    "2026-11-30T19:50:15+00:00: Running poststart commands for workspace...\n"
    "2026-11-30T19:50:16+00:00: Running /workspace-scripts/seed-database...\n"
    "INSERT 0 12\n";

std::string running(const std::string& date, const std::string& id) {
  return date + ": Running /workspace-scripts/" + id + "...\n";
}
std::string finished(const std::string& date, const std::string& id) {
  return date + ": Finished running /workspace-scripts/" + id + ".\n";
}

}  // namespace

TEST(PostStartLog, ReadsGitLabsFlatLog) {
  PostStartLog log;
  log.feed(kFlatLog, "", kNow);
  EXPECT_EQ(log.steps(), flat_steps());
  EXPECT_EQ(log.main_component(), std::nullopt);  // the flat layout does not say
  EXPECT_EQ(log.dropped_steps(), 0u);
  EXPECT_EQ(log.buffered_bytes(), 0u);
}

TEST(PostStartLog, ReadsThePerComponentLayoutInOrderOfStart) {
  PostStartLog log;
  EXPECT_EQ(log.main_component(), std::nullopt);
  log.feed(kDatabaseLog, "database", kNow);
  log.feed(kMainLog, "tooling-container", kNow);
  EXPECT_EQ(log.main_component(), "tooling-container");
  EXPECT_EQ(log.steps(), (std::vector<PostStartStep>{
                             {"gl-clone-project-command", "tooling-container", at(0), at(6)},
                             {"seed-database", "database", at(2), std::nullopt},
                             {"gl-sleep-until-container-is-running-command", "tooling-container", at(6), at(11)},
                         }));
  // The same id in two components is two steps.
  log.feed(running("2026-11-30T19:50:30+00:00", "gl-clone-project-command"), "database", kNow);
  EXPECT_EQ(log.steps().size(), 4u);
  EXPECT_EQ(log.steps()[3].component, "database");
}

TEST(PostStartLog, ChunksSplitAtAnyByteReadTheSame) {
  for (size_t i = 0; i <= kFlatLog.size(); ++i) {
    PostStartLog log;
    log.feed(std::string_view(kFlatLog).substr(0, i), "", kNow);
    log.feed(std::string_view(kFlatLog).substr(i), "", kNow);
    ASSERT_EQ(log.steps(), flat_steps()) << "split at " << i;
  }
  // One byte at a time, two components interleaved.
  PostStartLog whole, bytes;
  whole.feed(kMainLog, "tooling-container", kNow);
  whole.feed(kDatabaseLog, "database", kNow);
  for (size_t i = 0; i < std::max(kMainLog.size(), kDatabaseLog.size()); ++i) {
    if (i < kDatabaseLog.size()) bytes.feed(kDatabaseLog.substr(i, 1), "database", kNow);
    if (i < kMainLog.size()) bytes.feed(kMainLog.substr(i, 1), "tooling-container", kNow);
  }
  EXPECT_EQ(bytes.steps(), whole.steps());
  EXPECT_EQ(bytes.main_component(), "tooling-container");
  // A line is not ended by the end of a chunk: an unended line waits for its newline.
  PostStartLog unended;
  unended.feed("2026-11-30T19:50:14+00:00: Running /workspace-scripts/a...", "", kNow);
  EXPECT_TRUE(unended.steps().empty());
  unended.feed("\n", "", kNow);
  EXPECT_EQ(unended.steps().size(), 1u);
}

TEST(PostStartLog, ASecondRunOfAStepIsANewStep) {
  PostStartLog log;
  const std::string date = "2026-11-30T19:50:14+00:00";
  log.feed(running(date, "gl-start-sshd-command") + finished("2026-11-30T19:50:15+00:00", "gl-start-sshd-command"), "", kNow);
  std::uint64_t changes = log.changes();
  log.feed(finished("2026-11-30T19:50:16+00:00", "gl-start-sshd-command"), "", kNow);  // finished twice: no change
  EXPECT_EQ(log.changes(), changes);
  // The hook again: a new entry, running; a second Running while it runs keeps the first start.
  log.feed(running("2026-11-30T19:51:14+00:00", "gl-start-sshd-command"), "", kNow);
  log.feed(running("2026-11-30T19:51:20+00:00", "gl-start-sshd-command"), "", kNow);
  EXPECT_EQ(log.steps(), (std::vector<PostStartStep>{{"gl-start-sshd-command", "", at(0), at(1)},
                                                     {"gl-start-sshd-command", "", at(60), std::nullopt}}));
  log.feed(finished("2026-11-30T19:51:24+00:00", "gl-start-sshd-command"), "", kNow);
  EXPECT_EQ(log.steps()[1].finished_unix_ms, at(70));
  EXPECT_GT(log.changes(), changes);
}

TEST(PostStartLog, EverythingElseIsIgnored) {
  const std::string date = "2026-11-30T19:50:14+00:00";
  const std::string lines[] = {
      "",
      "\n\n\n",
      "\0\xff\x01garbage: Running /workspace-scripts/\x01..."s,
      date + ": Running /workspace-scripts/a..",                        // no "..."
      date + ": Running /workspace-scripts/...",                        // no id
      date + ": Running /workspace-scripts/a/b...",                     // not a script's name
      date + ": Running /workspace-scripts/../x...",
      date + ": Running /workspace-scripts/.....",                      // the id ".."
      date + ": Running /workspace-scripts/a\tb...",                    // a control byte
      date + ": Running /workspace-scripts/a\x7f...",
      date + ": Running /workspace-scripts/" + std::string(256, 'a') + "...",  // too long an id
      date + " : Running /workspace-scripts/a...",                      // a blank in the date
      "on my machine: Running /workspace-scripts/a...",                 // the commands' own output
      std::string(65, '1') + ": Running /workspace-scripts/a...",       // too long for a date
      date + ": running /workspace-scripts/a...",
      date + ": Running /workspace-scripts/a... ",
      date + ": Running /workspace-scriptsx/a...",
      date + ":Running /workspace-scripts/a...",
      date + ": Finished running /workspace-scripts/a",                 // no "."
      date + ": Finished running /workspace-scripts/never-started.",
      date + ": Running internal blocking poststart commands script...",  // main, but in the flat log
      date + ": Running poststart commands for workspace...",
  };
  PostStartLog log;
  for (const auto& line : lines) log.feed(line + "\n", "", kNow);
  EXPECT_TRUE(log.steps().empty());
  EXPECT_EQ(log.main_component(), std::nullopt);
  EXPECT_EQ(log.changes(), 0u);
  // What is accepted at the edges: a 255-byte id, CRLF line ends, an empty date (no `date`).
  log.feed(date + ": Running /workspace-scripts/" + std::string(255, 'a') + "...\r\n", "", kNow);
  log.feed(": Running /workspace-scripts/b...\n", "", kNow);
  ASSERT_EQ(log.steps().size(), 2u);
  EXPECT_EQ(log.steps()[0].id, "b");
  EXPECT_EQ(log.steps()[0].started_unix_ms, kNow);
  EXPECT_EQ(log.steps()[1].id, std::string(255, 'a'));
}

TEST(PostStartLog, LinesOverFourKibAreDroppedToTheirNewline) {
  const std::string step = running("2026-11-30T19:50:14+00:00", "a");
  PostStartLog log;
  // 4097 bytes before the newline that end like the runner's line: not one of its lines.
  std::string long_line = std::string(PostStartLog::kMaxLine + 1 - (step.size() - 1), 'x') + step;
  ASSERT_EQ(long_line.size(), PostStartLog::kMaxLine + 2);
  for (char c : long_line) {
    log.feed(std::string_view(&c, 1), "", kNow);
    ASSERT_LE(log.buffered_bytes(), PostStartLog::kMaxLine);
  }
  EXPECT_TRUE(log.steps().empty());
  log.feed(step, "", kNow);  // the next line is read
  EXPECT_EQ(log.steps().size(), 1u);
  // Exactly 4096 bytes are held; one more drops them.
  log.feed(std::string(PostStartLog::kMaxLine, 'y'), "", kNow);
  EXPECT_EQ(log.buffered_bytes(), PostStartLog::kMaxLine);
  log.feed("y", "", kNow);
  EXPECT_EQ(log.buffered_bytes(), 0u);
  log.feed(std::string(1 << 20, 'z') + "\n" + running("2026-11-30T19:50:15+00:00", "b"), "", kNow);  // in one chunk
  EXPECT_EQ(log.buffered_bytes(), 0u);
  EXPECT_EQ(log.steps().size(), 2u);
}

TEST(PostStartLog, KeepsAtMost256StepsAndCountsTheRest) {
  PostStartLog log;
  std::string text;
  for (int i = 0; i < 300; ++i) text += running("2026-11-30T19:50:14+00:00", "step-" + std::to_string(i));
  log.feed(text, "", kNow);
  EXPECT_EQ(log.steps().size(), PostStartLog::kMaxSteps);
  EXPECT_EQ(log.dropped_steps(), 300u - PostStartLog::kMaxSteps);
  EXPECT_EQ(log.steps().back().id, "step-255");
  log.feed(finished("2026-11-30T19:50:15+00:00", "step-299") + finished("2026-11-30T19:50:15+00:00", "step-0"), "", kNow);
  EXPECT_EQ(log.steps()[0].finished_unix_ms, at(1));
  EXPECT_EQ(log.steps().size(), PostStartLog::kMaxSteps);
  // Other components' steps count against the same bound.
  log.feed(running("2026-11-30T19:50:16+00:00", "x"), "other", kNow);
  EXPECT_EQ(log.dropped_steps(), 300u - PostStartLog::kMaxSteps + 1);
}

TEST(PostStartLog, DatesWithTheirOffsetsAreUnixMilliseconds) {
  const std::pair<std::string, std::int64_t> dates[] = {
      {"2026-11-30T19:50:14+00:00", kT0},
      {"2026-11-30T21:50:14+02:00", kT0},
      {"2026-11-30T14:20:14-05:30", kT0},
      {"2026-12-01T04:50:14+0900", kT0},
      {"2026-11-30T19:50:14Z", kT0},
      {"2026-11-30T18:50:14-01", kT0},
      {"2026-11-30T19:50:14,123456789+00:00", kT0 + 123},
      {"2026-11-30T19:50:14.5Z", kT0 + 500},
      {"2000-02-29T00:00:00Z", 951782400000},
      {"1969-12-31T23:59:59Z", -1000},
      // Not dates: now.
      {"2026-11-30T19:50:14", kNow},
      {"2026-02-29T00:00:00Z", kNow},
      {"2026-13-01T00:00:00Z", kNow},
      {"2026-11-30T24:00:00Z", kNow},
      {"2026-11-30T19:50:14+24:00", kNow},
      {"2026-11-30T19:50:14+00:0", kNow},
      {"2026-11-30T19:50:14.Z", kNow},
      {"26-11-30T19:50:14Z", kNow},
      {"Mon Nov 30 19:50:14 UTC 2026", kNow},  // never reaches the date parser: it holds blanks
  };
  for (const auto& [date, want] : dates) {
    PostStartLog log;
    log.feed(running(date, "a"), "", kNow);
    if (date.find(' ') != std::string::npos) {
      EXPECT_TRUE(log.steps().empty()) << date;
      continue;
    }
    ASSERT_EQ(log.steps().size(), 1u) << date;
    EXPECT_EQ(log.steps()[0].started_unix_ms, want) << date;
  }
}

TEST(PostStartLog, ARestartedComponentIsForgottenAndTheOthersKept) {
  PostStartLog log;
  log.feed(kMainLog + "2026-11-30T19:50:30+00:00: Running /workspace-scripts/half", "tooling-container", kNow);
  log.feed(kDatabaseLog, "database", kNow);
  EXPECT_GT(log.buffered_bytes(), 0u);
  std::uint64_t changes = log.changes();
  log.restart("tooling-container");
  EXPECT_GT(log.changes(), changes);
  EXPECT_EQ(log.main_component(), std::nullopt);
  EXPECT_EQ(log.buffered_bytes(), 0u);  // the half line does not join the new file's first
  EXPECT_EQ(log.steps(), (std::vector<PostStartStep>{{"seed-database", "database", at(2), std::nullopt}}));
  log.feed("x...\n", "tooling-container", kNow);
  EXPECT_EQ(log.steps().size(), 1u);
  changes = log.changes();
  log.restart("nothing-here");
  EXPECT_EQ(log.changes(), changes);
}

TEST(PostStartLog, FollowsAtMost64Components) {
  PostStartLog log;
  for (size_t i = 0; i < PostStartLog::kMaxComponents + 1; ++i) {
    std::string component = "c";
    component += std::to_string(i);
    log.feed(running("2026-11-30T19:50:14+00:00", "a") + "partial", component, kNow);
  }
  EXPECT_EQ(log.steps().size(), PostStartLog::kMaxComponents);
  EXPECT_EQ(log.buffered_bytes(), PostStartLog::kMaxComponents * 7);
}

TEST(GitLabRunner, IsPresentWhenAPostStartRunnerScriptIs) {
  TempDir dir;
  EXPECT_FALSE(gitlab_runner_present(dir.path + "/missing"));
  EXPECT_FALSE(gitlab_runner_present(dir.path));
  spit(dir.path + "/gl-clone-project-command", "#!/bin/sh\n");
  spit(dir.path + "/gl-run-something-else.sh", "#!/bin/sh\n");
  ASSERT_EQ(mkdir((dir.path + "/gl-run-poststart-commands.d").c_str(), 0755), 0);  // a folder is not a runner
  EXPECT_FALSE(gitlab_runner_present(dir.path));
  for (const char* name : {"gl-run-internal-blocking-poststart-commands.sh", "gl-run-non-blocking-poststart-commands.sh",
                           "tooling-container-gl-run-non-blocking-poststart-commands.sh", "gl-run-poststart-commands.sh"}) {
    TempDir one;
    spit(one.path + "/" + name, "#!/bin/sh\n");
    EXPECT_TRUE(gitlab_runner_present(one.path)) << name;
  }
  // A config map's layout: the names are links through ..data.
  ASSERT_EQ(system(("cd " + dir.path + " && mkdir ..v1 && echo '#!/bin/sh' > ..v1/gl-run-poststart-commands.sh && " +
                    "ln -s ..v1 ..data && ln -s ..data/gl-run-poststart-commands.sh gl-run-poststart-commands.sh")
                       .c_str()),
            0);
  EXPECT_TRUE(gitlab_runner_present(dir.path));
}

namespace {

// Runs the loop until `done`, or about `seconds`.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done, int seconds = 2) {
  for (int i = 0; i < seconds * 200 && !done(); ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
  return done();
}

void run_for(uv_loop_t* loop, std::chrono::milliseconds time) {
  auto end = std::chrono::steady_clock::now() + time;
  while (std::chrono::steady_clock::now() < end) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
}

void append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::app) << text;
}

// A loop for one test, closed at the end with nothing left on it.
struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
};

}  // namespace

TEST(PostStartObserver, FollowsAppendsRewritesAndComponentFolders) {
  TempDir dir;
  const std::string flat = dir.path + "/" + kPostStartLogName;
  Loop l;
  int told = 0;
  {
    PostStartObserver observer(&l.loop, dir.path, [&] { ++told; });
    observer.start();
    EXPECT_TRUE(observer.steps().empty());
    // Appends, as the runner makes them (a start the day before).
    append(flat, "2026-11-29T10:00:00+00:00: Running /workspace-scripts/gl-clone-project-command...\nCloning");
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 1; }));
    EXPECT_GE(told, 1);
    append(flat, " into '/projects/p'...\n2026-11-29T10:00:02+00:00: Finished running /workspace-scripts/gl-clone-project-command.\n");
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps()[0].finished_unix_ms.has_value(); }));
    EXPECT_EQ(*observer.steps()[0].finished_unix_ms - observer.steps()[0].started_unix_ms, 2000);

    // Written anew, in place (same inode) and longer than before, before wsinit looks: read from 0.
    spit(flat, kFlatLog);
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == flat_steps().size(); }));
    EXPECT_EQ(observer.steps(), flat_steps());
    // Truncated to less (its beginning unchanged).
    spit(flat, kFlatLog.substr(0, kFlatLog.find('\n') + 1));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 1; }));
    EXPECT_EQ(observer.steps()[0], (PostStartStep{"gl-clone-project-command", "", at(0), std::nullopt}));
    // Replaced (a new inode) by a file that begins the same and is longer: read from 0.
    std::string first = running("2026-11-30T19:51:00+00:00", "gl-clone-project-command") +
                        "Cloning into '/projects/my-project'... a line longer than the first 64 bytes\n";
    spit(flat, first + finished("2026-11-30T19:51:10+00:00", "gl-clone-project-command"));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps()[0].finished_unix_ms.has_value(); }));
    EXPECT_EQ(observer.steps()[0].started_unix_ms, at(46));
    spit(dir.path + "/new.tmp", first + finished("2026-11-30T19:51:20+00:00", "gl-clone-project-command") +
                                    running("2026-11-30T19:51:20+00:00", "gl-start-sshd-command"));
    ASSERT_EQ(rename((dir.path + "/new.tmp").c_str(), flat.c_str()), 0);
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 2; }));
    EXPECT_EQ(observer.steps()[0].finished_unix_ms, at(66));

    // A component folder that appears later.
    const std::string main = dir.path + "/tooling-container";
    ASSERT_EQ(mkdir(main.c_str(), 0755), 0);
    append(main + "/" + kPostStartLogName, kMainLog);
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 4; }));
    EXPECT_EQ(observer.main_component(), "tooling-container");
    append(main + "/" + kPostStartLogName, running("2026-11-30T19:52:00+00:00", "start-app"));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 5; }));
    EXPECT_EQ(observer.steps().back().id, "start-app");
    EXPECT_EQ(observer.steps().back().component, "tooling-container");
    // The folder removed: its steps are gone with it.
    ASSERT_EQ(system(("rm -rf '" + main + "'").c_str()), 0);
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 2; }));
    EXPECT_EQ(observer.main_component(), std::nullopt);
  }
}

TEST(PostStartObserver, ReadsALargeAppendInSlicesWithoutFurtherEvents) {
  TempDir dir;
  const std::string flat = dir.path + "/" + kPostStartLogName;
  Loop l;
  {
    PostStartObserver observer(&l.loop, dir.path, [] {});
    observer.start();
    std::string output;
    while (output.size() < 5 * PostStartObserver::kReadSlice) output += "npm http fetch GET 200 https://registry.npmjs.org/x 12ms\n";
    append(flat, running("2026-11-30T19:50:14+00:00", "a") + output + running("2026-11-30T19:50:15+00:00", "b"));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 2; }));
  }
}

TEST(PostStartObserver, WaitsForTheFolderAndTicksWhileAStepRuns) {
  TempDir dir;
  const std::string logs = dir.path + "/workspace-logs";
  Loop l;
  int told = 0;
  {
    PostStartObserver observer(&l.loop, logs, [&] { ++told; });
    observer.start();
    run_for(&l.loop, std::chrono::milliseconds(100));
    ASSERT_EQ(mkdir(logs.c_str(), 0755), 0);  // GitLab's hook makes it
    append(logs + "/" + kPostStartLogName, running("2026-11-30T19:50:14+00:00", "a"));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps().size() == 1; }, 3));  // looked for every 2 s
    // Running: told every second with nothing written.
    int before = told;
    run_for(&l.loop, std::chrono::milliseconds(2300));
    EXPECT_GE(told - before, 2);
    append(logs + "/" + kPostStartLogName, finished("2026-11-30T19:50:15+00:00", "a"));
    ASSERT_TRUE(run_until(&l.loop, [&] { return observer.steps()[0].finished_unix_ms.has_value(); }));
    before = told;
    run_for(&l.loop, std::chrono::milliseconds(1300));
    EXPECT_EQ(told, before);  // nothing runs: no tick
  }
}
