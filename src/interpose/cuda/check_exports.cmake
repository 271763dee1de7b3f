# Fails the build when what libxsched_cuda.so exports under driver names
# disagrees with driver_exports.txt. Run after linking:
#   cmake -DNM=nm -DLIBRARY=libxsched_cuda.so -DEXPORTS=driver_exports.txt -DSTAMP=file -P check_exports.cmake
#
# A wrapper is a strong definition (nm: T) of a driver name; the trampolines
# are weak (W). Every driver name must be exported, and every wrapper must be
# of a driver name: cuGetProcAddress hands out our function only for names
# the driver's answer maps back to, so a wrapper of any other name (a typo, a
# variant the driver does not export) would never be called.
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_exports: ${NM} -D ${LIBRARY} failed (${rc})")
endif()
file(STRINGS "${EXPORTS}" driver_names REGEX "^[A-Za-z_][A-Za-z0-9_]*$")

string(REPLACE "\n" ";" lines "${listing}")
set(defined "")
set(problems "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) (cu[A-Za-z0-9_]*)$")
    list(APPEND defined ${CMAKE_MATCH_2})
    if(CMAKE_MATCH_1 STREQUAL "T" AND NOT CMAKE_MATCH_2 IN_LIST driver_names)
      string(APPEND problems "\n  ${CMAKE_MATCH_2}: a wrapper of a name the driver does not export (driver_exports.txt)")
    endif()
  endif()
endforeach()
foreach(name IN LISTS driver_names)
  if(NOT name IN_LIST defined)
    string(APPEND problems "\n  ${name}: a driver name the library does not export (a wrapper without XS_CUDA_EXPORT?)")
  endif()
endforeach()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "check_exports: ${LIBRARY}:${problems}")
endif()
file(TOUCH "${STAMP}")
