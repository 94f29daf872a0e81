// mkmaster build: the Highbank master image (initrd) and its TFTP tree.
#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <optional>

#include "base/read_file.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/initrd/hook_parser.h"
#include "mkmaster/initrd/image_builder.h"
#include "mkmaster/initrd/tftp_tree.h"
#include "mkmaster/paths/paths.h"
#include "protocol/version.h"

namespace {

struct BuildArgs {
  std::vector<std::string> manifests;
  std::string hook;
  std::string sysroot;
  std::vector<std::string> debs;
  std::string out = "out/tftp";
  std::string compress = "gzip";
  std::string agent;         // empty: the data directory's (paths.h)
  std::string hook_missing = "error";
  std::string pxe_template;  // empty: DATA/pxelinux/default-arm-highbank.in
  bool list = false;
  bool no_cache = false;
};

std::string cache_dir() { return paths::cache_dir().string(); }

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

void run(const BuildArgs& a) {
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [](const std::string& s) { fmt::print(stderr, "mkmaster build: {}\n", s); };
  const auto compression = initrd::parse_compression(a.compress);
  const auto policy = initrd::parse_missing_policy(a.hook_missing);
  // Only what the command line leaves open is looked up (paths.h), so a
  // build given everything needs no data directory.
  auto data = [](const char* rel) { return (paths::data_root() / rel).string(); };

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
  initrd::BuiltImage img = initrd::build_image(*root, m, opts);
  if (!opts.epoch) progress(fmt::format("SOURCE_DATE_EPOCH unset: stamp and mtimes from the newest file of the root ({})", img.epoch));
  for (const auto& n : img.notes) progress("note: " + n);
  for (const auto& w : img.warnings) fmt::print(stderr, "mkmaster build: warning: {}\n", w);

  if (a.list) {
    for (const auto& l : img.listing) fmt::print("{}\t{}\t{}\n", l.path, l.reason, l.origin);
    for (const auto* l : {&img.vmlinuz_from, &img.dtb_from})
      fmt::print("tftp:master/{}\t{}\t{}\n", l->path, l->reason, l->origin);
    return;
  }

  progress(fmt::format("writing {} initrd", initrd::compression_name(compression)));
  // Compressed segments of unchanged files are reused (gzip_segments.h);
  // the initrd's bytes do not depend on it.
  const std::string gz_cache = a.no_cache ? "" : cache_dir() + "/deflate";
  initrd::GzipStats gz{};
  std::string initrd = initrd::write_cpio(img.cpio, compression, img.epoch, gz_cache, &gz);
  if (compression == initrd::Compression::Gzip)
    progress(fmt::format("gzip: {} segments, {} from the cache{}, {} deflated", gz.segments, gz.cached,
                         gz_cache.empty() ? " (disabled)" : " " + gz_cache, gz.compressed));
  const std::string pxe_template = a.pxe_template.empty() ? data("pxelinux/default-arm-highbank.in") : a.pxe_template;
  auto files = initrd::tftp_files(read_text(pxe_template, "pxelinux template"), pxe_template, compression,
                                  std::move(initrd), std::move(img.vmlinuz), std::move(img.dtb));
  initrd::write_tree(a.out, files);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress(fmt::format("{}/master: {} ({} bytes), kernel {}, stamp '{}', {:.2f} s", a.out, files[1].rel_path.substr(7),
                       files[1].data.size(), img.kernel_version, img.stamp, secs));
}

}  // namespace

void cli::add_build(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  auto* sub = app.add_subcommand("build", "build the Highbank master image (initrd) and its TFTP tree");
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
  sub->add_option("--pxelinux-template", args->pxe_template,
                  "template for master/pxelinux.cfg/default-arm-highbank (default: DATA/pxelinux/default-arm-highbank.in)");
  sub->add_flag("--list", args->list, "print every file that goes in and why; write nothing");
  sub->add_flag("--no-cache", args->no_cache, "do not reuse compressed segments from CACHE/deflate");
  sub->callback([args] { run(*args); });
}
