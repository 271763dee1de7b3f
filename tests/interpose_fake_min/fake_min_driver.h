// What the minimal fake driver (fake_min_driver.cpp) records of the calls
// that reach it, so tests can check that the interposer's trampolines
// forwarded every argument intact. The test reads it with
// dlsym(fake, "fake_min_record").
#pragma once

#include <cstdint>

struct FakeMinRecord {
  int init_calls;
  unsigned init_flags;

  // cuTexRefSetMipmapLevelBias(CUtexref, float): a float in xmm0.
  void* bias_tex;
  float bias;
  // cuTexRefSetMipmapLevelClamp(CUtexref, float, float): xmm0 and xmm1.
  void* clamp_tex;
  float clamp_min, clamp_max;

  // cuTensorMapEncodeIm2colWide: 16 arguments, ten of them on the stack.
  struct {
    int calls;
    void* tensor_map;
    int data_type;
    uint32_t rank;
    void* global_address;
    const void* global_dim;
    const void* global_strides;
    int lower_corner, upper_corner;
    uint32_t channels, pixels;
    const void* element_strides;
    int interleave, mode, swizzle, l2, oob;
  } encode;
};

using FakeMinRecordFn = FakeMinRecord* (*)();
