#pragma once
// The text of Redis INFO as data, so that a runbook reads `info.used_memory` and computes a hit
// rate as `info.keyspace_hits / (info.keyspace_hits + info.keyspace_misses)`.
#include <string_view>

#include "ttops/json.hpp"

namespace ttops {

/// Every `field:value` line of INFO output as one object. Numbers become numbers; values made of
/// `k=v` pairs (`db0:keys=1,expires=0`, `cmdstat_get:calls=2,usec=9`) become objects; everything
/// else stays text. Section headers (`# Memory`), blank lines and lines without ':' are skipped.
Json parse_redis_info(std::string_view text);

}  // namespace ttops
