# xsched_hal_hip: the HIP hardware queue. Included by the top-level
# CMakeLists.txt when ROCm's hip/hip_runtime_api.h is found (Debian:
# libamdhip64-dev). Nothing links libamdhip64: the runtime is opened by name
# at run time (hip_runtime.h).
add_library(xsched_hal_hip STATIC
  ${CMAKE_CURRENT_LIST_DIR}/hip_gates.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hip_queue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hip_runtime.cpp
)
target_include_directories(xsched_hal_hip SYSTEM PUBLIC ${XSCHED_HIP_INCLUDE_DIR})
target_compile_definitions(xsched_hal_hip PUBLIC __HIP_PLATFORM_AMD__=1)
target_link_libraries(xsched_hal_hip PUBLIC xsched_core xsched_gates ${CMAKE_DL_LIBS})
