#include "mkmaster/initrd/tftp_tree.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace initrd {

std::string initrd_name(const TftpLayout& l, Compression c) {
  switch (c) {
    case Compression::Gzip: return l.dir + "/initrd.gz";
    case Compression::Zstd: return l.dir + "/initrd.zst";
    case Compression::Xz: return l.dir + "/initrd.xz";
    case Compression::None: return l.dir + "/initrd";
  }
  return l.dir + "/initrd";
}

std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                            const std::string& template_name) {
  std::string out;
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\n') ++line;
    if (text[i] != '@') {
      out += text[i++];
      continue;
    }
    size_t close = text.find('@', i + 1);
    std::string name = close == std::string::npos ? "" : text.substr(i + 1, close - i - 1);
    bool ident = !name.empty() && name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string::npos;
    if (!ident) {
      out += text[i++];
      continue;
    }
    auto it = vars.find(name);
    if (it == vars.end()) throw TftpError(fmt::format("{}:{}: unknown template variable @{}@", template_name, line, name));
    out += it->second;
    i = close + 1;
  }
  return out;
}

std::vector<TftpFile> tftp_files(const std::string& pxelinux_template, const std::string& template_name,
                                 const TftpLayout& l, Compression c, std::string initrd, std::string vmlinuz,
                                 std::string dtb) {
  const std::map<std::string, std::string> vars = {{"INITRD", initrd_name(l, c)},
                                                   {"KERNEL", l.dir + "/vmlinuz"},
                                                   {"FDT", l.dir + "/" + l.dtb},
                                                   {"APPEND", l.append}};
  std::vector<TftpFile> files;
  files.push_back({"master/pxelinux.cfg/" + l.menu, render_template(pxelinux_template, vars, template_name)});
  files.push_back({"master/" + initrd_name(l, c), std::move(initrd)});
  files.push_back({"master/" + l.dir + "/vmlinuz", std::move(vmlinuz)});
  files.push_back({"master/" + l.dir + "/" + l.dtb, std::move(dtb)});
  return files;
}

namespace {

std::string os_error(const std::string& what, const std::string& path) {
  return fmt::format("{} {}: {}", what, path, std::strerror(errno));
}

void write_all(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw TftpError(os_error("cannot create", path));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string msg = os_error("cannot write", path);
      ::close(fd);
      throw TftpError(msg);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw TftpError(os_error("cannot write", path));
}

}  // namespace

void write_tree(const std::string& out_dir, const std::vector<TftpFile>& files) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, std::string>> done;  // temp, final
  auto cleanup = [&] {
    for (const auto& [tmp, _] : done) ::unlink(tmp.c_str());
  };
  try {
    for (const auto& f : files) {
      fs::path final_path = fs::path(out_dir) / f.rel_path;
      std::error_code ec;
      fs::create_directories(final_path.parent_path(), ec);
      if (ec)
        throw TftpError(fmt::format("cannot create directory {}: {}", final_path.parent_path().string(), ec.message()));
      std::string tmp = final_path.string() + fmt::format(".tmp-{}", ::getpid());
      ::unlink(tmp.c_str());
      done.emplace_back(tmp, final_path.string());
      write_all(tmp, f.data);
    }
  } catch (...) {
    cleanup();
    throw;
  }
  for (const auto& [tmp, final_path] : done) {
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      std::string msg = os_error("cannot rename into place", final_path);
      cleanup();
      throw TftpError(msg);
    }
  }
}

}  // namespace initrd
