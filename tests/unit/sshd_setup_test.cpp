#include <gtest/gtest.h>
#include <sys/stat.h>

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
  std::string error;
  auto files = generate_key(GetParam(), "test-comment", &error);
  ASSERT_TRUE(files) << error;
  std::string path = dir.path + "/key";
  ASSERT_FALSE(wsinit::fs::write_atomically(path, files->private_text, 0600));
  // ssh-keygen derives the public key from our private file: it must equal our .pub line.
  EXPECT_EQ(first_fields(run("ssh-keygen -y -f " + path), 2), first_fields(files->public_line, 2));
  // ... and prints the same fingerprint we compute.
  std::string listed = run("ssh-keygen -l -f " + path);
  EXPECT_NE(listed.find(" " + fingerprint(files->public_blob) + " test-comment "), std::string::npos) << listed;
  auto blob = public_blob_of(files->private_text, &error);
  ASSERT_TRUE(blob) << error;
  EXPECT_EQ(*blob, files->public_blob);
  // Body lines are wrapped at 70 columns, as OpenSSH writes them.
  EXPECT_EQ(files->private_text.find('\n', 36) - 36, 70u);
}

INSTANTIATE_TEST_SUITE_P(Types, KeyRoundTrip, ::testing::Values(KeyType::ed25519, KeyType::ecdsa, KeyType::rsa),
                         [](const auto& test) { return key_type_name(test.param); });

TEST(Keys, DamagedFilesAreRecognised) {
  std::string error;
  auto files = generate_key(KeyType::ed25519, "c", &error);
  ASSERT_TRUE(files);
  EXPECT_FALSE(public_blob_of("garbage", &error));
  EXPECT_NE(error.find("not an OpenSSH private key"), std::string::npos);
  std::string cut = files->private_text;
  cut.erase(60, 40);  // drop part of the base64 body
  EXPECT_FALSE(public_blob_of(cut, &error));
  std::string flipped = files->private_text;
  flipped[40] = flipped[40] == 'A' ? 'B' : 'A';  // damage the header
  EXPECT_FALSE(public_blob_of(flipped, &error));
}

TEST(Keys, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(unbase64(base64(s)), s);
  }
  EXPECT_FALSE(unbase64("abc"));
}

TEST(SessionEnvironment, QuotesEscapesAndLeavesOut) {
  std::vector<std::string> left_out;
  std::string line = setenv_line({"PATH=/usr/local/bin:/usr/bin", "GIT_CONFIG_COUNT=3", "SPACED=a b  c",
                                  "QUOTE=say \"hi\"", "BACKSLASH=C:\\dir", "NEWLINE=a\nb", "HOME=/root",
                                  "KUBERNETES_SERVICE_HOST=10.0.0.1", "WSINIT_SOCKET=/x", "HOSTNAME=ws", "_=/bin/env",
                                  "EMPTY="},
                                 &left_out);
  EXPECT_EQ(line,
            "SetEnv PATH=\"/usr/local/bin:/usr/bin\" GIT_CONFIG_COUNT=\"3\" SPACED=\"a b  c\" "
            "QUOTE=\"say \\\"hi\\\"\" BACKSLASH=\"C:\\\\dir\" EMPTY=\"\"");
  EXPECT_EQ(left_out, std::vector<std::string>{"NEWLINE"});
  EXPECT_TRUE(excluded_from_sessions("KUBERNETES_PORT"));
  EXPECT_FALSE(excluded_from_sessions("GL_TOKEN_FILE_PATH"));
}

TEST(SshdConfig, RendersTheSettingsSshdNeedsUnprivileged) {
  ConfigText c;
  c.listen = {"0.0.0.0:60022"};
  c.host_key_paths = {"/data/ssh/ssh_host_ed25519_key"};
  c.runtime_dir = "/run/ws";
  c.user = "gitlab-workspaces";
  c.setenv = "SetEnv A=\"1\"";
  std::string text = render_config(c);
  for (const char* line : {"ListenAddress 0.0.0.0:60022\n", "HostKey /data/ssh/ssh_host_ed25519_key\n",
                           "PidFile /run/ws/sshd.pid\n", "UsePAM no\n", "StrictModes no\n", "PermitRootLogin no\n",
                           "AllowUsers gitlab-workspaces\n", "PubkeyAuthentication yes\n",
                           "AuthorizedKeysFile .ssh/authorized_keys /run/ws/authorized_keys\n",
                           "PasswordAuthentication yes\n", "PermitEmptyPasswords yes\n",
                           "Subsystem sftp internal-sftp\n", "PrintMotd no\n", "SetEnv A=\"1\"\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  c.password_less = false;
  c.allow_from = {"10.0.0.0/8", "192.168.1.7"};
  text = render_config(c);
  EXPECT_NE(text.find("PasswordAuthentication no\nPermitEmptyPasswords no\n"), std::string::npos);
  EXPECT_NE(text.find("AllowUsers gitlab-workspaces@10.0.0.0/8 gitlab-workspaces@192.168.1.7\n"), std::string::npos);
}

TEST(Prepare, DamagedHostKeyIsMovedAsideAndReplacedAndGoodOnesReused) {
  TempDir dir;
  wsinit::config::Config config = wsinit::config::profile_defaults(wsinit::config::Profile::gitlab, {});
  config.paths.data = dir.path + "/data";
  config.paths.runtime = dir.path + "/run";
  config.sshd.binary = "/usr/sbin/sshd";
  config.sshd.listen = {"127.0.0.1:2222"};
  wsinit::user_ids::Identity id;
  id.name = "dev";
  id.home = dir.path;
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
