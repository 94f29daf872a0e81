#include "mkmaster/initrd/board_part.h"

namespace initrd {

BoardPart board_part(const lab::BoardProfile& b) {
  BoardPart p;
  p.name = b.name;
  p.kernel_flavour = b.kernel_flavour;
  p.flavour_where = b.where("kernel_flavour");
  auto line = [&](const char* field) { return b.lines.count(field) ? b.lines.at(field) : 0; };
  Item dtb;
  dtb.kind = Item::Kind::Dtb;
  dtb.path = b.dtb;
  dtb.where = {b.path, line("dtb")};
  p.items.items.push_back(dtb);
  for (const auto& m : b.modules) {
    Item it;
    it.kind = Item::Kind::Module;
    it.path = m;
    it.where = {b.path, line("modules")};
    p.items.items.push_back(it);
  }
  return p;
}

TftpLayout tftp_layout(const lab::BoardProfile& b) {
  TftpLayout l;
  l.dir = b.tftp_dir;
  l.menu = b.menu;
  l.dtb = b.dtb;
  l.append = "console=" + b.console + (b.kernel_args.empty() ? "" : " " + b.kernel_args);
  return l;
}

}  // namespace initrd
