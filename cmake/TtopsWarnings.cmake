# Warnings are errors in CI (TTOPS_WERROR=ON) so the build stays warning-free.
# -Wnull-dereference is left out: with GCC 12 it reports false positives inside nlohmann-json,
# CLI11 and libstdc++ depending on what gets inlined where.
option(TTOPS_WERROR "Treat warnings as errors" OFF)

add_library(ttops_warnings INTERFACE)
target_compile_options(ttops_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wcast-align -Wimplicit-fallthrough
  $<$<BOOL:${TTOPS_WERROR}>:-Werror>)
