#include "mkmaster/source/file_stream.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mkmaster/source/image_reader.h"

namespace source {

size_t read_full(ByteStream& s, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t r = s.read(buf + got, n - got);
    if (r == 0) break;
    got += r;
  }
  return got;
}

namespace {

class FileStream final : public ByteStream {
 public:
  explicit FileStream(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw SourceError(path_ + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      int e = errno;
      ::close(fd_);
      throw SourceError(path_ + ": cannot stat: " + std::strerror(e));
    }
    if (S_ISREG(st.st_mode)) {
      size_ = static_cast<uint64_t>(st.st_size);
    } else if (S_ISBLK(st.st_mode)) {
      uint64_t bytes = 0;
      if (::ioctl(fd_, BLKGETSIZE64, &bytes) == 0) size_ = bytes;
    } else if (S_ISDIR(st.st_mode)) {
      ::close(fd_);
      throw SourceError(path_ + ": is a directory, not an image");
    }
    // The image is read once front to back: let the kernel read ahead.
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~FileStream() override { ::close(fd_); }

  size_t read(uint8_t* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(pos_));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw SourceError(path_ + ": read error at offset " + std::to_string(pos_) + ": " +
                          std::strerror(errno));
      }
      pos_ += static_cast<uint64_t>(r);
      return static_cast<size_t>(r);
    }
  }
  std::optional<uint64_t> size() const override { return size_; }
  void seek(uint64_t offset) override { pos_ = offset; }
  uint64_t position() const override { return pos_; }
  std::string describe() const override { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t pos_ = 0;
  std::optional<uint64_t> size_;
};

}  // namespace

std::unique_ptr<ByteStream> open_file_stream(const std::string& path) {
  return std::make_unique<FileStream>(path);
}

}  // namespace source
