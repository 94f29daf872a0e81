#include "mkmaster/lab/board_profile.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "base/read_file.h"
#include "base/strings.h"
#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/ini_file.h"

namespace lab {

namespace fs = std::filesystem;

namespace {

// Every value ends up in a QEMU command line, a pxelinux menu, a kernel
// command line or a path: each field gets the narrowest character set that
// its real values need.
const std::regex kName(R"([A-Za-z0-9][A-Za-z0-9_.-]*)");
const std::regex kDtb(R"([A-Za-z0-9][A-Za-z0-9_.,-]*\.dtb)");
const std::regex kConsole(R"([A-Za-z0-9]+(,[0-9]+[noe0-9]*)?)");
const std::regex kArgs(R"([A-Za-z0-9_.,=:/+-]+( [A-Za-z0-9_.,=:/+-]+)*)");
const std::regex kDir(R"([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)");

struct Field {
  std::string BoardProfile::*member;
  const std::regex* syntax;
  const char* expect;
  bool required;
};

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> f = {
      {"description", {&BoardProfile::description, nullptr, "", false}},
      {"qemu_machine", {&BoardProfile::qemu_machine, &kName, "a QEMU machine name like 'highbank'", true}},
      {"kernel_flavour", {&BoardProfile::kernel_flavour, &kName, "a Debian kernel flavour like 'armmp'", true}},
      {"dtb", {&BoardProfile::dtb, &kDtb, "a .dtb file name like 'highbank.dtb'", true}},
      {"console", {&BoardProfile::console, &kConsole, "a console device like 'ttyAMA0' or 'ttyS0,115200n8'", true}},
      {"kernel_args", {&BoardProfile::kernel_args, &kArgs, "space-separated kernel arguments", false}},
      {"tftp_dir", {&BoardProfile::tftp_dir, &kDir, "a relative directory like 'files/highbank'", true}},
      {"menu", {&BoardProfile::menu, &kName, "a pxelinux.cfg file name like 'default-arm-highbank'", true}},
      {"lava_device_type", {&BoardProfile::lava_device_type, &kName, "a LAVA device type like 'highbank'", true}},
  };
  return f;
}

}  // namespace

std::string BoardProfile::where(const std::string& field) const {
  auto it = lines.find(field);
  return fmt::format("{}:{}: {}", path, it == lines.end() ? 0 : it->second, field);
}

BoardProfile parse_board_profile(const std::string& text, const std::string& path) {
  BoardProfile b;
  b.path = path;
  b.name = fs::path(path).stem().string();
  auto fail = [&](int line, const std::string& field, const std::string& msg) {
    throw ConfigError(fmt::format("{}:{}: {}: {}", path, line, field, msg));
  };
  if (!std::regex_match(b.name, kName)) fail(0, "name", fmt::format("'{}' is not a board name", b.name));
  const IniFile ini = parse_ini(text, path);
  const IniSection* board = nullptr;
  for (const auto& s : ini.sections) {
    if (s.name.empty()) {
      if (!s.entries.empty()) fail(s.entries.front().line, s.entries.front().key, "key outside [board]");
      continue;
    }
    if (s.name != "board") fail(s.line, "[" + s.name + "]", "unknown section (a profile has one [board])");
    board = &s;
  }
  if (!board) fail(1, "[board]", "missing");
  b.lines["[board]"] = board->line;
  for (const auto& e : board->entries) {
    b.lines[e.key] = e.line;
    if (e.key == "modules") {
      for (const auto& m : base::split_words(e.value, " \t\n")) {
        if (!std::regex_match(m, kName)) fail(e.line, "modules", fmt::format("'{}' is not a module name", m));
        b.modules.push_back(m);
      }
      continue;
    }
    auto f = fields().find(e.key);
    if (f == fields().end()) fail(e.line, e.key, "unknown field");
    if (f->second.syntax && !std::regex_match(e.value, *f->second.syntax))
      fail(e.line, e.key, fmt::format("'{}' is not {}", e.value, f->second.expect));
    if (e.value.find_first_of("\r\n\t") != std::string::npos) fail(e.line, e.key, "control characters are not allowed");
    b.*(f->second.member) = e.value;
  }
  for (const auto& [key, f] : fields())
    if (f.required && !b.lines.count(key)) fail(board->line, key, "required");
  if (b.modules.empty()) fail(board->line, "modules", "required (the node's SATA, disk and NIC drivers)");
  if (b.tftp_dir.find("..") != std::string::npos) fail(b.lines["tftp_dir"], "tftp_dir", "must not contain '..'");
  return b;
}

std::vector<std::string> board_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".ini") names.push_back(e.path().stem().string());
  if (ec) throw ConfigError(fmt::format("{}: cannot list board profiles: {}", dir, ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

BoardProfile load_board_profile(const std::string& dir, const std::string& name, const std::string& where) {
  const std::string path = (fs::path(dir) / (name + ".ini")).string();
  if (!std::regex_match(name, kName) || !fs::exists(path))
    throw ConfigError(fmt::format("{}: unknown board '{}' (no {}; known: {})", where, name, path,
                                  fmt::join(board_names(dir), ", ")));
  auto text = base::read_file(path);
  if (!text) throw ConfigError(fmt::format("{}: cannot read board profile", path));
  return parse_board_profile(*text, path);
}

}  // namespace lab
