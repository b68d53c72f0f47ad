// Issue 15: backups of a store and its key files, and restores from them:
// what is copied, where a backup may go, and every way a backup can be
// refused, each named.
#include "backup/backup.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace stagewise::backup {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::mode_of;

class Backup : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open(data(), {.sync = false});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    fs::create_directories(data() + "/auth");
    for (const char* name : {"token.secret", "internal.secret"}) {
      std::ofstream(data() + "/auth/" + name) << std::string(64, 'k');
      fs::permissions(data() + "/auth/" + name, fs::perms::owner_read | fs::perms::owner_write);
    }
    commit("a", "submitted", 1, 10);
  }
  void commit(const std::string& id, const std::string& stage, uint64_t seq, int64_t offset) {
    workflow::Application a;
    a.id = id;
    a.program = "p";
    a.workflow_version = 1;
    a.stage = stage;
    a.sequence = seq;
    store::Batch b = store_->batch();
    b.put_application(a, "");
    b.set_input_position({"stagewise.events", 0, offset});
    ASSERT_TRUE(store_->commit(b).ok());
  }
  std::string data() const { return dir_ / "data"; }
  // A backup of the store as it is now, in `to`.
  json backup_to(const std::string& to) {
    auto r = write(*store_, data(), to);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : json();
  }
  std::string an_sst(const std::string& backup) {
    for (const auto& e : fs::directory_iterator(backup + "/store"))
      if (e.path().extension() == ".sst") return e.path().string();
    return "";
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(Backup, HoldsTheStoreTheOffsetsAndTheKeysPrivately) {
  const std::string to = dir_ / "b";
  const json s = backup_to(to);
  EXPECT_EQ(s["keys"], json({"auth/internal.secret", "auth/token.secret"}));
  EXPECT_EQ(s["input_positions"],
            json::parse(R"([{"topic":"stagewise.events","partition":0,"next_offset":10}])"));
  EXPECT_EQ(s["store_id"], store_->id());
  EXPECT_EQ(mode_of(to), 0700u);
  EXPECT_EQ(mode_of(to + "/auth"), 0700u);
  EXPECT_EQ(mode_of(to + "/auth/token.secret"), 0600u);
  EXPECT_EQ(mode_of(to + "/manifest.json"), 0600u);
  EXPECT_TRUE(verify(to).ok());
}

TEST_F(Backup, RestoreGivesTheStoreAtTheBackupAndNothingCommittedAfter) {
  const std::string to = dir_ / "b";
  backup_to(to);
  commit("late", "submitted", 1, 11);
  const std::string d2 = dir_ / "restored";
  auto r = restore(to, d2, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(mode_of(d2), 0700u);
  EXPECT_EQ(mode_of(d2 + "/auth/internal.secret"), 0600u);
  EXPECT_FALSE(fs::exists(d2 + ".restoring-" + std::to_string(::getpid())));
  auto st = store::Store::open(d2, {.sync = false});
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ((*st)->application("a")->stage, "submitted");
  EXPECT_TRUE((*st)->application("late").error().is_not_found());
  EXPECT_EQ((*st)->input_positions()->at(0).next_offset, 10);
}

TEST_F(Backup, RefusesTargetsItMayNotWrite) {
  fs::create_directories(dir_ / "full");
  std::ofstream(dir_ / "full/x") << "x";
  for (const auto& [to, why] :
       std::vector<std::pair<std::string, std::string>>{{"relative", "relative"},
                                                        {dir_ / "a/../b", "\"..\""},
                                                        {data() + "/inside", "inside the data dir"},
                                                        {dir_.str(), "inside the data dir"},
                                                        {dir_ / "missing/b", "parent"},
                                                        {dir_ / "full", "not empty"}}) {
    auto r = write(*store_, data(), to);
    ASSERT_FALSE(r.ok()) << to;
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(fs::exists(data() + "/inside"));
  EXPECT_TRUE(fs::exists(dir_ / "full/x"));
}

TEST_F(Backup, AnEmptyPrivateDirIsAFineTargetAndAnOpenOneIsLeftAlone) {
  fs::create_directories(dir_ / "open");
  fs::permissions(dir_ / "open", fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
  auto r = write(*store_, data(), dir_ / "open");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("chmod 700"), std::string::npos) << r.error().message;
  EXPECT_EQ(mode_of(dir_ / "open"), 0755u) << "its mode is not ours to change";
  fs::create_directories(dir_ / "empty");
  fs::permissions(dir_ / "empty", fs::perms::owner_all);
  backup_to(dir_ / "empty");
  EXPECT_TRUE(verify(dir_ / "empty").ok());
}

TEST_F(Backup, RestoreRefusesADamagedBackupNamingTheFile) {
  const std::string to = dir_ / "b";
  backup_to(to);
  const std::string sst = an_sst(to);
  ASSERT_FALSE(sst.empty());
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x5a');
  }
  auto r = restore(to, dir_ / "d2", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("store/" + fs::path(sst).filename().string()), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("damaged"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "d2")) << "nothing restored";
}

TEST_F(Backup, RestoreRefusesAnIncompleteBackupNamingWhatIsMissing) {
  const std::string to = dir_ / "b";
  backup_to(to);
  fs::remove(to + "/auth/token.secret");
  auto r = restore(to, dir_ / "d2", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("auth/token.secret"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("incomplete"), std::string::npos) << r.error().message;
  fs::remove(to + "/manifest.json");
  r = restore(to, dir_ / "d2", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("manifest.json is missing"), std::string::npos)
      << r.error().message;
  std::ofstream(to + "/manifest.json") << R"({"format":"stagewise-backup","version":1,
    "keys":[],"input_positions":[],"files":[{"path":"store/../../etc/passwd","bytes":1,"sha256":"x"}]})";
  r = restore(to, dir_ / "d2", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("store/../../etc/passwd"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "d2"));
}

TEST_F(Backup, RestoreRefusesANonEmptyDataDirUnlessForced) {
  const std::string to = dir_ / "b";
  backup_to(to);
  const std::string d2 = dir_ / "d2";
  fs::create_directories(d2);
  std::ofstream(d2 + "/notes.txt") << "mine";
  auto r = restore(to, d2, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not empty"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("--force"), std::string::npos);
  r = restore(to, d2, true);
  ASSERT_FALSE(r.ok()) << "not a data dir: kept even with --force";
  EXPECT_NE(r.error().message.find("does not look like a stagewise data dir"), std::string::npos);
  EXPECT_TRUE(fs::exists(d2 + "/notes.txt"));
  // A data dir (a first restore) is replaced with --force.
  fs::remove_all(d2);
  ASSERT_TRUE(restore(to, d2, false).ok());
  EXPECT_FALSE(restore(to, d2, false).ok());
  EXPECT_TRUE(restore(to, d2, true).ok());
  EXPECT_FALSE(restore(to, to + "/inside", false).ok()) << "not into the backup itself";
}

}  // namespace
}  // namespace stagewise::backup
