// GET_FILE, PUT_FILE and EXEC on the agent (replacing busybox httpd/wget on
// the node): docs/protocol.md, "Files and commands".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/spawn.h"
#include "base/unique_fd.h"
#include "target-agent/connection.h"
#include "target-agent/durable_rename.h"
#include "target-agent/exec_runner.h"
#include "target-agent/files_root.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::ProtocolError;

namespace {
constexpr size_t kFileChunk = 1u << 20;

// Least privilege: the push pipeline starts the agent without these.
FilesRoot files_root(const AgentConfig& cfg, const char* request) {
  if (cfg.files_root.empty())
    throw ProtocolError(ErrorCode::kNotOffered,
                        fmt::format("{} is not offered: this agent was started without --files-root", request));
  try {
    return FilesRoot(cfg.files_root);
  } catch (const std::exception& e) {
    throw ProtocolError(ErrorCode::kIo, e.what());
  }
}

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

void Connection::on_get_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::GetFile>(f);
  const FilesRoot root = files_root(cfg_, "GET_FILE");
  const std::string rel = root.relative(req.path);
  // O_NONBLOCK: opening a FIFO must not wait for a writer (and hold this
  // connection); fstat then refuses anything but a regular file.
  base::UniqueFd in = root.open(req.path, rel, O_RDONLY | O_NONBLOCK);
  struct stat st;
  if (::fstat(in.get(), &st) != 0) throw ProtocolError(ErrorCode::kIo, fmt::format("stat {}: {}", req.path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    throw ProtocolError(ErrorCode::kNotAllowed,
                        fmt::format("{} is {}: GET_FILE reads regular files only", req.path, kind_of(st.st_mode)));
  std::vector<uint8_t> buf(kFileChunk);
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("read {}: {}", req.path, std::strerror(errno)));
    if (n == 0) break;
    std::span<const uint8_t> chunk(buf.data(), static_cast<size_t>(n));
    h.update(chunk.data(), chunk.size());
    ch_.send_raw(FrameType::kFileData, 0, off, chunk);
    off += static_cast<uint64_t>(n);
  }
  // The mode travels so pull can keep it (never the setuid/setgid bits).
  ch_.send(mkproto::encode(mkproto::FileEnd{off, h.digest(), static_cast<uint32_t>(st.st_mode & 01777)}));
}

void Connection::on_put_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::PutFile>(f);
  const FilesRoot root = files_root(cfg_, "PUT_FILE");
  const std::string rel = root.relative(req.path);
  if ((req.mode & 06000) && !cfg_.allow_setid)
    throw ProtocolError(ErrorCode::kNotAllowed,
                        fmt::format("{}: mode {:04o} has the setuid/setgid bit; the agent keeps them only with "
                                    "--allow-setid",
                                    req.path, req.mode));
  if (req.size > cfg_.max_file_size)
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("{}: {} bytes is more than this agent takes (--max-file-size {})",
                                                            req.path, req.size, cfg_.max_file_size));
  const auto [parent_rel, leaf] = split_parent(rel);
  base::UniqueFd dir = root.open(req.path, parent_rel, O_RDONLY | O_DIRECTORY);
  struct stat st;
  if (::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode))
      throw ProtocolError(ErrorCode::kPathRefused,
                          fmt::format("{} is a symbolic link: PUT_FILE replaces regular files only, never through a link",
                                      req.path));
    if (!S_ISREG(st.st_mode))
      throw ProtocolError(ErrorCode::kNotAllowed,
                          fmt::format("{} is {}: PUT_FILE replaces regular files only", req.path, kind_of(st.st_mode)));
  }
  const std::string part = leaf + ".mkmaster-part";
  if (::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISREG(st.st_mode))
      throw ProtocolError(ErrorCode::kPathRefused,
                          fmt::format("{}.mkmaster-part (the temporary name) is {}: refused, nothing written",
                                      req.path, kind_of(st.st_mode)));
    ::unlinkat(dir.get(), part.c_str(), 0);  // a leftover of an interrupted PUT: the link itself goes
  }
  // O_EXCL | O_NOFOLLOW: a link planted after the check is not followed
  // either (the create fails). 0600 until the data is complete.
  base::UniqueFd out(::openat(dir.get(), part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out)
    throw ProtocolError(errno == EEXIST ? ErrorCode::kPathRefused : ErrorCode::kIo,
                        fmt::format("create {}.mkmaster-part: {}", req.path, std::strerror(errno)));
  struct Cleanup {
    int dir;
    std::string name;
    bool keep = false;
    ~Cleanup() {
      if (!keep) ::unlinkat(dir, name.c_str(), 0);
    }
  } cleanup{dir.get(), part};
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    Frame d = ch_.recv();
    if (d.type == FrameType::kFileEnd) {
      auto end = mkproto::decode<mkproto::FileEnd>(d);
      if (end.size != off || off != req.size)
        throw ProtocolError(ErrorCode::kIncomplete,
                            fmt::format("{}: announced {} bytes, received {}, FILE_END says {}", req.path, req.size, off,
                                        end.size));
      if (end.digest != h.digest())
        throw ProtocolError(ErrorCode::kBadChecksum, fmt::format("{}: digest of the received bytes does not match", req.path));
      break;
    }
    mkproto::expect_type(d, FrameType::kFileData);
    if (d.offset != off)
      throw ProtocolError(ErrorCode::kOutOfOrder, fmt::format("FILE_DATA at {} where {} was expected", d.offset, off));
    if (d.payload.size() > kFileChunk || off + d.payload.size() > req.size)
      throw ProtocolError(ErrorCode::kOutOfRange,
                          fmt::format("FILE_DATA [{}, {}) past the announced size {}", off, off + d.payload.size(), req.size));
    h.update(d.payload.data(), d.payload.size());
    for (size_t done = 0; done < d.payload.size();) {
      ssize_t n = ::write(out.get(), d.payload.data() + done, d.payload.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ProtocolError(ErrorCode::kIo, fmt::format("write {}.mkmaster-part: {}", req.path, std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
    off += d.payload.size();
  }
  if (::fchmod(out.get(), static_cast<mode_t>(req.mode)) != 0 || ::fsync(out.get()) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("sync {}.mkmaster-part: {}", req.path, std::strerror(errno)));
  durable_renameat(dir.get(), part, leaf, req.path);
  cleanup.keep = true;
  ch_.send(mkproto::encode(mkproto::FileDone{}));
}

void Connection::on_exec(const Frame& f) {
  auto req = mkproto::decode<mkproto::ExecMsg>(f);
  if (!cfg_.allow_exec)
    throw ProtocolError(ErrorCode::kNotOffered, "EXEC is not offered: this agent was started without --allow-exec");
  base::Child child;
  try {
    base::SpawnOptions opt(req.argv);
    opt.process_group = true;  // so a timeout or a hang-up kills all it started
    child = base::spawn(opt);
  } catch (const std::exception& e) {
    throw ProtocolError(ErrorCode::kExec, e.what());
  }
  std::optional<std::chrono::steady_clock::time_point> deadline;  // none: no limit
  if (req.timeout_s > 0) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(req.timeout_s);
  const ExecOutcome r = run_exec(child, deadline, socket_ ? socket_->fd() : -1, [&](int stream, std::string_view bytes) {
    ch_.send_raw(FrameType::kOutput, stream == 2 ? mkproto::kFlagStderr : 0, 0,
                 {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  });
  if (r.peer_gone) throw mkproto::ConnectionClosed("the host hung up during EXEC (the command was killed)");
  mkproto::ExitMsg ex;
  ex.timed_out = r.timed_out;
  ex.signaled = r.status.signal != 0;
  ex.status = ex.signaled ? r.status.signal : r.status.code;
  ch_.send(mkproto::encode(ex));
}

}  // namespace agent
