#pragma once
#include <filesystem>

namespace ttops {

/// The running binary's own file, links resolved (/proc/self/exe); empty when it cannot be read.
std::filesystem::path executable_path();

/// The installation prefix of the running binary, when it sits in `<prefix>/<bindir>` (bindir
/// relative, usually "bin"); empty otherwise. Lets an installed ttops find its data wherever the
/// prefix is: /usr for the .deb, ~/.local for `cmake --install --prefix ~/.local`.
std::filesystem::path installation_prefix(const std::filesystem::path& bindir);

}  // namespace ttops
