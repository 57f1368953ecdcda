#pragma once
#include <filesystem>

namespace ttops {

/// Where ttops keeps state between runs (audit log, run journals, locks):
/// $TTOPS_STATE_DIR, else $XDG_STATE_HOME/ttops, else ~/.local/state/ttops. Created on demand.
std::filesystem::path state_dir();

/// The user and host a record is written by.
std::string current_user();
std::string current_host();

}  // namespace ttops
