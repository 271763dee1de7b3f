# The parts of an interposer that do not depend on its platform: the call
# trace, the control API's common calls (control.h), the trampoline generator, and stream_table.h (header only: where a
# stream's queue is found). The search for the real library is
# hal/common/real_library.h, xsched_real_library, which the C API's platforms
# use too. A platform's interposer (src/interpose/cuda, src/interpose/hip)
# compiles them into its library and gives them what is its own: a
# LibrarySpec, kTraceResults (trace.h), and for the trampolines the list of
# names to export and xs_resolve_export (gen_trampolines.cmake).
set(XSCHED_INTERPOSE_COMMON_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/control.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace.cpp
)
set(XSCHED_GEN_TRAMPOLINES ${CMAKE_CURRENT_LIST_DIR}/gen_trampolines.cmake)
