#include "mkmaster/initrd/hook_parser.h"

#include <fmt/core.h>

#include <sstream>
#include <vector>

#include "base/read_file.h"
#include "base/strings.h"

namespace initrd {

namespace {

constexpr std::string_view kStamp = "/tmp/lava-master-image-info";

// Words, with one level of '…' or "…" quoting removed. Shell expansions
// ($VAR, $(…), globs) cannot be honoured without running the hook: the
// caller rejects words that still contain them.
std::vector<std::string> words(std::string_view line, bool& unterminated) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  unterminated = quote != 0;
  return out;
}

bool has_expansion(const std::string& w) { return w.find_first_of("$`*?[;|&<>(){}") != std::string::npos; }

}  // namespace

Manifest parse_hook(std::string_view text, const std::string& filename) {
  Manifest m;
  Where where{filename, 0};
  std::istringstream in{std::string(text)};
  std::string raw;
  auto fail = [&](std::string_view field, const std::string& problem) {
    throw ManifestError(fmt::format("{}: {}: {}", where.str(), field, problem));
  };
  while (std::getline(in, raw)) {
    ++where.line;
    std::string line = base::trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line == "set -e" || line == "exit 0" || line == "exit") continue;

    // The LAVA Highbank setup's version-stamp idiom: mkmaster generates /sbin/lava-master-image-info.
    if (line.find(kStamp) != std::string::npos &&
        (line.rfind("echo ", 0) == 0 || line.rfind("chmod ", 0) == 0 || line.rfind("copy_exec ", 0) == 0)) {
      m.notes.push_back(fmt::format("{}: lava-master-image-info: mkmaster generates this stamp itself "
                                    "(/sbin/lava-master-image-info); line not run",
                                    where.str()));
      continue;
    }

    bool unterminated = false;
    auto w = words(line, unterminated);
    if (unterminated) fail(w.empty() ? line : w[0], "unterminated quote");
    const std::string& cmd = w[0];
    std::vector<std::string> args(w.begin() + 1, w.end());
    for (const auto& a : args)
      if (has_expansion(a))
        fail(cmd, fmt::format("'{}' needs the shell (variables, globs, redirections); mkmaster reads hooks, "
                              "it does not run them — write it as a literal path or use a manifest",
                              a));
    auto item = [&](Item::Kind k, std::string path, std::string dest = {}) {
      if (k != Item::Kind::Module && (path.empty() || path[0] != '/'))
        fail(cmd, fmt::format("'{}' is not an absolute path", path));
      if (!dest.empty() && dest[0] != '/') fail(cmd, fmt::format("destination '{}' is not an absolute path", dest));
      Item it;
      it.kind = k;
      it.path = std::move(path);
      it.dest = std::move(dest);
      it.from_hook = true;
      it.where = where;
      m.items.push_back(std::move(it));
    };

    if (cmd == "." || cmd == "source") {
      if (args.size() == 1 && args[0] == "/usr/share/initramfs-tools/hook-functions") continue;
      fail(cmd, fmt::format("only /usr/share/initramfs-tools/hook-functions can be sourced, not '{}'",
                            args.empty() ? "" : args[0]));
    } else if (cmd == "copy_exec") {
      if (args.empty() || args.size() > 2) fail(cmd, "expected 'copy_exec SRC [DEST]'");
      item(Item::Kind::Exec, args[0], args.size() == 2 ? args[1] : "");
    } else if (cmd == "copy_file") {
      if (args.size() < 2 || args.size() > 3) fail(cmd, "expected 'copy_file TYPE SRC [DEST]'");
      item(Item::Kind::File, args[1], args.size() == 3 ? args[2] : "");
    } else if (cmd == "manual_add_modules") {
      if (args.empty()) fail(cmd, "expected 'manual_add_modules MODULE...'");
      for (const auto& a : args) item(Item::Kind::Module, a);
    } else {
      fail(cmd, fmt::format("unsupported shell line '{}': mkmaster reads hooks, it does not run them "
                            "(supported: copy_exec, copy_file, manual_add_modules, "
                            ". /usr/share/initramfs-tools/hook-functions)",
                            line));
    }
  }
  return m;
}

Manifest load_hook(const std::string& path) {
  const auto text = base::read_file(path);
  if (!text) throw ManifestError(fmt::format("{}: cannot read hook", path));
  return parse_hook(*text, path);
}

}  // namespace initrd
