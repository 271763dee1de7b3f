# The interposer's call wrappers and what they share (the entry-point
# plumbing is listed in CMakeLists.txt beside this file).
set(XSCHED_INTERPOSER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/all_queues.cpp
  ${CMAKE_CURRENT_LIST_DIR}/control.cpp
  ${CMAKE_CURRENT_LIST_DIR}/driver.cpp
  ${CMAKE_CURRENT_LIST_DIR}/event_records.cpp
  ${CMAKE_CURRENT_LIST_DIR}/implicit_order.cpp
  ${CMAKE_CURRENT_LIST_DIR}/level_notices.cpp
  ${CMAKE_CURRENT_LIST_DIR}/new_stream_queue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stream_queue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stream_registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/submit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/to_cuda.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_copy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_flushed.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_launch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_lifetime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_loading.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wrap_sync.cpp
)
