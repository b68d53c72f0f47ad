// The sealing primitives (privacy/keys.h): what one key sealed for one
// place opens there only, and not after any byte changed.
#include "privacy/keys.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <set>
#include <sys/wait.h>
#include <thread>

namespace stagewise::privacy {
namespace {

TEST(PrivacyKeys, OpensUnderTheSameKeyAndContextOnly) {
  const std::string key = new_key(), other = new_key();
  ASSERT_EQ(key.size(), kKeyBytes);
  EXPECT_NE(key, other);
  std::string sealed;
  seal(sealed, key, "app/a1", "Ada Lovelace");
  EXPECT_EQ(sealed.size(), std::string("Ada Lovelace").size() + kOverhead);
  EXPECT_EQ(sealed.find("Ada Lovelace"), std::string::npos) << "the plaintext shows through";
  EXPECT_EQ(open(key, "app/a1", sealed), "Ada Lovelace");
  EXPECT_FALSE(open(other, "app/a1", sealed)) << "another key opened it";
  EXPECT_FALSE(open(key, "app/a2", sealed)) << "sealed for one place, opened in another";
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string changed = sealed;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_FALSE(open(key, "app/a1", changed)) << "byte " << i << " changed unnoticed";
  }
  EXPECT_FALSE(open(key, "app/a1", sealed.substr(0, kOverhead - 1)));
}

TEST(PrivacyKeys, EachSealHasItsOwnNonce) {
  const std::string key = new_key();
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    std::string sealed;
    seal(sealed, key, "c", "same text");
    EXPECT_TRUE(seen.insert(sealed).second) << "two seals of the same text are equal";
  }
  std::string empty;
  seal(empty, key, "c", "");
  EXPECT_EQ(open(key, "c", empty), "");
}

// The nonce a seal starts with.
std::string nonce_of_a_seal(const std::string& key) {
  std::string sealed;
  seal(sealed, key, "c", "text");
  return sealed.substr(0, kNonceBytes);
}

// Nonces are a random field per thread and a counter: threads draw their
// own field, and so does a forked child (it starts with its parent's).
TEST(PrivacyKeys, ThreadsAndForkedChildrenNeverReuseANonce) {
  const std::string key = new_key();
  const std::string here = nonce_of_a_seal(key);
  std::string there;
  std::thread([&] { there = nonce_of_a_seal(key); }).join();
  EXPECT_NE(here.substr(0, 8), there.substr(0, 8)) << "two threads share a random field";

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string child = nonce_of_a_seal(key);
    _exit(write(fds[1], child.data(), child.size()) == static_cast<ssize_t>(child.size()) ? 0 : 1);
  }
  close(fds[1]);
  const std::string parent = nonce_of_a_seal(key);  // the same count as the child's
  std::string child(kNonceBytes, '\0');
  ASSERT_EQ(read(fds[0], child.data(), child.size()), static_cast<ssize_t>(child.size()));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_NE(child, parent) << "a forked child sealed with its parent's next nonce";
}

TEST(PrivacyKeys, AWrappedKeyIsBoundToItsApplication) {
  const std::string kek = kek_from_secret("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(kek.size(), kKeyBytes);
  EXPECT_EQ(kek, kek_from_secret("0123456789abcdef0123456789abcdef")) << "not derived alike";
  EXPECT_NE(kek, kek_from_secret("0123456789abcdef0123456789abcdeF"));
  const std::string key = new_key();
  const std::string wrapped = wrap(kek, "sri-1", key);
  EXPECT_EQ(wrapped.find(key), std::string::npos);
  EXPECT_EQ(unwrap(kek, "sri-1", wrapped), key);
  EXPECT_FALSE(unwrap(kek, "sri-2", wrapped)) << "one application's key opened another's";
  EXPECT_FALSE(unwrap(kek_from_secret("another secret"), "sri-1", wrapped));
}

TEST(PrivacyKeys, AKeyOfTheWrongSizeIsRefused) {
  std::string out;
  EXPECT_THROW(seal(out, "short", "c", "x"), std::invalid_argument);
  EXPECT_FALSE(open("short", "c", std::string(40, 'x')));
}

}  // namespace
}  // namespace stagewise::privacy
