# TTOPS_SANITIZE=address  -> AddressSanitizer + UndefinedBehaviorSanitizer. With clang the code is
#                            also instrumented for libFuzzer (fuzzer-no-link) and the fuzz targets
#                            are built, so one build serves the sanitizer suite and scripts/fuzz.
# TTOPS_SANITIZE=thread   -> ThreadSanitizer (for the concurrent engine)
set(TTOPS_SANITIZE "" CACHE STRING "Sanitizers to build with: address, thread or empty")
set_property(CACHE TTOPS_SANITIZE PROPERTY STRINGS "" address thread)

add_library(ttops_sanitizers INTERFACE)
set(TTOPS_FUZZ_TARGETS OFF)
if(TTOPS_SANITIZE STREQUAL "address")
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    list(APPEND _san -fsanitize=fuzzer-no-link)
    set(TTOPS_FUZZ_TARGETS ON)
  endif()
elseif(TTOPS_SANITIZE STREQUAL "thread")
  set(_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT TTOPS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TTOPS_SANITIZE must be address, thread or empty, not '${TTOPS_SANITIZE}'")
endif()
if(_san)
  target_compile_options(ttops_sanitizers INTERFACE ${_san})
  target_link_options(ttops_sanitizers INTERFACE ${_san})
endif()
