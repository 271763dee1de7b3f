# Fails the build when libxsched_hip.so does not export a wrapper, or exports
# one without a symbol version. Run after linking:
#   cmake -DNM=nm -DLIBRARY=libxsched_hip.so -DSTAMP=file -P check_exports.cmake
#
# A wrapper is a function under a HIP entry point's name (hip*, __hip*, or
# the C++ name of one, _Z<n>hip*). exports.map gives each its version; one
# the map forgets falls under `local: *` and stays in the library's own
# symbol table, local (nm: t), where the program never finds it.
cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND ${NM} --defined-only ${LIBRARY} OUTPUT_VARIABLE all RESULT_VARIABLE rc1)
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc2)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "check_exports: ${NM} ${LIBRARY} failed (${rc1}, ${rc2})")
endif()
set(entry "((__)?hip|_Z[0-9]+hip)[A-Za-z0-9_]*")

set(problems "")
string(REPLACE "\n" ";" lines "${all}")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]+ [a-z] (${entry})$")
    string(APPEND problems "\n  ${CMAKE_MATCH_1}: a wrapper the library does not export (not in exports.map?)")
  endif()
endforeach()
set(exported 0)
string(REPLACE "\n" ";" lines "${dynamic}")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]+ [A-Z] (${entry})(@@?[A-Za-z0-9_.]+)?$")
    math(EXPR exported "${exported} + 1")
    if(CMAKE_MATCH_4 STREQUAL "")
      string(APPEND problems "\n  ${CMAKE_MATCH_1}: exported without a symbol version")
    endif()
  endif()
endforeach()
if(exported EQUAL 0)
  string(APPEND problems "\n  no HIP entry point is exported at all")
endif()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "check_exports: ${LIBRARY}:${problems}")
endif()
file(TOUCH "${STAMP}")
