// `stagewise audit verify` (DESIGN.md §14): reads the data dir (read-only,
// so also while serve runs on it) and checks every hash it keeps.
#include "audit/verify.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "store/store.h"

#include <iostream>

namespace stagewise::cli {

int audit_verify(const AuditFlags& f) {
  if (f.ids.empty() == !f.all) {
    std::cerr << "stagewise audit verify: name applications (ID...) or pass --all\n";
    return 2;
  }
  auto st = store::Store::open(f.data_dir, local_store_options(f.data_dir));
  if (!st) {
    std::cerr << "stagewise audit verify: cannot read " << f.data_dir << ": " << st.error().message
              << " (pass the data dir of stagewise serve as --data-dir)\n";
    return 1;
  }
  audit::VerifyOptions vo;
  ProgressBar bar({"applications", 1, false}, !f.json);
  vo.progress = [&](uint64_t done, uint64_t total) { bar.update(done, total, "verifying"); };
  auto report = audit::verify(**st, f.ids, vo);
  bar.end(true);
  if (!report) {
    std::cerr << "stagewise audit verify: " << report.error().message << "\n";
    return 1;
  }
  if (f.json) {
    std::cout << audit::to_json(*report).dump(2) << "\n";
  } else {
    for (const auto& b : report->broken) std::cout << "BROKEN " << audit::describe(b) << "\n";
    std::cout << (report->ok() ? "ok: " : "FAILED: ") << report->applications << " applications, "
              << report->entries << " history entries (" << report->sealed << " sealed, "
              << report->unsealed << " from before the audit), " << report->rounds
              << " rounds checked\n";
  }
  return report->ok() ? 0 : 1;
}

}  // namespace stagewise::cli
