// mkmaster index IMAGE [-o FILE]: writes the image index that lets
// `push URL --delta` fetch only the changed blocks (docs/index.md). Served
// beside the image as IMAGE.mkidx, it is found without a flag.
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mkmaster/cli/commands.h"
#include "mkmaster/source/compression.h"
#include "mkmaster/source/http_stream.h"
#include "mkmaster/source/image_index.h"

namespace {

struct Args {
  std::string image, output;
  uint32_t block = 4096;
};

// Beside the final file, then renamed: a server never serves half an index.
void write_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("index: {}: {}", tmp, std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(fmt::format("index: writing {}: {}", tmp, std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("index: {}: {}", path, std::strerror(e)));
  }
}

void run(const Args& a) {
  if (source::is_url(a.image))
    throw std::runtime_error(fmt::format("index: {}: index the image file that is served, not its URL", a.image));
  uint8_t head[16] = {0};
  size_t got = 0;
  if (int fd = ::open(a.image.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ssize_t n = ::read(fd, head, sizeof head);
    got = n > 0 ? static_cast<size_t>(n) : 0;
    ::close(fd);
  }
  if (auto c = source::detect_compression(head, got); c != source::Compression::none)
    throw std::runtime_error(fmt::format(
        "index: {}: a {} image cannot be read by range, so an index would not help: index (and serve) the raw image",
        a.image, source::compression_name(c)));
  const bool tty = ::isatty(2);
  auto progress = [&](uint64_t done, uint64_t total) {
    if (tty) fmt::print(stderr, "\rindexing {}: {} of {} MiB", a.image, done >> 20, total >> 20);
  };
  const source::ImageIndex ix = source::index_image(a.image, a.block, progress);
  if (tty) fmt::print(stderr, "\n");
  const auto bytes = source::encode_index(ix);
  const std::string out = a.output.empty() ? a.image + source::kIndexExtension : a.output;
  write_atomically(out, bytes);
  fmt::print("{}: {} blocks of {} bytes, {} with data; {} bytes\n", out, ix.blocks(), ix.block, ix.hashes.size(),
             bytes.size());
}

}  // namespace

void cli::add_index(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("index", "write a raw image's block index, so `push URL --delta` fetches only the "
                                          "changed blocks (docs/index.md)");
  sub->add_option("IMAGE", a->image, "raw image file (the one the HTTP server serves)")->required();
  sub->add_option("-o,--output", a->output, "where to write it (default IMAGE.mkidx, where push looks for it)");
  sub->add_option("--block", a->block, "block size in bytes: push's delta block (4096)")
      ->check(CLI::PositiveNumber);
  sub->callback([a] { run(*a); });
}
