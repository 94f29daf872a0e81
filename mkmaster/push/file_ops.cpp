#include "mkmaster/push/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "protocol/checksum.h"
#include "protocol/messages.h"

namespace push {

using mkproto::Frame;
using mkproto::FrameType;

uint64_t pull_file(const AgentAddress& agent, const std::string& remote, const std::string& local) {
  AgentClient c(agent);
  c.send(mkproto::encode(mkproto::GetFile{remote}));
  std::string part = local + ".part";
  // 0600 until the agent tells the source's mode (at FILE_END): a copy of
  // a 0640 /etc/shadow must never be world-readable, not even briefly.
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", part, std::strerror(errno)));
  ::fchmod(fd, 0600);  // a leftover LOCAL.part keeps its mode through O_CREAT
  mkproto::Hash128 h;
  uint64_t off = 0;
  uint32_t mode = 0;
  try {
    for (;;) {
      Frame f = c.recv();
      if (f.type == FrameType::kFileEnd) {
        auto end = mkproto::decode<mkproto::FileEnd>(f);
        if (end.size != off || end.digest != h.digest())
          throw std::runtime_error(fmt::format("pull {}: received {} bytes that do not match the agent's size {} / digest",
                                               remote, off, end.size));
        mode = end.mode;
        break;
      }
      mkproto::expect_type(f, FrameType::kFileData);
      if (f.offset != off)
        throw std::runtime_error(fmt::format("pull {}: data at {} where {} was expected", remote, f.offset, off));
      h.update(f.payload.data(), f.payload.size());
      for (size_t done = 0; done < f.payload.size();) {
        ssize_t n = ::write(fd, f.payload.data() + done, f.payload.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(fmt::format("write {}: {}", part, std::strerror(errno)));
        done += static_cast<size_t>(n);
      }
      off += f.payload.size();
    }
    // The source's permission bits (an old agent tells none: 0600).
    if (::fchmod(fd, mode ? static_cast<mode_t>(mode & 0777) : 0600) != 0)
      throw std::runtime_error(fmt::format("chmod {}: {}", part, std::strerror(errno)));
    if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("fsync {}: {}", part, std::strerror(errno)));
    ::close(fd);
    fd = -1;
    if (::rename(part.c_str(), local.c_str()) != 0)
      throw std::runtime_error(fmt::format("rename {} to {}: {}", part, local, std::strerror(errno)));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(part.c_str());
    throw;
  }
  c.bye();
  return off;
}

uint64_t put_file(const AgentAddress& agent, const std::string& local, const std::string& remote) {
  int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", local, std::strerror(errno)));
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw std::runtime_error(fmt::format("{}: not a regular file", local));
  AgentClient c(agent);
  c.send(mkproto::encode(
      mkproto::PutFile{remote, static_cast<uint64_t>(st.st_size), static_cast<uint32_t>(st.st_mode & 07777)}));
  std::vector<uint8_t> buf(1u << 20);
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(fmt::format("read {}: {}", local, std::strerror(errno)));
    if (n == 0) break;
    if (off + static_cast<uint64_t>(n) > static_cast<uint64_t>(st.st_size))
      throw std::runtime_error(fmt::format("{} grew while being sent", local));
    h.update(buf.data(), static_cast<size_t>(n));
    c.send_file_data(off, {buf.data(), static_cast<size_t>(n)});
    off += static_cast<uint64_t>(n);
    c.poll({});  // an early ERROR (e.g. cannot create REMOTE) stops us
  }
  c.send(mkproto::encode(mkproto::FileEnd{off, h.digest()}));
  Frame done = c.recv();
  mkproto::expect_type(done, FrameType::kFileDone);
  c.bye();
  return off;
}

ExecResult exec_command(const AgentAddress& agent, const std::vector<std::string>& argv, uint32_t timeout_s,
                        const std::function<void(bool, std::span<const uint8_t>)>& on_output) {
  if (argv.empty()) throw std::runtime_error("exec: no command given");
  // A quiet command may run long: wait as long as the agent lets it run
  // (keepalive still notices a dead node).
  AgentAddress a = agent;
  a.io_timeout = timeout_s ? std::chrono::milliseconds((timeout_s + 30) * 1000ull) : std::chrono::milliseconds(0);
  AgentClient c(a);
  c.send(mkproto::encode(mkproto::ExecMsg{argv, timeout_s}));
  for (;;) {
    Frame f = c.recv();
    if (f.type == FrameType::kOutput) {
      if (on_output) on_output((f.flags & mkproto::kFlagStderr) != 0, f.payload);
      continue;
    }
    auto ex = mkproto::decode<mkproto::ExitMsg>(f);
    c.bye();
    return {ex.status, ex.signaled, ex.timed_out};
  }
}

}  // namespace push
