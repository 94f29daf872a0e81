#include "mkmaster/initrd/manifest.h"

#include <fmt/core.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"

namespace initrd {

std::string_view kind_name(Item::Kind k) {
  switch (k) {
    case Item::Kind::Exec: return "exec";
    case Item::Kind::File: return "file";
    case Item::Kind::Busybox: return "busybox";
    case Item::Kind::Module: return "module";
    case Item::Kind::Dir: return "dir";
    case Item::Kind::Symlink: return "symlink";
    case Item::Kind::Local: return "local";
    case Item::Kind::Kernel: return "kernel";
    case Item::Kind::Dtb: return "dtb";
  }
  return "?";
}

namespace {

struct LineParser {
  Where where;
  std::string dir;  // the manifest's directory, for relative host paths

  [[noreturn]] void fail(std::string_view field, const std::string& problem) const {
    throw ManifestError(fmt::format("{}: {}: {}", where.str(), field, problem));
  }

  void check_abs(std::string_view field, const std::string& p) const {
    if (p.empty() || p[0] != '/') fail(field, fmt::format("'{}' is not an absolute path", p));
    for (std::string_view part : {"/../", "/./"})
      if ((p + "/").find(part) != std::string::npos) fail(field, fmt::format("'{}' contains '{}'", p, part.substr(1, part.size() - 2)));
  }

  void check_module(const std::string& m) const {
    if (m.empty()) fail("module", "empty module name");
    for (char c : m)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        fail("module", fmt::format("'{}' is not a module name (letters, digits, '_' and '-')", m));
  }

  std::string host_path(const std::string& p) const {
    if (p.empty()) fail("path", "empty");
    std::filesystem::path hp(p);
    return hp.is_absolute() ? p : (std::filesystem::path(dir) / hp).lexically_normal().string();
  }

  std::string expand_env(const std::string& s) const {
    std::string out;
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, 2, "${") != 0) {
        out += s[i++];
        continue;
      }
      size_t close = s.find('}', i);
      if (close == std::string::npos) fail("source", fmt::format("unterminated '${{' in '{}'", s));
      std::string expr = s.substr(i + 2, close - i - 2);
      std::string name = expr, fallback;
      bool has_default = false;
      if (auto d = expr.find(":-"); d != std::string::npos) {
        name = expr.substr(0, d);
        fallback = expr.substr(d + 2);
        has_default = true;
      }
      const char* v = std::getenv(name.c_str());
      if (v && *v) out += v;
      else if (has_default) out += fallback;
      else fail("source", fmt::format("environment variable {} is not set (use ${{{}:-default}})", name, name));
      i = close + 1;
    }
    return out;
  }
};

constexpr std::string_view kDirectives =
    "exec, file, busybox, module, dir, symlink, local, kernel, dtb, source";

}  // namespace

Manifest parse_manifest(std::string_view text, const std::string& filename) {
  Manifest m;
  LineParser p;
  p.where.file = filename;
  p.dir = std::filesystem::path(filename).parent_path().string();
  if (p.dir.empty()) p.dir = ".";
  bool have_kernel = false, have_dtb = false;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    ++p.where.line;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    auto w = base::split_words(line);
    if (w.empty()) continue;
    std::string word = w[0];
    bool optional = false;
    if (word.size() > 1 && word.back() == '?') {
      optional = true;
      word.pop_back();
    }
    std::vector<std::string> args(w.begin() + 1, w.end());
    auto nargs = [&](size_t lo, size_t hi, std::string_view usage) {
      if (args.size() < lo || args.size() > hi)
        p.fail(word, fmt::format("expected '{} {}', got {} argument{}", word, usage, args.size(),
                                 args.size() == 1 ? "" : "s"));
    };
    auto item = [&](Item::Kind k, std::string path, std::string dest = {}) {
      Item it;
      it.kind = k;
      it.path = std::move(path);
      it.dest = std::move(dest);
      it.optional = optional;
      it.where = p.where;
      m.items.push_back(std::move(it));
    };
    auto no_optional = [&] {
      if (optional) p.fail(w[0], fmt::format("'{}' cannot be optional", word));
    };

    if (word == "exec" || word == "file") {
      nargs(1, 2, "PATH [DEST]");
      p.check_abs("path", args[0]);
      if (args.size() == 2) p.check_abs("dest", args[1]);
      item(word == "exec" ? Item::Kind::Exec : Item::Kind::File, args[0], args.size() == 2 ? args[1] : "");
    } else if (word == "busybox") {
      no_optional();
      nargs(1, 1, "PATH");
      p.check_abs("path", args[0]);
      item(Item::Kind::Busybox, args[0]);
    } else if (word == "module") {
      nargs(1, 1000, "NAME...");
      for (const auto& a : args) {
        p.check_module(a);
        item(Item::Kind::Module, a);
      }
    } else if (word == "dir") {
      no_optional();
      nargs(1, 1000, "PATH...");
      for (const auto& a : args) {
        p.check_abs("path", a);
        item(Item::Kind::Dir, a);
      }
    } else if (word == "symlink") {
      no_optional();
      if (args.size() != 3 || args[1] != "->") p.fail(word, "expected 'symlink LINK -> TARGET'");
      p.check_abs("link", args[0]);
      item(Item::Kind::Symlink, args[0], args[2]);
    } else if (word == "local") {
      no_optional();
      nargs(2, 2, "HOSTFILE DEST");
      p.check_abs("dest", args[1]);
      item(Item::Kind::Local, p.host_path(args[0]), args[1]);
    } else if (word == "kernel") {
      no_optional();
      nargs(1, 1, "VERSION|auto");
      if (have_kernel) p.fail(word, "only one kernel line is allowed");
      have_kernel = true;
      item(Item::Kind::Kernel, args[0]);
    } else if (word == "dtb") {
      no_optional();
      nargs(1, 1, "NAME|/PATH");
      if (have_dtb) p.fail(word, "only one dtb line is allowed");
      if (args[0].find('/') != std::string::npos) p.check_abs("dtb", args[0]);
      have_dtb = true;
      item(Item::Kind::Dtb, args[0]);
    } else if (word == "source") {
      no_optional();
      if (args.empty()) p.fail(word, "expected 'source sysroot DIR' or 'source debs DIR|FILE...'");
      if (args[0] == "sysroot") {
        if (args.size() != 2) p.fail("source sysroot", "expected exactly one DIR");
        if (m.sysroot) p.fail("source sysroot", "only one sysroot is allowed");
        m.sysroot = p.host_path(p.expand_env(args[1]));
      } else if (args[0] == "debs") {
        if (args.size() < 2) p.fail("source debs", "expected DIR|FILE...");
        for (size_t i = 1; i < args.size(); ++i) m.debs.push_back(p.host_path(p.expand_env(args[i])));
      } else {
        p.fail("source", fmt::format("unknown source kind '{}' (expected sysroot or debs)", args[0]));
      }
    } else {
      p.fail(w[0], fmt::format("unknown directive (expected one of: {})", kDirectives));
    }
  }
  return m;
}

Manifest load_manifest(const std::string& path) {
  const auto text = base::read_file(path);
  if (!text) throw ManifestError(fmt::format("{}: cannot read manifest", path));
  return parse_manifest(*text, path);
}

void merge(Manifest& a, Manifest b) {
  for (auto& it : b.items) a.items.push_back(std::move(it));
  if (!a.sysroot) a.sysroot = std::move(b.sysroot);
  for (auto& d : b.debs) a.debs.push_back(std::move(d));
  for (auto& n : b.notes) a.notes.push_back(std::move(n));
}

}  // namespace initrd
