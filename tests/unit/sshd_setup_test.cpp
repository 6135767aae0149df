#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/fs.h"
#include "sshd_setup/keys.h"
#include "sshd_setup/sshd_setup.h"
#include "tests/unit/test_util.h"

using namespace wsinit::sshd_setup;
using wsinit::testing::TempDir;

namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string first_fields(const std::string& line, int count) {
  std::string out;
  size_t pos = 0;
  for (int i = 0; i < count; ++i) {
    size_t end = line.find_first_of(" \n", pos);
    if (i) out += ' ';
    out.append(line, pos, end - pos);
    pos = end + 1;
  }
  return out;
}

}  // namespace

class KeyRoundTrip : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyRoundTrip, SshKeygenAgreesWithUs) {
  TempDir dir;
  auto files = generate_key(GetParam(), "test-comment");
  ASSERT_TRUE(files) << files.error().message;
  std::string path = dir.path + "/key";
  ASSERT_TRUE(wsinit::fs::write_atomically(path, files->private_text, 0600));
  // ssh-keygen derives the public key from our private file: it must equal our .pub line.
  EXPECT_EQ(first_fields(run("ssh-keygen -y -f " + path), 2), first_fields(files->public_line, 2));
  // ... and prints the same fingerprint we compute.
  std::string listed = run("ssh-keygen -l -f " + path);
  EXPECT_NE(listed.find(" " + fingerprint(files->public_blob) + " test-comment "), std::string::npos) << listed;
  auto blob = public_blob_of(files->private_text);
  ASSERT_TRUE(blob) << blob.error().message;
  EXPECT_EQ(*blob, files->public_blob);
  // Body lines are wrapped at 70 columns, as OpenSSH writes them.
  EXPECT_EQ(files->private_text.find('\n', 36) - 36, 70u);
}

INSTANTIATE_TEST_SUITE_P(Types, KeyRoundTrip, ::testing::Values(KeyType::ed25519, KeyType::ecdsa, KeyType::rsa),
                         [](const auto& test) { return key_type_name(test.param); });

TEST(Keys, DamagedFilesAreRecognised) {
  auto files = generate_key(KeyType::ed25519, "c");
  ASSERT_TRUE(files);
  auto garbage = public_blob_of("garbage");
  EXPECT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not an OpenSSH private key"), std::string::npos);
  std::string cut = files->private_text;
  cut.erase(60, 40);  // drop part of the base64 body
  EXPECT_FALSE(public_blob_of(cut));
  std::string flipped = files->private_text;
  flipped[40] = flipped[40] == 'A' ? 'B' : 'A';  // damage the header
  EXPECT_FALSE(public_blob_of(flipped));
}

TEST(Keys, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(unbase64(base64(s)), s);
  }
  EXPECT_FALSE(unbase64("abc"));
}

TEST(SessionEnvironment, PassesValuesOnAndLeavesOutWhatCannotBeADirective) {
  std::vector<std::string> left_out;
  auto vars = session_variables({"PATH=/usr/local/bin:/usr/bin", "GIT_CONFIG_COUNT=3", "SPACED=a b  c", "QUOTE=say \"hi\"",
                                 "NEWLINE=a\nb", "CR=a\rb", "HOME=/root", "KUBERNETES_SERVICE_HOST=10.0.0.1",
                                 "WSINIT_SOCKET=/x", "HOSTNAME=ws", "_=/bin/env", "EMPTY=", "\nForceCommand=/bin/sh",
                                 "A B=1", "9LIVES=1", "\x1b[31mRED=1", "dotted.name=1", "_ok9=1"},
                                &left_out);
  EXPECT_EQ(vars, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin", "GIT_CONFIG_COUNT=3", "SPACED=a b  c",
                                            "QUOTE=say \"hi\"", "EMPTY=", "_ok9=1"}));
  EXPECT_EQ(left_out, (std::vector<std::string>{"NEWLINE", "CR", "\nForceCommand", "A B", "9LIVES", "\x1b[31mRED",
                                                "dotted.name"}));
  EXPECT_TRUE(excluded_from_sessions("KUBERNETES_PORT"));
  EXPECT_FALSE(excluded_from_sessions("GL_TOKEN_FILE_PATH"));
}

TEST(SshdConfig, DirectivesQuoteWhatNeedsItAndRefuseLineBreaks) {
  EXPECT_EQ(directive("UsePAM", {"no"}).value_or("<refused>"), "UsePAM no\n");
  EXPECT_EQ(directive("AllowUsers", {"a", "b@10.0.0.0/8"}).value_or("<refused>"), "AllowUsers a b@10.0.0.0/8\n");
  EXPECT_EQ(directive("SetEnv", {"A=x \"q\" \\ #"}).value_or("<refused>"), "SetEnv \"A=x \\\"q\\\" \\\\ #\"\n");
  EXPECT_EQ(directive("HostKey", {"#key"}).value_or("<refused>"), "HostKey \"#key\"\n");
  EXPECT_EQ(directive("SetEnv", {"=x"}).value_or("<refused>"), "SetEnv \"=x\"\n");
  EXPECT_EQ(directive("PidFile", {""}).value_or("<refused>"), "PidFile \"\"\n");
  for (const std::string& bad : std::vector<std::string>{"evil\nBanner /etc/shadow", "a\rb", std::string("a\0b", 3)}) {
    auto refused = directive("AllowUsers", {"ok", bad});
    EXPECT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("holds a newline, CR or NUL"), std::string::npos) << refused.error().message;
  }
  EXPECT_FALSE(directive("Allow Users", {"x"}));
  EXPECT_FALSE(directive("Banner\n", {"x"}));
  EXPECT_FALSE(directive("UsePAM", {}));
  EXPECT_EQ(authorized_keys_line("ssh-ed25519 AAAA c").value_or("<refused>"), "ssh-ed25519 AAAA c\n");
  EXPECT_FALSE(authorized_keys_line("ssh-ed25519 AAAA\ncommand=\"sh\" ssh-ed25519 BBBB"));
}

TEST(SshdConfig, RendersTheSettingsSshdNeedsUnprivileged) {
  ConfigText c;
  c.listen = {"0.0.0.0:60022"};
  c.host_key_paths = {"/data/ssh/ssh_host_ed25519_key"};
  c.runtime_dir = "/run/ws";
  c.user = "gitlab-workspaces";
  c.setenv = {"A=1"};
  std::string text = render_config(c).value_or("");
  for (const char* line : {"ListenAddress 0.0.0.0:60022\n", "HostKey /data/ssh/ssh_host_ed25519_key\n",
                           "PidFile /run/ws/sshd.pid\n", "UsePAM no\n", "StrictModes no\n", "PermitRootLogin no\n",
                           "AllowUsers gitlab-workspaces\n", "PubkeyAuthentication yes\n",
                           "AuthorizedKeysFile .ssh/authorized_keys /run/ws/authorized_keys\n",
                           "PasswordAuthentication yes\n", "PermitEmptyPasswords yes\n",
                           "Subsystem sftp internal-sftp\n", "PrintMotd no\n", "SetEnv A=1\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  c.password_less = false;
  c.allow_from = {"10.0.0.0/8", "192.168.1.7"};
  text = render_config(c).value_or("");
  EXPECT_NE(text.find("PasswordAuthentication no\nPermitEmptyPasswords no\n"), std::string::npos);
  EXPECT_NE(text.find("AllowUsers gitlab-workspaces@10.0.0.0/8 gitlab-workspaces@192.168.1.7\n"), std::string::npos);
  c.user = "evil\nBanner /etc/shadow";
  auto refused = render_config(c);
  EXPECT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("AllowUsers holds a newline"), std::string::npos) << refused.error().message;
}

// What real sshd reads back from the rendered file: each value whole, nothing more.
TEST(SshdConfig, SshdReadsBackExactlyTheValuesWritten) {
  if (geteuid() != 0) GTEST_FAIL() << "needs root to run sshd -T as another uid (the tests run as root)";
  TempDir dir;
  chmod(dir.path.c_str(), 0755);
  auto key = generate_key(KeyType::ed25519, "t");
  ASSERT_TRUE(key) << key.error().message;
  std::string odd = dir.path + "/a b #c \"d\" \\e %u";
  ASSERT_EQ(mkdir(odd.c_str(), 0755), 0);
  ASSERT_TRUE(wsinit::fs::write_atomically(odd + "/hk", key->private_text, 0600));
  ASSERT_EQ(chown((odd + "/hk").c_str(), 1000770000, 0), 0);
  ConfigText c;
  c.listen = {"127.0.0.1:2222"};
  c.host_key_paths = {odd + "/hk"};
  c.runtime_dir = odd;
  c.user = "dev";
  c.setenv = {"PLAIN=1", "SPACED=a  b", "QUOTES=say \"hi\" it's", "SLASHES=C:\\dir\\", "HASH=#not a comment",
              "EQ==x", "TAB=a\tb"};
  auto text = render_config(c);
  ASSERT_TRUE(text) << text.error().message;
  wsinit::testing::spit(dir.path + "/sshd_config", *text);
  chmod((dir.path + "/sshd_config").c_str(), 0644);
  std::string out = run("setpriv --reuid=1000770000 --regid=0 --clear-groups /usr/sbin/sshd -T -f '" + dir.path +
                        "/sshd_config' 2>&1");
  for (const std::string& line :
       {"hostkey " + odd + "/hk", "pidfile " + odd + "/sshd.pid",
        "authorizedkeysfile .ssh/authorized_keys " + odd.substr(0, odd.size() - 2) + "%%u/authorized_keys",
        std::string("allowusers dev"),
        std::string("setenv PLAIN=1"), std::string("setenv SPACED=a  b"), std::string("setenv QUOTES=say \"hi\" it's"),
        std::string("setenv SLASHES=C:\\dir\\"), std::string("setenv HASH=#not a comment"), std::string("setenv EQ==x"),
        std::string("setenv TAB=a\tb")}) {
    EXPECT_NE(out.find("\n" + line + "\n"), std::string::npos) << line << "\n" << out;
  }
  // AuthorizedKeysFile expands %u at login: the literal '%' went in as "%%" (-T shows it unexpanded).
  EXPECT_NE(text->find("/a b #c \\\"d\\\" \\\\e %%u/authorized_keys\""), std::string::npos) << *text;
}

// The gitlab profile with sshd's data and runtime under `dir`, listening on 127.0.0.1:2222.
// The user the Prepare tests set sshd up for.
static wsinit::user_ids::Identity dev_in(const std::string& home) {
  wsinit::user_ids::Identity id;
  id.name = "dev";
  id.home = home;
  return id;
}

static wsinit::config::Config sshd_config_in(const std::string& dir) {
  wsinit::config::Config config = wsinit::config::profile_defaults(wsinit::config::Profile::gitlab, {});
  config.paths.data = dir + "/data";
  config.paths.runtime = dir + "/run";
  config.sshd.binary = "/usr/sbin/sshd";
  config.sshd.listen = {"127.0.0.1:2222"};
  return config;
}

TEST(Prepare, DamagedHostKeyIsMovedAsideAndReplacedAndGoodOnesReused) {
  TempDir dir;
  wsinit::config::Config config = sshd_config_in(dir.path);
  wsinit::user_ids::Identity id = dev_in(dir.path);
  wsinit::sshd_setup::Setup first = prepare(config, id, {}, false);
  ASSERT_TRUE(first.errors.empty()) << first.errors[0];
  ASSERT_EQ(first.host_keys.size(), 2u);
  EXPECT_TRUE(first.host_keys[0].generated);
  std::string ed = first.host_keys[0].path;
  wsinit::testing::spit(ed, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64 at all\n-----END OPENSSH PRIVATE KEY-----\n");
  wsinit::sshd_setup::Setup second = prepare(config, id, {}, false);
  ASSERT_TRUE(second.errors.empty());
  EXPECT_TRUE(second.host_keys[0].generated);   // replaced
  EXPECT_FALSE(second.host_keys[1].generated);  // the good ecdsa key is reused
  EXPECT_EQ(second.host_keys[1].fingerprint, first.host_keys[1].fingerprint);
  ASSERT_FALSE(second.warnings.empty());
  EXPECT_NE(second.warnings[0].find("is unusable"), std::string::npos) << second.warnings[0];
  std::string aside = run("ls " + dir.path + "/data/ssh | grep broken");
  EXPECT_EQ(aside.rfind("ssh_host_ed25519_key.broken-", 0), 0u) << aside;
  struct stat st;
  ASSERT_EQ(stat(ed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(wsinit::testing::slurp(config.paths.runtime + "/sshd_config").find("AllowUsers dev\n"), std::string::npos);
}

// A host key that is a symlink is never followed: its target is neither read, nor chmodded;
// the link is moved aside (not deleted) and a new key takes its place.
TEST(Prepare, SymlinkedHostKeyIsNotFollowed) {
  TempDir dir;
  wsinit::config::Config config = sshd_config_in(dir.path);
  config.sshd.host_key_types = {"ed25519"};
  auto elsewhere = generate_key(KeyType::ed25519, "elsewhere");
  ASSERT_TRUE(elsewhere) << elsewhere.error().message;
  std::string target = dir.path + "/target_key";
  ASSERT_TRUE(wsinit::fs::write_atomically(target, elsewhere->private_text, 0644));
  ASSERT_TRUE(wsinit::fs::make_dirs(dir.path + "/data/ssh", 0700));
  std::string link = dir.path + "/data/ssh/ssh_host_ed25519_key";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  wsinit::user_ids::Identity id = dev_in(dir.path);
  wsinit::sshd_setup::Setup s = prepare(config, id, {}, false);
  ASSERT_TRUE(s.errors.empty()) << s.errors[0];
  ASSERT_EQ(s.host_keys.size(), 1u);
  EXPECT_TRUE(s.host_keys[0].generated);
  EXPECT_NE(s.host_keys[0].fingerprint, fingerprint(elsewhere->public_blob));
  ASSERT_FALSE(s.warnings.empty());
  EXPECT_NE(s.warnings[0].find("a symlink, which is never followed"), std::string::npos) << s.warnings[0];
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // not chmodded through the link
  EXPECT_EQ(wsinit::testing::slurp(target), elsewhere->private_text);
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // the new key, a file of its own
  std::string aside = run("cd " + dir.path + "/data/ssh && for f in *.broken-*; do [ -L \"$f\" ] && readlink \"$f\"; done");
  EXPECT_EQ(aside, target + "\n");  // the link itself, kept
}

// sshd.server: auto takes OpenSSH where its binary is, the built-in server elsewhere; builtin
// whatever is there; openssh with enabled auto and no sshd is off, saying why. The built-in
// server's services run this binary with the user's home and shell and the same sshd_config.
TEST(Prepare, TheServerIsOpenSshWhereFoundElseTheBuiltInOne) {
  using Server = wsinit::config::Config::Sshd::Server;
  TempDir dir;
  wsinit::config::Config config = sshd_config_in(dir.path);
  config.sshd.host_key_types = {"ed25519"};
  wsinit::user_ids::Identity id = dev_in(dir.path);
  id.shell = "/bin/sh";
  std::string fake_sshd = dir.path + "/sshd";
  wsinit::testing::spit(fake_sshd, "#!/bin/sh\n");
  ASSERT_EQ(chmod(fake_sshd.c_str(), 0755), 0);

  config.sshd.binary = fake_sshd;
  wsinit::sshd_setup::Setup found = prepare(config, id, {}, true);
  EXPECT_EQ(found.server, "openssh");
  EXPECT_EQ(found.binary, fake_sshd);

  config.sshd.binary = dir.path + "/no-such-sshd";
  wsinit::sshd_setup::Setup missing = prepare(config, id, {}, false);
  ASSERT_TRUE(missing.errors.empty()) << missing.errors[0];
  EXPECT_TRUE(missing.enabled);
  EXPECT_EQ(missing.server, "builtin");
  ASSERT_EQ(missing.services.size(), 2u);
  const auto& check = missing.services[0].command;
  const auto& run = missing.services[1].command;
  ASSERT_GE(run.size(), 6u);
  EXPECT_EQ(run[1], "ssh-server");
  EXPECT_EQ(std::vector<std::string>(run.begin() + 2, run.begin() + 6),
            (std::vector<std::string>{"--home", dir.path, "--shell", "/bin/sh"}));
  EXPECT_EQ(run.back(), config.paths.runtime + "/sshd_config");
  EXPECT_NE(std::find(check.begin(), check.end(), "-t"), check.end());
  EXPECT_EQ(missing.services[1].ready.tcp_expect, "SSH-2.0-");

  config.sshd.binary = fake_sshd;
  config.sshd.server = Server::builtin;
  EXPECT_EQ(prepare(config, id, {}, true).server, "builtin");

  config.sshd.binary = dir.path + "/no-such-sshd";
  config.sshd.server = Server::openssh;
  wsinit::sshd_setup::Setup off = prepare(config, id, {}, true);
  EXPECT_FALSE(off.enabled);
  EXPECT_NE(off.why_off.find("sshd.server is openssh and no sshd was found"), std::string::npos) << off.why_off;
}
