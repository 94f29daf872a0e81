#include "mkmaster/initrd/skel.h"

#include "mkmaster/initrd/image_contract.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace initrd {
namespace {

// The embedded copies are the files under skel/ byte for byte (tests run
// in this folder), so editing a script and rebuilding is all it takes.
TEST(Skel, EmbeddedCopiesMatchTheFiles) {
  for (const char* name : {"init", "functions", "udhcpc.script", "start-agent"}) {
    std::ifstream f(std::string("skel/") + name, std::ios::binary);
    ASSERT_TRUE(f) << name;
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(skel(name), ss.str()) << name;
  }
  EXPECT_THROW(skel("nope"), std::out_of_range);
}

TEST(Skel, InitHonoursTheDocumentedCommandLine) {
  std::string_view init = skel("init");
  for (const char* want : {"break | break=*)", "mkmaster.sg=*)", "setsid cttyhack sh", "mount -t devtmpfs",
                           "/etc/mkmaster/modules", "ethtool -K"})
    EXPECT_NE(init.find(want), std::string_view::npos) << want;
  EXPECT_NE(skel("functions").find("configure_networking()"), std::string_view::npos);
}

// The start script and the contract name the same agent and the same
// configure_networking the pipeline types.
TEST(Skel, StartAgentAndTheImageContractAgree) {
  EXPECT_NE(skel("start-agent").find(std::string("${MKMASTER_AGENT:-") + contract::kAgentPath + "}"),
            std::string_view::npos);
  EXPECT_EQ(std::string(contract::kNetworkingCommand).rfind(std::string(". ") + contract::kFunctionsPath + ";", 0), 0u);
  EXPECT_NE(skel("functions").find("configure_networking()"), std::string_view::npos);
}

}  // namespace
}  // namespace initrd
