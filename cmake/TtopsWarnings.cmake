# Warnings are errors in CI (TTOPS_WERROR=ON) so the build stays warning-free.
option(TTOPS_WERROR "Treat warnings as errors" OFF)

add_library(ttops_warnings INTERFACE)
target_compile_options(ttops_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wcast-align -Wnull-dereference -Wimplicit-fallthrough
  $<$<BOOL:${TTOPS_WERROR}>:-Werror>)
