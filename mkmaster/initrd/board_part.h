#pragma once
// A board profile (mkmaster/lab/board_profile.h) as the image builder and
// the TFTP tree take it: the builder's kernel flavour, dtb and module items,
// each naming its profile line, and the board's names in the tree.
#include "mkmaster/initrd/image_builder.h"
#include "mkmaster/initrd/tftp_tree.h"
#include "mkmaster/lab/board_profile.h"

namespace initrd {

BoardPart board_part(const lab::BoardProfile& board);
TftpLayout tftp_layout(const lab::BoardProfile& board);

}  // namespace initrd
