# xsched_hal_cuda: the CUDA hardware queue. Included by the top-level
# CMakeLists.txt when cuda.h is found.
#
# The driver table (cuda_driver.h) has a field for every name the driver
# exports: driver_entry_points.inc is made here, at configure time, from the
# interposer's driver_exports.txt (scripts/gen_driver_exports.sh), the one
# list of the driver's names; editing it reconfigures.
set(XSCHED_DRIVER_EXPORTS ${PROJECT_SOURCE_DIR}/src/interpose/cuda/driver_exports.txt)
set(XSCHED_HAL_CUDA_GENERATED ${CMAKE_BINARY_DIR}/generated)

file(STRINGS ${XSCHED_DRIVER_EXPORTS} _xs_driver_names REGEX "^[A-Za-z_][A-Za-z0-9_]*$")
list(TRANSFORM _xs_driver_names PREPEND "  X(")
list(TRANSFORM _xs_driver_names APPEND ")")
list(JOIN _xs_driver_names " \\\n" _xs_driver_rows)
file(CONFIGURE OUTPUT ${XSCHED_HAL_CUDA_GENERATED}/hal/cuda/driver_entry_points.inc
  CONTENT "// Generated from src/interpose/cuda/driver_exports.txt by src/hal/cuda/hal_cuda.cmake: do not edit.\n#pragma once\n\n#define XS_CUDA_DRIVER_ENTRY_POINTS(X) \\\n${_xs_driver_rows}\n"
  @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${XSCHED_DRIVER_EXPORTS})

add_library(xsched_hal_cuda STATIC
  ${CMAKE_CURRENT_LIST_DIR}/confinement.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cuda_driver.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cuda_queue.cpp
  ${CMAKE_CURRENT_LIST_DIR}/device_of.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gates.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernel_args.cpp
  ${CMAKE_CURRENT_LIST_DIR}/op_table.cpp
  ${CMAKE_CURRENT_LIST_DIR}/param_layout.cpp
  ${CMAKE_CURRENT_LIST_DIR}/partition.cpp
  ${CMAKE_CURRENT_LIST_DIR}/persist_space.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pinned_memory.cpp
)
target_include_directories(xsched_hal_cuda SYSTEM PUBLIC ${XSCHED_CUDA_INCLUDE_DIR})
target_include_directories(xsched_hal_cuda PUBLIC ${XSCHED_HAL_CUDA_GENERATED})
target_link_libraries(xsched_hal_cuda PUBLIC xsched_core xsched_gates ${CMAKE_DL_LIBS})
