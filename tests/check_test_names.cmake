# ctest tests.catch_names: no Catch2 TEST_CASE name may contain ';'. catch_discover_tests hands names to ctest as a
# CMake list, so "a; b" became two entries that each matched no test case and passed without running anything.
# Run as: cmake -DDIR=<tests/unit> -P check_test_names.cmake
file(GLOB_RECURSE sources ${DIR}/*.cpp)
set(bad "")
foreach(src ${sources})
  file(STRINGS ${src} hits REGEX "TEST_CASE(_METHOD)?\\((.*,)? *\"[^\"]*;")
  if(hits)
    string(APPEND bad "\n  ${src}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "TEST_CASE names with ';' (ctest would split them into entries that run nothing):${bad}")
endif()
message(STATUS "no TEST_CASE name contains ';'")
