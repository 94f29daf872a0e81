#pragma once
// The TFTP tree the nodes boot from, as the LAVA Highbank setup lays it out:
//   OUT/master/pxelinux.cfg/default-arm-highbank   (from pxelinux/default-arm-highbank.in)
//   OUT/master/files/highbank/{vmlinuz,initrd.gz,highbank.dtb}
// Written all-or-nothing: every file goes to a temporary name beside its
// final one and all are renamed only once everything is written, so a
// failed build never leaves a tree that looks good.
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "mkmaster/initrd/cpio_writer.h"

namespace initrd {

struct TftpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// files/highbank/initrd.gz, .zst, .xz, or plain "initrd" (relative to master/).
std::string initrd_name(Compression c);

// Replaces @NAME@ with vars.at(NAME); an unknown @NAME@ throws TftpError
// naming template_name:line.
std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                            const std::string& template_name);

struct TftpFile {
  std::string rel_path;  // under OUT, e.g. "master/files/highbank/vmlinuz"
  std::string data;
};

// The files of the tree for an initrd compressed with `c`.
std::vector<TftpFile> tftp_files(const std::string& pxelinux_template, const std::string& template_name,
                                 Compression c, std::string initrd, std::string vmlinuz, std::string dtb);

// Writes the files under out_dir atomically (see above); throws TftpError
// naming the path and the OS error.
void write_tree(const std::string& out_dir, const std::vector<TftpFile>& files);

}  // namespace initrd
