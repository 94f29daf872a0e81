// GET_FILE, PUT_FILE and EXEC on the agent (replacing busybox httpd/wget on
// the node): docs/protocol.md, "Files and commands".
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "target-agent/connection.h"

extern char** environ;

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::ProtocolError;

namespace {
constexpr size_t kFileChunk = 1u << 20;

void check_path(const std::string& p) {
  if (p.find('\0') != std::string::npos) throw ProtocolError(ErrorCode::kBadRequest, "path contains a NUL byte");
}

// PATH lookup done here, not left to posix_spawnp: under qemu-user (and with
// some vfork emulations) a failed exec shows up only as exit status 127, and
// the host deserves a clear "not found".
std::string find_program(const std::string& name) {
  if (name.empty()) throw ProtocolError(ErrorCode::kExec, "empty program name");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0)
      throw ProtocolError(ErrorCode::kExec, fmt::format("cannot run {}: {}", name, std::strerror(errno)));
    return name;
  }
  const char* path = ::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  for (;;) {
    size_t end = dirs.find(':', start);
    std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string cand = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0) return cand;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw ProtocolError(ErrorCode::kExec, fmt::format("cannot run {}: not found in PATH", name));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

void Connection::on_get_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::GetFile>(f);
  check_path(req.path);
  Fd in{::open(req.path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0)
    throw ProtocolError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                        fmt::format("{}: {}", req.path, std::strerror(errno)));
  struct stat st;
  if (::fstat(in.fd, &st) == 0 && S_ISDIR(st.st_mode))
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("{} is a directory", req.path));
  std::vector<uint8_t> buf(kFileChunk);
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("read {}: {}", req.path, std::strerror(errno)));
    if (n == 0) break;
    std::span<const uint8_t> chunk(buf.data(), static_cast<size_t>(n));
    h.update(chunk.data(), chunk.size());
    ch_.send_raw(FrameType::kFileData, 0, off, chunk);
    off += static_cast<uint64_t>(n);
  }
  ch_.send(mkproto::encode(mkproto::FileEnd{off, h.digest()}));
}

void Connection::on_put_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::PutFile>(f);
  check_path(req.path);
  std::string part = req.path + ".mkmaster-part";
  Fd out{::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(req.mode))};
  if (out.fd < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("create {}: {}", part, std::strerror(errno)));
  struct Cleanup {
    std::string path;
    bool keep = false;
    ~Cleanup() {
      if (!keep) ::unlink(path.c_str());
    }
  } cleanup{part};
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
      ssize_t n = ::write(out.fd, d.payload.data() + done, d.payload.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ProtocolError(ErrorCode::kIo, fmt::format("write {}: {}", part, std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
    off += d.payload.size();
  }
  if (::fchmod(out.fd, static_cast<mode_t>(req.mode)) != 0 || ::fsync(out.fd) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("sync {}: {}", part, std::strerror(errno)));
  if (::rename(part.c_str(), req.path.c_str()) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("rename {} to {}: {}", part, req.path, std::strerror(errno)));
  cleanup.keep = true;
  ch_.send(mkproto::encode(mkproto::FileDone{}));
}

void Connection::on_exec(const Frame& f) {
  auto req = mkproto::decode<mkproto::ExecMsg>(f);
  const std::string program = find_program(req.argv[0]);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw ProtocolError(ErrorCode::kExec, fmt::format("pipe: {}", std::strerror(errno)));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw ProtocolError(ErrorCode::kExec, fmt::format("pipe: {}", std::strerror(errno)));
  }
  Fd o{out[0]}, e{err[0]};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> argv;
  for (auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) throw ProtocolError(ErrorCode::kExec, fmt::format("cannot run {}: {}", req.argv[0], std::strerror(rc)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(req.timeout_s);
  bool timed_out = false;
  std::vector<uint8_t> buf(64 << 10);
  int open_fds = 2;
  pollfd p[2] = {{o.fd, POLLIN, 0}, {e.fd, POLLIN, 0}};
  while (open_fds > 0) {
    int wait_ms = -1;
    if (req.timeout_s > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    int r = ::poll(p, 2, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf.data(), buf.size());
      if (n > 0) {
        ch_.send_raw(FrameType::kOutput, i == 1 ? mkproto::kFlagStderr : 0, 0, {buf.data(), static_cast<size_t>(n)});
      } else if (n == 0 || errno != EINTR) {
        p[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  mkproto::ExitMsg ex;
  ex.timed_out = timed_out;
  if (WIFSIGNALED(status)) {
    ex.signaled = true;
    ex.status = WTERMSIG(status);
  } else {
    ex.status = WEXITSTATUS(status);
  }
  ch_.send(mkproto::encode(ex));
}

}  // namespace agent
