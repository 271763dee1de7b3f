// A device's identity as text and back: what `xsched list` prints is what
// `xsched policy --device` takes.
#include "core/device_id.h"

#include <gtest/gtest.h>

namespace xsched {
namespace {

TEST(DeviceId, TextRoundTrips) {
  DeviceId gpu;
  for (std::size_t i = 0; i < 16; ++i) gpu.uuid[i] = static_cast<uint8_t>(0x10 * i + 0xf - i);
  const std::string text = gpu.text("cuda");
  EXPECT_EQ(text, "GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  DeviceId back;
  ASSERT_TRUE(parse_device_id(text, &back));
  EXPECT_EQ(back, gpu);
  ASSERT_TRUE(parse_device_id("GPU-0F1E2D3C4B5A69788796A5B4C3D2E1F0", &back));  // dashes and case do not matter
  EXPECT_EQ(back, gpu);
  const DeviceId host = host_device_id(3);
  ASSERT_TRUE(parse_device_id(host.text("host"), &back));
  EXPECT_EQ(back, host);
  EXPECT_NE(host_device_id(3), host_device_id(4));
  EXPECT_EQ(DeviceId{}.text("cuda"), "unknown");
  EXPECT_FALSE(DeviceId{}.known());
  EXPECT_TRUE(host.known());
}

TEST(DeviceId, BadTextIsRefused) {
  DeviceId out;
  for (const char* bad : {"", "GPU", "GPU-", "GPU-0f1e", "XPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                          "GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0aa", "GPU-0g1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0"}) {
    EXPECT_FALSE(parse_device_id(bad, &out)) << bad;
  }
}

}  // namespace
}  // namespace xsched
