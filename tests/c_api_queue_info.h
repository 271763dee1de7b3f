// What the C API's tests read of a queue: its xs_queue_info_t, now.
#pragma once

#include <gtest/gtest.h>

#include "xsched/xsched.h"

inline xs_queue_info_t info_of(xs_queue_t q) {
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  EXPECT_EQ(xs_queue_query(q, &info), XS_OK);
  return info;
}
