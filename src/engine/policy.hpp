#pragma once
// The policy: environment x effect -> allow, confirm, confirm-typed or deny.
#include "engine/engine.hpp"
#include "runbook/config.hpp"

namespace ttops {

/// The first rule of the config's `policy` that matches, else the defaults: reads are allowed;
/// mutations need confirmation; destructive steps need confirmation, and in a production
/// environment the service's name typed back.
Approval approval_for(const Config& config, const Environment& environment, Effect effect);

std::string_view to_string(Approval approval);

}  // namespace ttops
