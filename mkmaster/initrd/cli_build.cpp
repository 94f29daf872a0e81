// mkmaster build: the master image (one initrd per board) and the TFTP tree.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>

#include "base/read_file.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/paths/paths.h"
#include "mkmaster/initrd/board_part.h"
#include "mkmaster/initrd/hook_parser.h"
#include "mkmaster/initrd/image_builder.h"
#include "mkmaster/initrd/tftp_tree.h"
#include "protocol/version.h"

namespace {

struct BuildArgs {
  std::vector<std::string> manifests;
  std::string hook;
  std::string sysroot;
  std::vector<std::string> debs;
  std::string out = "out/tftp";
  std::string compress = "gzip";
  std::string agent;  // empty: the data directory's (paths.h)
  std::string hook_missing = "error";
  std::string pxe_template;  // empty: DATA/pxelinux/default-arm.in
  std::vector<std::string> boards;  // empty: highbank
  std::string boards_dir;  // empty: DATA/boards
  bool list_boards = false;
  bool list = false;
  bool no_cache = false;
};

std::string cache_dir() { return paths::cache_dir().string(); }

// Only what the command line leaves open is looked up (paths.h), so a build
// given everything needs no data directory.
std::string data(const std::string& rel) { return (paths::data_root() / rel).string(); }
std::string boards_dir(const BuildArgs& a) { return a.boards_dir.empty() ? data("boards") : a.boards_dir; }

// SOURCE_DATE_EPOCH sets the stamp and every mtime; unset, the builder
// takes the newest file of the armhf root (image_builder.h), so an
// unconfigured build is still reproducible.
std::optional<int64_t> source_date_epoch() {
  const char* s = std::getenv("SOURCE_DATE_EPOCH");
  if (!s || !*s) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno || *end || v < 0)
    throw std::runtime_error(fmt::format("SOURCE_DATE_EPOCH='{}' is not a non-negative number of seconds", s));
  return v;
}

std::string read_text(const std::string& path, const std::string& what) {
  auto text = base::read_file(path);
  if (!text) throw std::runtime_error(fmt::format("{}: cannot read {}", path, what));
  return std::move(*text);
}

// The boards to build: --board NAME (repeatable), "all", default highbank.
std::vector<lab::BoardProfile> boards(const BuildArgs& a) {
  const std::string dir = boards_dir(a);
  std::vector<std::string> names = a.boards;
  if (names.empty()) names.push_back("highbank");
  if (std::find(names.begin(), names.end(), "all") != names.end()) {
    if (names.size() > 1) throw std::runtime_error("--board all: give it alone");
    names = lab::board_names(dir);
  }
  std::vector<lab::BoardProfile> out;
  for (const auto& n : names) {
    if (std::any_of(out.begin(), out.end(), [&](const auto& b) { return b.name == n; }))
      throw std::runtime_error(fmt::format("--board {}: given twice", n));
    out.push_back(lab::load_board_profile(dir, n, "--board"));
  }
  return out;
}

void list_boards(const std::string& dir) {
  for (const auto& n : lab::board_names(dir)) {
    auto b = lab::load_board_profile(dir, n, "--list-boards");
    fmt::print("{}\tqemu -M {}\t{} kernel\t{}\t{}\tLAVA {}\t{}\n", b.name, b.qemu_machine, b.kernel_flavour, b.dtb,
               b.tftp_dir, b.lava_device_type, b.description);
  }
}

void run(const BuildArgs& a) {
  if (a.list_boards) return list_boards(boards_dir(a));
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [](const std::string& s) { fmt::print(stderr, "mkmaster build: {}\n", s); };
  const auto compression = initrd::parse_compression(a.compress);
  const auto policy = initrd::parse_missing_policy(a.hook_missing);
  const auto profiles = boards(a);
  if (a.list && profiles.size() != 1) throw std::runtime_error("--list: give one --board");

  // Content: the manifests (default hooks/master.manifest), or a hook on top
  // of hooks/hook-base.manifest (what initramfs-tools itself adds).
  std::vector<std::string> manifests = a.manifests;
  if (manifests.empty()) manifests.push_back(data(a.hook.empty() ? "hooks/master.manifest" : "hooks/hook-base.manifest"));
  initrd::Manifest m;
  for (const auto& path : manifests) initrd::merge(m, initrd::load_manifest(path));
  if (!a.hook.empty()) initrd::merge(m, initrd::load_hook(a.hook));

  // Where armhf files come from: the command line, else the manifest, else the cached sysroot.
  std::unique_ptr<rootfs::FileSource> root;
  if (!a.debs.empty()) {
    progress(fmt::format("reading .debs from {}", fmt::join(a.debs, " ")));
    root = rootfs::open_debs(a.debs);
  } else if (!a.sysroot.empty()) {
    root = rootfs::open_sysroot(a.sysroot);
  } else if (!m.debs.empty() && !m.sysroot) {
    progress(fmt::format("reading .debs from {}", fmt::join(m.debs, " ")));
    root = rootfs::open_debs(m.debs);
  } else if (m.sysroot && m.debs.empty()) {
    root = rootfs::open_sysroot(*m.sysroot);
  } else if (m.sysroot) {
    throw std::runtime_error("the manifests name both a sysroot and .debs; choose one with --sysroot or --debs");
  } else {
    root = rootfs::open_sysroot(cache_dir() + "/armhf/sysroot");
  }

  initrd::BuildOptions opts;
  opts.agent_path = a.agent.empty() ? paths::layout().agent.string() : a.agent;
  opts.epoch = source_date_epoch();
  opts.version = mkproto::kProjectVersion;
  opts.hook_missing = policy;
  opts.progress = progress;
  std::vector<initrd::BoardPart> parts;
  for (const auto& b : profiles) parts.push_back(initrd::board_part(b));
  std::vector<initrd::BuiltImage> images = initrd::build_images(*root, m, parts, opts);
  if (!opts.epoch)
    progress(fmt::format("SOURCE_DATE_EPOCH unset: stamp and mtimes from the newest file of the root ({})",
                         images.front().epoch));
  for (const auto& n : images.front().notes) progress("note: " + n);
  std::set<std::string> warned;  // a shared item's warning is every board's
  for (const auto& img : images)
    for (const auto& w : img.warnings)
      if (warned.insert(w).second) fmt::print(stderr, "mkmaster build: warning: {}\n", w);

  if (a.list) {
    const auto& img = images.front();
    const auto layout = initrd::tftp_layout(profiles.front());
    for (const auto& l : img.listing) fmt::print("{}\t{}\t{}\n", l.path, l.reason, l.origin);
    for (const auto* l : {&img.vmlinuz_from, &img.dtb_from})
      fmt::print("tftp:master/{}/{}\t{}\t{}\n", layout.dir, l->path, l->reason, l->origin);
    return;
  }

  // Compressed segments of unchanged files are reused (gzip_segments.h), so
  // the boards' common content is deflated once; the initrds' bytes do not
  // depend on it.
  const std::string gz_cache = a.no_cache ? "" : cache_dir() + "/deflate";
  const std::string pxe_template = a.pxe_template.empty() ? data("pxelinux/default-arm.in") : a.pxe_template;
  const std::string tmpl = read_text(pxe_template, "pxelinux template");
  std::vector<initrd::TftpFile> files;
  std::vector<std::string> summary;
  for (size_t i = 0; i < images.size(); ++i) {
    auto& img = images[i];
    progress(fmt::format("{}: writing {} initrd", profiles[i].name, initrd::compression_name(compression)));
    initrd::GzipStats gz{};
    std::string initrd = initrd::write_cpio(img.cpio, compression, img.epoch, gz_cache, &gz);
    if (compression == initrd::Compression::Gzip)
      progress(fmt::format("gzip: {} segments, {} from the cache{}, {} deflated", gz.segments, gz.cached,
                           gz_cache.empty() ? " (disabled)" : " " + gz_cache, gz.compressed));
    auto board_files = initrd::tftp_files(tmpl, pxe_template, initrd::tftp_layout(profiles[i]), compression,
                                          std::move(initrd), std::move(img.vmlinuz), std::move(img.dtb));
    summary.push_back(fmt::format("{} ({} bytes), kernel {}", board_files[1].rel_path.substr(7),
                                  board_files[1].data.size(), img.kernel_version));
    for (auto& f : board_files) files.push_back(std::move(f));
  }
  initrd::write_tree(a.out, files);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress(fmt::format("{}/master: {}, stamp '{}', {:.2f} s", a.out, fmt::join(summary, "; "), images.front().stamp,
                       secs));
}

}  // namespace

void cli::add_build(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  auto* sub = app.add_subcommand("build", "build the master image (initrd) of each board and their TFTP tree");
  sub->add_option("--manifest", args->manifests,
                  "manifest(s) declaring the image content (default: DATA/hooks/master.manifest, see mkmaster paths)");
  sub->add_option("--hook", args->hook,
                  "an initramfs-tools hook (copy_exec/copy_file/manual_add_modules) on top of DATA/hooks/hook-base.manifest");
  auto* sysroot = sub->add_option("--sysroot", args->sysroot, "unpacked armhf root (default: CACHE/armhf/sysroot, CACHE as mkmaster paths shows)");
  auto* debs = sub->add_option("--debs", args->debs, "directory of armhf .deb files (or .deb files), read directly");
  sysroot->excludes(debs);
  sub->add_option("--out", args->out, "TFTP root to write (default: out/tftp)");
  sub->add_option("--compress", args->compress, "initrd compression: gzip (default), zstd, xz, none");
  sub->add_option("--agent", args->agent,
                  "static armhf target-agent to embed at /sbin/target-agent (default: the one mkmaster paths shows)");
  sub->add_option("--hook-missing", args->hook_missing,
                  "a hook line naming a file the root lacks: error (default) or warn (skip it)");
  sub->add_option("--board", args->boards,
                  "a board profile from DATA/boards/ (repeatable; 'all' for every profile; default: highbank)");
  sub->add_flag("--list-boards", args->list_boards, "print the board profiles found; build nothing");
  sub->add_option("--boards-dir", args->boards_dir, "directory of board profiles <name>.ini (default: DATA/boards)");
  sub->add_option("--pxelinux-template", args->pxe_template,
                  "template for each board's master/pxelinux.cfg/default-arm-<board> (default: DATA/pxelinux/default-arm.in)");
  sub->add_flag("--list", args->list, "print every file that goes in and why; write nothing");
  sub->add_flag("--no-cache", args->no_cache, "do not reuse compressed segments from CACHE/deflate");
  sub->callback([args] { run(*args); });
}
