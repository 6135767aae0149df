// The built-in SSH server's pure pieces: its sshd_config reader (the inverse of sshd_setup's
// writer), command line, authorized_keys reader, environment, signals, addresses, MaxStartups.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "ssh_server/internal.h"
#include "sshd_setup/sshd_setup.h"

using namespace wsinit::ssh_server;
using Strings = std::vector<std::string>;
using namespace std::string_literals;

namespace {

// Arguments sshd's quoting has to carry: every character directive() accepts that matters.
Strings hostile_pieces() {
  Strings p = {"",        " ",         "\t",      "a b",    "'",        "\"",       "\\",      "\\\\",
               "\\\"",    "\\'",       "\\ ",     "#",      "#x",       "a#b",      "=",       "=a",
               "a=b",     "\"\"",      "''",      "'a b'",  "\"a b\"",  "x\\",      "\"x",     "x'",
               "%",       "%%",        "%h",      "caf\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x94\x91", "\xff\xfe",
               "\x7f",    "a\fb",      "\f",      "\v",     "a\vb",     "  lead",   "trail  "};
  for (int c = 1; c < 0x20; ++c) {
    if (c != '\n' && c != '\r') p.push_back(std::string(1, static_cast<char>(c)) + "x");
  }
  return p;
}

Strings split(std::string_view line) {
  auto t = split_line(line);
  EXPECT_TRUE(t.ok()) << "'" << line << "': " << t.error().message;
  return t ? *t : Strings{};
}

// directive()'s line, without its newline, split back.
Strings round_trip(const std::string& keyword, const Strings& args) {
  auto line = wsinit::sshd_setup::directive(keyword, args);
  EXPECT_TRUE(line.ok());
  if (!line) return {};
  EXPECT_EQ(line->back(), '\n');
  return split(std::string_view(*line).substr(0, line->size() - 1));
}

}  // namespace

TEST(SshServerSplitLine, IsTheInverseOfDirectiveForOneArgument) {
  for (const auto& piece : hostile_pieces()) {
    EXPECT_EQ(round_trip("SetEnv", {piece}), (Strings{"SetEnv", piece})) << "argument '" << piece << "'";
  }
}

TEST(SshServerSplitLine, IsTheInverseOfDirectiveForJoinedPiecesAndManyArguments) {
  Strings pieces = hostile_pieces();
  size_t checked = 0;
  for (const auto& a : pieces) {
    for (const auto& b : pieces) {
      EXPECT_EQ(round_trip("HostKey", {a + b}), (Strings{"HostKey", a + b})) << "'" << a + b << "'";
      EXPECT_EQ(round_trip("AcceptEnv", {a, b, a}), (Strings{"AcceptEnv", a, b, a}));
      checked += 2;
    }
  }
  EXPECT_GT(checked, 5000u);
  EXPECT_EQ(round_trip("SetEnv", pieces), [&] {
    Strings all{"SetEnv"};
    all.insert(all.end(), pieces.begin(), pieces.end());
    return all;
  }());
}

TEST(SshServerSplitLine, DirectiveRefusesWhatNoLineCarries) {
  for (std::string bad : {std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3)}) {
    EXPECT_FALSE(wsinit::sshd_setup::directive("SetEnv", {bad}).ok());
  }
}

TEST(SshServerSplitLine, SplitsAsOpenSshArgvSplit) {
  EXPECT_EQ(split("a\"b c\"d"), (Strings{"ab cd"}));  // quotes open and close mid-token
  EXPECT_EQ(split("x'#'y z"), (Strings{"x#y", "z"}));
  EXPECT_EQ(split("'a\"b' \"a'b\""), (Strings{"a\"b", "a'b"}));
  EXPECT_EQ(split("a\\ b c"), (Strings{"a b", "c"}));            // an escaped blank outside quotes
  EXPECT_EQ(split("\"a\\ b\""), (Strings{"a\\ b"}));             // ... is kept as written inside
  EXPECT_EQ(split("\"a\\\"b\\\\\""), (Strings{"a\"b\\"}));       // \" and \\ inside quotes
  EXPECT_EQ(split("a\\x \\#b"), (Strings{"a\\x", "\\#b"}));      // other escapes are kept
  EXPECT_EQ(split("a\\\ttab"), (Strings{"a\\", "tab"}));         // a tab is not escaped
  EXPECT_EQ(split("\"\" ''"), (Strings{"", ""}));                // empty tokens
  EXPECT_EQ(split("  \tKey\t\targ  "), (Strings{"Key", "arg"}));
  EXPECT_EQ(split("Key arg #comment \"x"), (Strings{"Key", "arg"}));  // '#' at a token's start
  EXPECT_EQ(split("Key a#b"), (Strings{"Key", "a#b"}));                // '#' inside one is kept
  EXPECT_EQ(split("Key \"#b\""), (Strings{"Key", "#b"}));
  EXPECT_TRUE(split("").empty());
  EXPECT_TRUE(split(" \t ").empty());
  EXPECT_TRUE(split("# ListenAddress 1.2.3.4:22").empty());
  EXPECT_TRUE(split("   #x").empty());
  for (const char* unterminated : {"Key \"abc", "Key 'abc", "Key a\"b", "Key \"a\\\"", "Key '"}) {
    auto t = split_line(unterminated);
    ASSERT_FALSE(t.ok()) << unterminated;
    EXPECT_NE(t.error().message.find("unterminated quote"), std::string::npos);
  }
}

TEST(SshServerSplitLine, OnlySpaceAndTabSeparateAndTrailingFormFeedsGo) {
  // argv_split splits on ' ' and '\t' only; sshd's loader strips blanks and form feeds at the end.
  EXPECT_EQ(split("Key a\fb a\vb"), (Strings{"Key", "a\fb", "a\vb"}));
  EXPECT_EQ(split("Key arg\f"), (Strings{"Key", "arg"}));
  EXPECT_EQ(split("Key arg \f \t"), (Strings{"Key", "arg"}));
  EXPECT_EQ(split("Key \"arg\f\""), (Strings{"Key", "arg\f"}));
}

namespace {

wsinit::sshd_setup::ConfigText hostile_config() {
  wsinit::sshd_setup::ConfigText c;
  c.listen = {"0.0.0.0:60022", "[::]:60022"};
  c.host_key_paths = {"/run/ws ssh/%k/ssh_host_ed25519_key", "/keys/ssh_host_ecdsa_key"};
  c.runtime_dir = "/run/ws 100%/x%%y";
  c.user = "dev";
  c.password_less = true;
  c.allow_from = {"10.0.0.0/8", "fd00::/8"};
  c.setenv = {"A=b c", "Q=\"'\\", "H=#not a comment", "E=", "U=caf\xc3\xa9", "EQ==x"};
  return c;
}

Options parsed(const std::string& text) {
  auto o = parse_config(text, "/etc/sshd_config");
  EXPECT_TRUE(o.ok()) << o.error().message;
  return o ? *o : Options{};
}

std::string errors_of(const std::string& text) {
  auto o = parse_config(text, "cfg");
  EXPECT_FALSE(o.ok());
  return o ? "" : o.error().message;
}

const std::string kMinimal = "ListenAddress 127.0.0.1:2222\nHostKey /k\nAllowUsers dev\n";

}  // namespace

TEST(SshServerConfig, ReadsBackWhatSshdSetupRenders) {
  auto text = wsinit::sshd_setup::render_config(hostile_config());
  ASSERT_TRUE(text.ok()) << text.error().message;
  Options o = parsed(*text);
  EXPECT_EQ(o.listen, (Strings{"0.0.0.0:60022", "[::]:60022"}));
  EXPECT_EQ(o.host_keys, (Strings{"/run/ws ssh/%k/ssh_host_ed25519_key", "/keys/ssh_host_ecdsa_key"}));
  EXPECT_EQ(o.user, "dev");
  ASSERT_EQ(o.allow_from.size(), 2u);
  EXPECT_EQ(o.allow_from[0].family, AF_INET);
  EXPECT_EQ(o.allow_from[0].bits, 8);
  EXPECT_EQ(o.allow_from[0].addr[0], 10);
  EXPECT_EQ(o.allow_from[1].family, AF_INET6);
  EXPECT_EQ(o.allow_from[1].bits, 8);
  EXPECT_EQ(o.allow_from[1].addr[0], 0xfd);
  EXPECT_EQ(o.authorized_keys_files, (Strings{".ssh/authorized_keys", "/run/ws 100%/x%%y/authorized_keys"}));
  EXPECT_TRUE(o.password_authentication);
  EXPECT_TRUE(o.permit_empty_passwords);
  EXPECT_EQ(o.setenv, hostile_config().setenv);
  EXPECT_EQ(o.accept_env, (Strings{"LANG", "LC_*"}));
  EXPECT_EQ(o.login_grace_seconds, 30);
  EXPECT_EQ(o.max_auth_tries, 6);
  EXPECT_EQ(o.startups_begin, 10);
  EXPECT_EQ(o.startups_rate, 30);
  EXPECT_EQ(o.startups_full, 60);
}

TEST(SshServerConfig, ReadsBackAPasswordedUserFromAnyAddress) {
  auto c = hostile_config();
  c.password_less = false;
  c.allow_from.clear();
  c.setenv.clear();
  auto text = wsinit::sshd_setup::render_config(c);
  ASSERT_TRUE(text.ok());
  Options o = parsed(*text);
  EXPECT_EQ(o.user, "dev");
  EXPECT_TRUE(o.allow_from.empty());
  EXPECT_FALSE(o.password_authentication);
  EXPECT_FALSE(o.permit_empty_passwords);
  EXPECT_TRUE(o.setenv.empty());
}

TEST(SshServerConfig, KeywordsAnyCaseCrlfCommentsAndDefaults) {
  Options o = parsed("# c\r\n\r\nlistenaddress 127.0.0.1:1\r\nHOSTKEY /k\r\n  allowusers dev  # me\r\n");
  EXPECT_EQ(o.listen, (Strings{"127.0.0.1:1"}));
  EXPECT_EQ(o.host_keys, (Strings{"/k"}));
  EXPECT_EQ(o.user, "dev");
  EXPECT_EQ(o.login_grace_seconds, 120);
  EXPECT_EQ(o.max_auth_tries, 6);
  EXPECT_EQ(o.startups_begin, 10);
  EXPECT_EQ(o.startups_rate, 30);
  EXPECT_EQ(o.startups_full, 100);
  EXPECT_FALSE(o.password_authentication);
}

TEST(SshServerConfig, MaxStartupsForms) {
  Options one = parsed(kMinimal + "MaxStartups 5\n");
  EXPECT_EQ(one.startups_begin, 5);
  EXPECT_EQ(one.startups_full, 5);
  EXPECT_EQ(one.startups_rate, 100);
  Options three = parsed(kMinimal + "MaxStartups 3:50:9\n");
  EXPECT_EQ(three.startups_begin, 3);
  EXPECT_EQ(three.startups_rate, 50);
  EXPECT_EQ(three.startups_full, 9);
  for (const char* bad : {"0", "10:30", "10:30:5", "10:101:20", "a:b:c", "10:30:60:70", "-1:30:60", "10::60"}) {
    EXPECT_NE(errors_of(kMinimal + "MaxStartups " + bad + "\n").find("MaxStartups takes N or START:RATE:FULL"),
              std::string::npos)
        << bad;
  }
}

TEST(SshServerConfig, ErrorsNameFileAndLineAllAtOnce) {
  std::string e = errors_of(kMinimal +
                            "Bogus x\n"                // 4
                            "PasswordAuthentication maybe\n"  // 5
                            "HostKey \"/unterminated\n"       // 6
                            "LoginGraceTime 30s\n"            // 7
                            "MaxAuthTries 0\n"                // 8
                            "AllowUsers dev@10.0.0.0/33\n"    // 9
                            "SetEnv\n");                      // 10
  EXPECT_NE(e.find("cfg:4: 'Bogus' is not a directive the built-in SSH server knows"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:5: PasswordAuthentication takes yes or no"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:6: an unterminated quote"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:7: LoginGraceTime takes a number from 0 to 3600"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:8: MaxAuthTries takes a number from 1 to 100"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:9: AllowUsers: '10.0.0.0/33' has no valid prefix length"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg:10: SetEnv has no value"), std::string::npos) << e;
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 6) << e;
}

TEST(SshServerConfig, OneUserOnly) {
  EXPECT_NE(errors_of(kMinimal + "AllowUsers other\n").find("cfg:4: AllowUsers names two users"), std::string::npos);
  EXPECT_NE(errors_of("ListenAddress 1.2.3.4:5\nHostKey /k\nAllowUsers a b\n").find("cfg:3: AllowUsers names two users"),
            std::string::npos);
  Options same = parsed(kMinimal + "AllowUsers dev@192.168.0.0/16\n");
  EXPECT_EQ(same.user, "dev");
  EXPECT_EQ(same.allow_from.size(), 1u);
}

TEST(SshServerConfig, MissingEssentialsAreErrors) {
  std::string e = errors_of("# nothing\nUsePAM no\n");
  EXPECT_NE(e.find("cfg: no ListenAddress"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg: no HostKey"), std::string::npos) << e;
  EXPECT_NE(e.find("cfg: no AllowUsers"), std::string::npos) << e;
  EXPECT_NE(errors_of("").find("cfg: no ListenAddress"), std::string::npos);
}

TEST(SshServerArgs, UsageAndErrors) {
  auto ok = parse_args({"-D", "-e", "-f", "/etc/c", "--home", "/home/dev", "--shell", "/bin/bash", "-t"});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->config_path, "/etc/c");
  EXPECT_EQ(ok->home, "/home/dev");
  EXPECT_EQ(ok->shell, "/bin/bash");
  EXPECT_TRUE(ok->test_only);
  auto defaults = parse_args({"-f", "c"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->home, "/");
  EXPECT_EQ(defaults->shell, "/bin/sh");
  EXPECT_FALSE(defaults->test_only);
  auto message = [](const Strings& args) {
    auto r = parse_args(args);
    EXPECT_FALSE(r.ok());
    return r ? "" : r.error().message;
  };
  EXPECT_NE(message({}).find("-f CONFIG is required"), std::string::npos);
  EXPECT_NE(message({"-f"}).find("unexpected '-f' (usage:"), std::string::npos);
  EXPECT_NE(message({"-f", "c", "-x"}).find("unexpected '-x'"), std::string::npos);
  EXPECT_NE(message({"-f", "c", "--home", "rel"}).find("--home must be an absolute path"), std::string::npos);
  EXPECT_NE(message({"-f", "c", "--shell", ""}).find("--shell must be an absolute path"), std::string::npos);
  EXPECT_NE(message({"-f", "c", "--shell"}).find("unexpected '--shell'"), std::string::npos);
}

TEST(SshServerAuthorizedKeys, KeysCommentsBlanksAndCrlf) {
  KeyLines k = parse_authorized_keys(
      "# mine\n"
      "\n"
      "   \t\n"
      "ssh-ed25519 AAAAC3Nz one@host\n"
      "  ecdsa-sha2-nistp256\tAAAAE2Vj\r\n"
      "ssh-rsa AAAAB3Nz with a comment\r\n"
      "sk-ssh-ed25519@openssh.com AAAAGnNr\n"
      "ssh-ed25519 AAAAlast");
  ASSERT_EQ(k.keys.size(), 5u);
  EXPECT_TRUE(k.refused.empty());
  EXPECT_EQ(k.keys[0].type, "ssh-ed25519");
  EXPECT_EQ(k.keys[0].base64, "AAAAC3Nz");
  EXPECT_EQ(k.keys[1].type, "ecdsa-sha2-nistp256");
  EXPECT_EQ(k.keys[1].base64, "AAAAE2Vj");  // no CR left on a key that ends its line
  EXPECT_EQ(k.keys[2].base64, "AAAAB3Nz");
  EXPECT_EQ(k.keys[3].type, "sk-ssh-ed25519@openssh.com");
  EXPECT_EQ(k.keys[4].base64, "AAAAlast");
}

TEST(SshServerAuthorizedKeys, CommentsAreFreeText) {
  // A comment is not tokenized: an apostrophe or a lone quote in it leaves the key a key.
  KeyLines k = parse_authorized_keys("ssh-ed25519 AAAAone Jane's laptop\nssh-ed25519 AAAAtwo \"half\n");
  ASSERT_EQ(k.keys.size(), 2u);
  EXPECT_EQ(k.keys[0].base64, "AAAAone");
  EXPECT_EQ(k.keys[1].base64, "AAAAtwo");
  EXPECT_TRUE(k.refused.empty());
}

TEST(SshServerAuthorizedKeys, OptionsAreRefusedSayingWhy) {
  KeyLines k = parse_authorized_keys(
      "from=\"10.0.0.0/8\" ssh-ed25519 AAAA1\n"
      "command=\"echo 'hi there'\",no-pty ssh-ed25519 AAAA2\n"
      "restrict ssh-ed25519 AAAA3\n"
      "ssh-ed25519\n"
      "ssh-ed25519 AAAA4\n");
  ASSERT_EQ(k.keys.size(), 1u);
  EXPECT_EQ(k.keys[0].base64, "AAAA4");
  ASSERT_EQ(k.refused.size(), 4u);
  EXPECT_EQ(k.refused[0].rfind("1: has options (from=", 0), 0u) << k.refused[0];
  EXPECT_NE(k.refused[0].find("which the built-in SSH server does not enforce"), std::string::npos);
  EXPECT_EQ(k.refused[1].rfind("2: has options (command=", 0), 0u) << k.refused[1];
  EXPECT_EQ(k.refused[2].rfind("3: has options (restrict)", 0), 0u) << k.refused[2];
  EXPECT_EQ(k.refused[3], "4: a key type with no key");
}

TEST(SshServerAuthorizedKeys, AQuotedKeyTypeIsNotAKeyType) {
  // OpenSSH reads the key type as written: quotes make it options, never a key.
  KeyLines k = parse_authorized_keys("\"ssh-ed25519\" AAAA1\nssh-ed25519 \"AAAA2\"\n");
  ASSERT_EQ(k.refused.size(), 1u);
  EXPECT_EQ(k.refused[0].rfind("1: has options", 0), 0u);
  ASSERT_EQ(k.keys.size(), 1u);
  EXPECT_EQ(k.keys[0].base64, "\"AAAA2\"");  // not base64: libssh refuses it
}

TEST(SshServerEnv, AcceptedEnv) {
  Strings p = {"LANG", "LC_*"};
  EXPECT_TRUE(accepted_env(p, "LANG", "C.UTF-8"));
  EXPECT_TRUE(accepted_env(p, "LC_ALL", "de_DE.UTF-8"));
  EXPECT_TRUE(accepted_env(p, "LC_", ""));
  EXPECT_TRUE(accepted_env(p, "LANG", "line\nbreak"));
  EXPECT_FALSE(accepted_env(p, "LANGUAGE", "x"));
  EXPECT_FALSE(accepted_env(p, "lang", "x"));
  EXPECT_FALSE(accepted_env(p, "LC", "x"));
  EXPECT_FALSE(accepted_env(p, "PATH", "/evil"));
  EXPECT_FALSE(accepted_env(p, "LD_PRELOAD", "/x.so"));
  for (const char* bad : {"", "LC_A=B", "LC_A B", "1LC", "LC_-", "LC_\xc3\xa9", "LC_*"}) {
    EXPECT_FALSE(accepted_env({"*"}, bad, "x")) << bad;
  }
  EXPECT_FALSE(accepted_env(p, "LANG", std::string("a\0b", 3)));
  EXPECT_TRUE(accepted_env(p, "LANG", std::string(kMaxEnvValue, 'x')));
  EXPECT_FALSE(accepted_env(p, "LANG", std::string(kMaxEnvValue + 1, 'x')));
  EXPECT_FALSE(accepted_env({}, "LANG", "x"));
  EXPECT_TRUE(accepted_env({"*"}, "ANY_thing9", "x"));
  EXPECT_FALSE(accepted_env({""}, "LANG", "x"));
}

namespace {

SessionFacts facts() {
  SessionFacts f;
  f.user = "dev";
  f.home = "/home/dev";
  f.shell = "/bin/bash";
  f.peer_ip = "10.1.2.3";
  f.peer_port = 51000;
  f.local_ip = "10.9.9.9";
  f.local_port = 60022;
  return f;
}

std::string value_of(const Strings& env, const std::string& name) {
  std::string found = "<unset>";
  for (const auto& e : env) {
    if (e.rfind(name + "=", 0) == 0) {
      EXPECT_EQ(found, "<unset>") << name << " twice";
      found = e.substr(name.size() + 1);
    }
  }
  return found;
}

}  // namespace

TEST(SshServerEnv, SessionEnvironmentDefaults) {
  Strings env = session_environment(Options{}, facts());
  EXPECT_EQ(value_of(env, "USER"), "dev");
  EXPECT_EQ(value_of(env, "LOGNAME"), "dev");
  EXPECT_EQ(value_of(env, "HOME"), "/home/dev");
  EXPECT_EQ(value_of(env, "SHELL"), "/bin/bash");
  EXPECT_EQ(value_of(env, "MAIL"), "/var/mail/dev");
  EXPECT_NE(value_of(env, "PATH"), "<unset>");
  EXPECT_EQ(value_of(env, "SSH_CLIENT"), "10.1.2.3 51000 60022");
  EXPECT_EQ(value_of(env, "SSH_CONNECTION"), "10.1.2.3 51000 10.9.9.9 60022");
  EXPECT_EQ(value_of(env, "TERM"), "<unset>");  // no terminal
  EXPECT_EQ(value_of(env, "SSH_TTY"), "<unset>");
  SessionFacts tty = facts();
  tty.term = "xterm-256color";
  tty.tty = "/dev/pts/3";
  Strings with = session_environment(Options{}, tty);
  EXPECT_EQ(value_of(with, "TERM"), "xterm-256color");
  EXPECT_EQ(value_of(with, "SSH_TTY"), "/dev/pts/3");
}

// OpenSSH's order: the client's variables, sshd's own over them, SetEnv over everything.
TEST(SshServerEnv, SetEnvOverridesSshdsOwnWhichOverrideTheClients) {
  Options o;
  o.setenv = {"LANG=C.UTF-8", "EDITOR=vim", "EMPTY=", "EQ=a=b", "=nameless", "noequals"};
  SessionFacts f = facts();
  f.term = "xterm";
  f.tty = "/dev/pts/0";
  f.client_env = {{"LANG", "de_DE.UTF-8"}, {"LC_ALL", "fr_FR.UTF-8"}, {"TERM", "vt100"}, {"USER", "mallory"}};
  Strings env = session_environment(o, f);
  EXPECT_EQ(value_of(env, "LANG"), "C.UTF-8");
  EXPECT_EQ(value_of(env, "LC_ALL"), "fr_FR.UTF-8");
  EXPECT_EQ(value_of(env, "TERM"), "xterm");  // the pty-req's, over an env request's
  EXPECT_EQ(value_of(env, "USER"), "dev");
  EXPECT_EQ(value_of(env, "EDITOR"), "vim");
  EXPECT_EQ(value_of(env, "EMPTY"), "");
  EXPECT_EQ(value_of(env, "EQ"), "a=b");
  for (const auto& e : env) EXPECT_NE(e.find('='), 0u) << e;
  EXPECT_EQ(value_of(env, "noequals"), "<unset>");
  o.setenv = {"USER=other", "PATH=/opt/bin"};
  Strings over = session_environment(o, f);
  EXPECT_EQ(value_of(over, "USER"), "other");
  EXPECT_EQ(value_of(over, "PATH"), "/opt/bin");
}

TEST(SshServerSignals, NamesAndNumbersRoundTrip) {
  for (const char* n : {"ABRT", "ALRM", "FPE", "HUP", "ILL", "INT", "KILL", "PIPE", "QUIT", "SEGV", "TERM", "USR1", "USR2"}) {
    int s = signal_number(n);
    EXPECT_GT(s, 0) << n;
    EXPECT_EQ(signal_name(s), n);
  }
  EXPECT_EQ(signal_number("TERM"), SIGTERM);
  EXPECT_EQ(signal_number("KILL"), SIGKILL);
  EXPECT_EQ(signal_number("SIGTERM"), 0);
  EXPECT_EQ(signal_name(SIGBUS), "BUS@openssh.com");  // not RFC 4254's: OpenSSH's name for it
  EXPECT_EQ(signal_number("term"), 0);
  EXPECT_EQ(signal_number(""), 0);
  EXPECT_EQ(signal_name(SIGCHLD), "CHLD@openssh.com");
  EXPECT_EQ(signal_name(0), "");
  EXPECT_EQ(signal_name(-1), "");
}

namespace {

sockaddr_storage v4(const char* ip) {
  sockaddr_storage a{};
  auto* in = reinterpret_cast<sockaddr_in*>(&a);
  in->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &in->sin_addr), 1) << ip;
  return a;
}

sockaddr_storage v6(const char* ip) {
  sockaddr_storage a{};
  auto* in = reinterpret_cast<sockaddr_in6*>(&a);
  in->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &in->sin6_addr), 1) << ip;
  return a;
}

Cidr cidr(const char* text) {
  auto c = parse_cidr(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.error().message;
  return c ? *c : Cidr{};
}

}  // namespace

TEST(SshServerCidr, Ipv4) {
  Cidr c = cidr("10.0.0.0/8");
  EXPECT_TRUE(cidr_contains(c, v4("10.255.1.2")));
  EXPECT_FALSE(cidr_contains(c, v4("11.0.0.0")));
  EXPECT_FALSE(cidr_contains(c, v6("::1")));
  Cidr host = cidr("192.168.1.7");
  EXPECT_EQ(host.bits, 32);
  EXPECT_TRUE(cidr_contains(host, v4("192.168.1.7")));
  EXPECT_FALSE(cidr_contains(host, v4("192.168.1.6")));
  EXPECT_TRUE(cidr_contains(cidr("192.168.1.7/32"), v4("192.168.1.7")));
  Cidr any = cidr("0.0.0.0/0");
  EXPECT_TRUE(cidr_contains(any, v4("1.2.3.4")));
  EXPECT_TRUE(cidr_contains(any, v4("255.255.255.255")));
  Cidr odd = cidr("172.16.0.0/13");  // 172.16.0.0 - 172.23.255.255
  EXPECT_TRUE(cidr_contains(odd, v4("172.16.0.1")));
  EXPECT_TRUE(cidr_contains(odd, v4("172.23.255.255")));
  EXPECT_FALSE(cidr_contains(odd, v4("172.24.0.0")));
  EXPECT_FALSE(cidr_contains(odd, v4("172.15.255.255")));
  Cidr thirty_one = cidr("10.0.0.2/31");
  EXPECT_TRUE(cidr_contains(thirty_one, v4("10.0.0.3")));
  EXPECT_FALSE(cidr_contains(thirty_one, v4("10.0.0.4")));
}

TEST(SshServerCidr, Ipv6AndMappedPeers) {
  Cidr c = cidr("fd00::/8");
  EXPECT_EQ(c.family, AF_INET6);
  EXPECT_TRUE(cidr_contains(c, v6("fd12:3456::1")));
  EXPECT_FALSE(cidr_contains(c, v6("fe80::1")));
  EXPECT_FALSE(cidr_contains(c, v4("10.0.0.1")));
  Cidr odd = cidr("2001:db8::/29");  // 2001:0db8 - 2001:0dbf
  EXPECT_TRUE(cidr_contains(odd, v6("2001:dbf:ffff::1")));
  EXPECT_FALSE(cidr_contains(odd, v6("2001:dc0::")));
  EXPECT_TRUE(cidr_contains(cidr("::/0"), v6("2001:db8::1")));
  EXPECT_TRUE(cidr_contains(cidr("::1/128"), v6("::1")));
  EXPECT_FALSE(cidr_contains(cidr("::1/128"), v6("::2")));
  // A dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d: it counts as IPv4.
  EXPECT_TRUE(cidr_contains(cidr("10.0.0.0/8"), v6("::ffff:10.1.2.3")));
  EXPECT_FALSE(cidr_contains(cidr("10.0.0.0/8"), v6("::ffff:11.1.2.3")));
  EXPECT_FALSE(cidr_contains(cidr("10.0.0.0/8"), v6("::10.1.2.3")));  // compatible, not mapped
  // ... and only as IPv4: an IPv6 block, even ::/0 or ::ffff:0:0/96, does not hold it (as OpenSSH).
  EXPECT_FALSE(cidr_contains(cidr("::/0"), v6("::ffff:10.1.2.3")));
  EXPECT_FALSE(cidr_contains(cidr("::ffff:0:0/96"), v6("::ffff:10.1.2.3")));
  EXPECT_FALSE(cidr_contains(cidr("::/1"), v6("::ffff:127.0.0.1")));
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_FALSE(cidr_contains(cidr("0.0.0.0/0"), unix_peer));
}

TEST(SshServerCidr, BadInput) {
  for (std::string bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x",
                          "10.0.0/8", "10.0.0.256", "::/129", "fd00::/8/8", "host.example/8", " 10.0.0.0/8",
                          "10.0.0.0 /8", "10.0.0.0/ 8", "fe80::1%eth0/64"}) {
    auto c = parse_cidr(bad);
    EXPECT_FALSE(c.ok()) << "'" << bad << "'";
    if (!c) {
      EXPECT_NE(c.error().message.find('\''), std::string::npos);
    }
  }
  // A NUL ends nothing: what follows it is not dropped.
  EXPECT_FALSE(parse_cidr("10.0.0.1\0junk/8"s).ok());
}

TEST(SshServerAddress, ParseAddress) {
  socklen_t len = 0;
  auto a = parse_address("127.0.0.1:2222", &len);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ss_family, AF_INET);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(address_ip(*a), "127.0.0.1");
  EXPECT_EQ(address_port(*a), 2222);
  auto b = parse_address("[::1]:60022", &len);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ss_family, AF_INET6);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(address_ip(*b), "::1");
  EXPECT_EQ(address_port(*b), 60022);
  auto any6 = parse_address("[::]:1", &len);
  ASSERT_TRUE(any6.ok());
  EXPECT_EQ(address_ip(*any6), "::");
  EXPECT_EQ(address_port(*any6), 1);
  EXPECT_TRUE(parse_address("0.0.0.0:65535", &len).ok());
  EXPECT_EQ(address_ip(v6("::ffff:10.1.2.3")), "10.1.2.3");
  sockaddr_storage none{};
  EXPECT_EQ(address_port(none), 0);
  EXPECT_EQ(address_ip(none), "?");
  for (std::string bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:22x",
                          "localhost:22", "[::1:22", "[]:22", "1.2.3.4.5:22", ":22", "127.0.0.1:-22"}) {
    auto r = parse_address(bad, &len);
    EXPECT_FALSE(r.ok()) << "'" << bad << "'";
    if (!r) {
      EXPECT_NE(r.error().message.find("'" + bad + "'"), std::string::npos) << r.error().message;
    }
  }
  EXPECT_FALSE(parse_address("127.0.0.1\0junk:22"s, &len).ok());
}

namespace {

// OpenSSH 9.2 sshd.c, should_drop_connection(), with r for arc4random_uniform(100).
bool openssh_drops(int begin, int rate, int full, int startups, int r) {
  if (startups < begin) return false;
  if (startups >= full) return true;
  if (rate == 100) return true;
  int p = 100 - rate;
  p *= startups - begin;
  p /= full - begin;
  p += rate;
  return r < p;
}

Options startups(int begin, int rate, int full) {
  Options o;
  o.startups_begin = begin, o.startups_rate = rate, o.startups_full = full;
  return o;
}

}  // namespace

TEST(SshServerStartups, DropsAsOpenSsh) {
  Options o = startups(10, 30, 60);
  for (int r = 0; r < 100; ++r) {
    EXPECT_FALSE(drop_startup(o, 0, r));
    EXPECT_FALSE(drop_startup(o, 9, r));
    EXPECT_TRUE(drop_startup(o, 60, r));
    EXPECT_TRUE(drop_startup(o, 1000, r));
  }
  // At begin: `rate` percent; halfway: 65; just below full: 98.
  auto dropped = [&](int n) {
    int count = 0;
    for (int r = 0; r < 100; ++r) count += drop_startup(o, n, r);
    return count;
  };
  EXPECT_EQ(dropped(10), 30);
  EXPECT_EQ(dropped(35), 65);
  EXPECT_EQ(dropped(59), 98);
  for (int n = 11; n < 60; ++n) EXPECT_GE(dropped(n), dropped(n - 1));
  for (auto [b, rate, f] : {std::tuple{10, 30, 100}, {1, 0, 2}, {5, 100, 5}, {5, 100, 50}, {3, 0, 10000},
                            {7, 13, 19}}) {
    Options s = startups(b, rate, f);
    for (int n : {0, b - 1, b, b + 1, (b + f) / 2, f - 1, f, f + 1}) {
      for (int r = 0; r < 100; ++r) {
        ASSERT_EQ(drop_startup(s, n, r), openssh_drops(b, rate, f, n, r))
            << b << ":" << rate << ":" << f << " n=" << n << " r=" << r;
      }
    }
  }
}
