#pragma once
// The TFTP tree the nodes boot from, as the LAVA Highbank setup lays it out,
// one menu and one directory per board (its profile names both):
//   OUT/master/pxelinux.cfg/default-arm-highbank   (from pxelinux/default-arm.in)
//   OUT/master/files/highbank/{vmlinuz,initrd.gz,highbank.dtb}
//   OUT/master/pxelinux.cfg/default-arm-midway, OUT/master/files/midway/...
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

// Where one board's files go and what its menu says (board_part.h makes it
// from a profile); the defaults are Highbank's.
struct TftpLayout {
  std::string dir = "files/highbank";        // under master/
  std::string menu = "default-arm-highbank";  // under master/pxelinux.cfg/
  std::string dtb = "highbank.dtb";           // file name in dir
  std::string append = "console=ttyAMA0 nosplash break";
};

// DIR/initrd.gz, .zst, .xz, or plain DIR/initrd (relative to master/).
std::string initrd_name(const TftpLayout& l, Compression c);

// Replaces @NAME@ with vars.at(NAME); an unknown @NAME@ throws TftpError
// naming template_name:line.
std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                            const std::string& template_name);

struct TftpFile {
  std::string rel_path;  // under OUT, e.g. "master/files/highbank/vmlinuz"
  std::string data;
};

// One board's files of the tree for an initrd compressed with `c`; the
// template's @INITRD@, @KERNEL@, @FDT@ and @APPEND@ come from the layout.
std::vector<TftpFile> tftp_files(const std::string& pxelinux_template, const std::string& template_name,
                                 const TftpLayout& layout, Compression c, std::string initrd, std::string vmlinuz,
                                 std::string dtb);

// Writes the files under out_dir atomically (see above); throws TftpError
// naming the path and the OS error.
void write_tree(const std::string& out_dir, const std::vector<TftpFile>& files);

}  // namespace initrd
