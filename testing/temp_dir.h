#pragma once
// Scratch directories for tests. Each is created under the system temp dir
// (TMPDIR) and removed with all its contents when the test that made it
// ends, passed or failed, so a test run leaves nothing behind. Set
// MKMASTER_KEEP_TMP=1 to keep them for a post-mortem: each kept directory is
// then named on stderr.
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace mktest {

class TempDir {
 public:
  // `prefix` names the directory (prefix-XXXXXX) so a kept one is easy to find.
  explicit TempDir(std::string_view prefix = "mktest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name, as a string for the APIs and command lines under test.
  std::string file(std::string_view name) const;
  std::filesystem::path operator/(std::string_view name) const { return std::filesystem::path(path_) / name; }

 private:
  std::string path_;
  pid_t owner_;  // a forked child that exits normally must not delete its parent's directory
};

bool keep_temp_dirs();  // MKMASTER_KEEP_TMP is set and not "0"

// One scratch directory for the whole test process, removed when it exits:
// for helpers that hand out paths rather than own a TempDir.
const TempDir& scratch();
// A fresh, empty scratch()/name.
std::filesystem::path scratch_dir(std::string_view name);

}  // namespace mktest
