# The parts of an interposer that do not depend on its platform: the
# dynamic linker's cache, the search for the real library, the call trace,
# and the trampoline generator. A platform's interposer (src/interpose/cuda)
# compiles them into its library and gives them what is its own: a
# LibrarySpec (real_library.h), kTraceResults (trace.h), the list of names
# to export, and xs_resolve_export for the trampolines (gen_trampolines.cmake).
set(XSCHED_INTERPOSE_COMMON_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/ld_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/real_library.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace.cpp
)
set(XSCHED_GEN_TRAMPOLINES ${CMAKE_CURRENT_LIST_DIR}/gen_trampolines.cmake)
