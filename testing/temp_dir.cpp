#include "testing/temp_dir.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace mktest {

namespace fs = std::filesystem;

bool keep_temp_dirs() {
  const char* v = std::getenv("MKMASTER_KEEP_TMP");
  return v && *v && std::string_view(v) != "0";
}

TempDir::TempDir(std::string_view prefix) : owner_(::getpid()) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (::getpid() != owner_) return;
  if (keep_temp_dirs()) {
    std::cerr << "MKMASTER_KEEP_TMP: kept " << path_ << "\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::file(std::string_view name) const { return (fs::path(path_) / name).string(); }

const TempDir& scratch() {
  // Destroyed at exit, after every test of the process has run.
  static const TempDir dir("mktest-" + std::to_string(::getpid()));
  return dir;
}

fs::path scratch_dir(std::string_view name) {
  fs::path d = scratch() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace mktest
