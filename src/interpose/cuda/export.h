// Symbols the interposer exports to the program: driver entry points (in
// place of libcuda.so.1's) and the marker that identifies the interposer.
// The project builds with hidden visibility, so only what carries this
// attribute is visible outside libxsched_cuda.so.
#pragma once

#define XS_CUDA_EXPORT __attribute__((visibility("default")))

// Present in every build of the interposer: the real-driver search rejects a
// library that exports it, so the interposer never forwards to itself (or to
// another copy of itself). Its value is the plumbing's ABI revision.
extern "C" {
XS_CUDA_EXPORT extern const int xsched_interposer_abi;
}
