#pragma once
// A board profile: what differs between boards of one lab (Highbank,
// Midway, ...), as data: one INI file per board, boards/<name>.ini
// (docs/boards.md). The image builder takes the kernel flavour, dtb and
// modules from it; the TFTP tree and each node's menu take the console,
// kernel arguments and names; the emulated lab takes the QEMU machine;
// LAVA dictionaries extend lava_device_type.
#include <map>
#include <string>
#include <vector>

namespace lab {

struct BoardProfile {
  std::string name;              // the file's stem: "highbank"; what device_type and --board name
  std::string path;              // the profile file, for messages
  std::string description;       // optional
  std::string qemu_machine;      // qemu-system-arm -M
  std::string kernel_flavour;    // "armmp": the kernel whose version ends in -<flavour>
  std::string dtb;               // file name under /usr/lib/linux-image-<kver>/
  std::vector<std::string> modules;
  std::string console;           // "ttyAMA0" (console=...)
  std::string kernel_args;       // after console=, e.g. "nosplash break"
  std::string tftp_dir;          // under master/: "files/highbank"
  std::string menu;              // under master/pxelinux.cfg/: "default-arm-highbank"
  std::string lava_device_type;  // the LAVA device-type template its dictionaries extend
  std::map<std::string, int> lines;  // field -> line, for errors

  // "path:line: field" (line 0 when the field is not in the file).
  std::string where(const std::string& field) const;
};

// Parses one profile; the board is named by the file name's stem. Throws
// ConfigError "path:line: field: problem".
BoardProfile parse_board_profile(const std::string& text, const std::string& path);

// The profiles in a boards directory: every <name>.ini, sorted by name.
std::vector<std::string> board_names(const std::string& dir);

// dir/<name>.ini. An unknown name throws ConfigError "<where>: unknown board
// '<name>' (known: ...)", where `where` says who asked (a command-line
// option, or an inventory's file:line:field).
BoardProfile load_board_profile(const std::string& dir, const std::string& name, const std::string& where);

}  // namespace lab
