#include "mkmaster/lab/net_addr.h"

#include <gtest/gtest.h>

namespace lab {

TEST(NetAddr, NormalizesMacs) {
  EXPECT_EQ(normalize_mac("FC:2F:40:17:DA:28"), "fc:2f:40:17:da:28");
  EXPECT_EQ(normalize_mac("fc-2f-40-17-da-28"), "fc:2f:40:17:da:28");
  EXPECT_FALSE(normalize_mac("fc:2f:40:17:da"));
  EXPECT_FALSE(normalize_mac("fc:2f:40:17:da:2g"));
  EXPECT_FALSE(normalize_mac("fc:2f-40:17:da:28"));
  EXPECT_EQ(pxelinux_mac_name("fc:2f:40:17:da:28"), "01-fc-2f-40-17-da-28");
}

TEST(NetAddr, ParsesIpv4Strictly) {
  EXPECT_EQ(parse_ipv4("192.168.2.76"), 0xc0a8024cu);
  EXPECT_EQ(format_ipv4(0xc0a8024cu), "192.168.2.76");
  for (const char* bad : {"192.168.2", "192.168.2.256", "1.2.3.4.5", "01.2.3.4", "1..2.3", "a.b.c.d", "", "1.2.3.4 "})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
}

TEST(NetAddr, Networks) {
  auto net = parse_ipv4_net("192.168.2.0/24");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(*parse_ipv4("192.168.2.200")));
  EXPECT_FALSE(net->contains(*parse_ipv4("192.168.3.1")));
  EXPECT_EQ(format_ipv4(net->mask()), "255.255.255.0");
  EXPECT_FALSE(parse_ipv4_net("192.168.2.1/24"));  // host bits set
  EXPECT_FALSE(parse_ipv4_net("192.168.2.0/33"));
  EXPECT_FALSE(parse_ipv4_net("192.168.2.0"));
}

TEST(NetAddr, HostNamesAndPorts) {
  EXPECT_TRUE(is_valid_hostname("calxeda02-01-00"));
  EXPECT_FALSE(is_valid_hostname("-calxeda"));
  EXPECT_FALSE(is_valid_hostname("calx eda"));
  EXPECT_FALSE(is_valid_hostname("calxeda;rm"));
  EXPECT_TRUE(is_valid_host("127.0.0.1"));
  EXPECT_EQ(parse_port("623"), 623);
  EXPECT_FALSE(parse_port("0"));
  EXPECT_FALSE(parse_port("65536"));
  EXPECT_FALSE(parse_port("62x"));
}

}  // namespace lab
