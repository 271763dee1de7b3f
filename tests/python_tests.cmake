# The Python package (python/xsched) and the C entry points it stands on.
#
#   thread_priority_test     priority scopes and process-wide hints through the C API
#   interpose_control_test   the CUDA interposer's control API (xsched_cuda.h), fake driver
#   python_test              pytest tests/python: the package on the CPU reference device,
#                            its errors, `python -m xsched`
#   python_interposer_test   pytest tests/python/test_interposer.py in a Python process that
#                            runs under the interposer, in front of the fake CUDA driver
#   python_hip_interposer_test  pytest tests/python/test_hip_interposer.py, the same under the
#                            HIP interposer in front of the fake HIP runtime
#   python_gpu_test5         (label gpu) the field report's Test 5 with the package's API,
#                            under `xsched run` on a real GPU; skipped (77) without one
#
# The pytest entries need a Python with pytest (python3-pytest, scripts/deps.sh), and skip
# (77) with the reason where there is none, and in sanitizer builds: an uninstrumented
# python cannot load sanitized libraries without preloading the sanitizer's runtime.

xsched_test(thread_priority_test SOURCES thread_priority_test.cpp LIBS xsched Threads::Threads)

set(_xs_have_fake_interposer OFF)
if(XSCHED_WITH_CUDA AND TARGET xsched_cuda AND TARGET fake_cuda)
  set(_xs_have_fake_interposer ON)
  add_executable(interpose_control_test interpose_control_test.cpp)
  target_link_libraries(interpose_control_test PRIVATE xsched_cuda fake_cuda_headers
                        GTest::gtest GTest::gtest_main ${CMAKE_DL_LIBS} Threads::Threads)
  target_include_directories(interpose_control_test PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_compile_definitions(interpose_control_test PRIVATE FAKE_CUDA_PATH="$<TARGET_FILE:fake_cuda>")
  set_target_properties(interpose_control_test PROPERTIES BUILD_RPATH ${XSCHED_CUDA_SHIM_DIR})
  add_dependencies(interpose_control_test fake_cuda)
  add_test(NAME interpose_control_test COMMAND interpose_control_test)
  set_tests_properties(interpose_control_test PROPERTIES
    TIMEOUT 120
    ENVIRONMENT "XSCHED_REAL_LIBCUDA=$<TARGET_FILE:fake_cuda>;XSCHED_LOG_LEVEL=warn;XSCHED_LEVEL=1"
    ENVIRONMENT_MODIFICATION "LD_LIBRARY_PATH=path_list_prepend:${XSCHED_CUDA_SHIM_DIR}")

  # The fake driver's kernels, by name, for the Python tests.
  add_library(xsched_test_fake_kernels SHARED python/fake_kernels.cpp)
  target_link_libraries(xsched_test_fake_kernels PRIVATE fake_cuda_headers)
endif()

set(_xs_have_fake_hip_interposer OFF)
if(XSCHED_WITH_HIP AND TARGET xsched_hip AND TARGET fake_hip)
  set(_xs_have_fake_hip_interposer ON)
  # The fake HIP runtime's kernels, by name, for the Python tests.
  add_library(xsched_test_fake_hip_kernels SHARED python/fake_hip_kernels.cpp)
  target_link_libraries(xsched_test_fake_hip_kernels PRIVATE fake_hip_headers)
endif()

# ---- pytest ----
# A Python that has pytest: the one CMake finds first, else the system's (a Python
# manager's shims often come first on PATH without the Debian packages' modules).
set(_xs_pytest_python "")
foreach(_candidate IN ITEMS "${Python3_EXECUTABLE}" /usr/bin/python3)
  if(_candidate AND EXISTS "${_candidate}" AND NOT _xs_pytest_python)
    execute_process(COMMAND "${_candidate}" -c "import pytest" RESULT_VARIABLE _rv OUTPUT_QUIET ERROR_QUIET)
    if(_rv EQUAL 0)
      set(_xs_pytest_python "${_candidate}")
    endif()
  endif()
endforeach()

set(_xs_pytest_skip "")
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
  set(_xs_pytest_skip "sanitizer build: python cannot load sanitized libraries without their runtime preloaded")
elseif(NOT _xs_pytest_python)
  set(_xs_pytest_skip "no Python with pytest found (install python3-pytest: scripts/deps.sh)")
endif()

set(_xs_py_dir ${CMAKE_CURRENT_SOURCE_DIR}/python)
# -p no:cacheprovider: nothing is written into the source tree.
set(_xs_pytest -m pytest -q -rs -p no:cacheprovider -o console_output_style=classic)
set(_xs_py_env
  "PYTHONPATH=${PROJECT_SOURCE_DIR}/python"
  "PYTHONDONTWRITEBYTECODE=1"
  "XSCHED_LIBRARY=$<TARGET_LINKER_FILE:xsched>")
if(TARGET xsched_cuda)
  list(APPEND _xs_py_env "XS_TEST_INTERPOSER=$<TARGET_FILE:xsched_cuda>")
endif()

set(_xs_py_tests python_test)
if(_xs_have_fake_interposer)
  list(APPEND _xs_py_tests python_interposer_test)
endif()
if(_xs_have_fake_hip_interposer)
  list(APPEND _xs_py_tests python_hip_interposer_test)
endif()
foreach(_t IN LISTS _xs_py_tests)
  if(_xs_pytest_skip)
    add_test(NAME ${_t} COMMAND sh -c "echo \"skipped: $1\"; exit 77" sh "${_xs_pytest_skip}")
  elseif(_t STREQUAL "python_test")
    add_test(NAME ${_t} COMMAND "${_xs_pytest_python}" ${_xs_pytest} ${_xs_py_dir}
             --ignore=${_xs_py_dir}/gpu --ignore=${_xs_py_dir}/test_interposer.py
             --ignore=${_xs_py_dir}/test_hip_interposer.py)
  elseif(_t STREQUAL "python_hip_interposer_test")
    add_test(NAME ${_t} COMMAND "${_xs_pytest_python}" ${_xs_pytest} ${_xs_py_dir}/test_hip_interposer.py)
    set_tests_properties(${_t} PROPERTIES ENVIRONMENT_MODIFICATION
      "LD_PRELOAD=path_list_prepend:$<TARGET_FILE:xsched_hip>")
  else()
    add_test(NAME ${_t} COMMAND "${_xs_pytest_python}" ${_xs_pytest} ${_xs_py_dir}/test_interposer.py)
    set_tests_properties(${_t} PROPERTIES ENVIRONMENT_MODIFICATION
      "LD_PRELOAD=path_list_prepend:$<TARGET_FILE:xsched_cuda>")
  endif()
  set_tests_properties(${_t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  set_property(TEST ${_t} APPEND PROPERTY ENVIRONMENT ${_xs_py_env})
endforeach()
if(_xs_have_fake_interposer AND NOT _xs_pytest_skip)
  set_property(TEST python_interposer_test APPEND PROPERTY ENVIRONMENT
    "XSCHED_REAL_LIBCUDA=$<TARGET_FILE:fake_cuda>"
    "XSCHED_LEVEL=1"
    "XS_TEST_FAKE_CUDA=$<TARGET_FILE:fake_cuda>"
    "XS_TEST_FAKE_KERNELS=$<TARGET_FILE:xsched_test_fake_kernels>")
endif()

if(_xs_have_fake_hip_interposer AND NOT _xs_pytest_skip)
  set_property(TEST python_hip_interposer_test APPEND PROPERTY ENVIRONMENT
    "XSCHED_REAL_LIBHIP=$<TARGET_FILE:fake_hip>"
    "XSCHED_LEVEL=1"
    "FAKE_HIP_DEVICES=2"
    "XS_TEST_FAKE_HIP=$<TARGET_FILE:fake_hip>"
    "XS_TEST_FAKE_HIP_KERNELS=$<TARGET_FILE:xsched_test_fake_hip_kernels>")
endif()

# ---- GPU: the field report's Test 5 written with the package's API ----
# Runs under `xsched run`; the script compares its outputs with a run of the same models
# without xsched (a child process it starts without the interposer) and the high-priority
# latency with its standalone latency. Skipped (77) without a GPU or torch.
if(TARGET xsched_cuda AND XSCHED_BUILD_GPU_TESTS)
  add_test(NAME python_gpu_test5
    COMMAND $<TARGET_FILE:xsched_cli> run -- "${XSCHED_TEST_PYTHON}" ${_xs_py_dir}/gpu/test5_api.py
            --out ${CMAKE_CURRENT_BINARY_DIR}/python_gpu_test5)
  set_tests_properties(python_gpu_test5 PROPERTIES
    LABELS gpu
    SKIP_RETURN_CODE 77
    RUN_SERIAL TRUE
    TIMEOUT 600
    ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
endif()
