# The interposer's call wrappers and their state (the entry-point plumbing is
# listed in CMakeLists.txt beside this file).
set(XSCHED_INTERPOSER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/control.cpp
  ${CMAKE_CURRENT_LIST_DIR}/level_notices.cpp
  ${CMAKE_CURRENT_LIST_DIR}/state.cpp
  ${CMAKE_CURRENT_LIST_DIR}/to_cuda.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_copy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_flushed.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_launch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_lifetime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_loading.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_sync.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrapper_table.cpp
)
