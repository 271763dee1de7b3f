// `xsched run`: starts a program under the CUDA interposer.
#pragma once

namespace xsched::cli {

int run_main(int argc, char** argv);

}  // namespace xsched::cli
