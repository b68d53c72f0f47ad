#pragma once

// Workflow fingerprints (issue 15, DESIGN.md §14): a (program, version)
// means one workflow for as long as a data dir lives, so applications on it
// and any replay of its log keep their meaning.
#include "common/result.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <string>

namespace stagewise::store {

/// SHA-256 (hex) of the workflow's document in canonical form (parsed and
/// dumped: object keys sorted, no white space), so reformatting the file
/// or reordering its keys changes nothing, any other edit does.
std::string workflow_fingerprint(const workflow::Workflow& wf);

/// The fingerprint recorded for (program, version) in `store`, not_found
/// when that version was never loaded with this store.
Result<std::string> recorded_fingerprint(const Store& store, const std::string& program,
                                         int version);

/// Records the fingerprint of every workflow of `registry` not yet known to
/// `store` (one commit), after checking that every known one is unchanged.
/// A changed one is an `invalid_argument` error naming, for each, the
/// program, version, file, both fingerprints, and saying to bump `version`;
/// nothing is recorded then. Call once at start-up, before processing.
Result<void> pin_workflows(Store& store, const workflow::Registry& registry);

}  // namespace stagewise::store
