#include "api/graph_svg.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <map>
#include <memory>
#include <mutex>

namespace stagewise::api {

Result<std::string> render_svg(const std::string& dot) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  // Workflows do not change while the process runs: each is drawn once.
  static std::map<std::string, std::string> drawn;
  if (const auto it = drawn.find(dot); it != drawn.end()) return it->second;
  if (drawn.size() >= 256) drawn.clear();  // bounded, whatever happens
  static GVC_t* const gvc = gvContext();   // plugins load once; kept for the process
  if (gvc == nullptr) return make_error(Errc::unavailable, "Graphviz cannot start");
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  if (!g) return make_error(Errc::invalid_argument, "Graphviz cannot read the workflow's graph");
  if (gvLayout(gvc, g.get(), "dot") != 0)
    return make_error(Errc::unavailable, "Graphviz cannot lay out the workflow's graph");
  char* data = nullptr;
  unsigned int length = 0;
  const int rendered = gvRenderData(gvc, g.get(), "svg", &data, &length);
  std::string out = rendered == 0 && data != nullptr ? std::string(data, length) : std::string();
  if (data != nullptr) gvFreeRenderData(data);
  gvFreeLayout(gvc, g.get());
  if (out.empty()) return make_error(Errc::unavailable, "Graphviz cannot render SVG");
  drawn.emplace(dot, out);
  return out;
}

}  // namespace stagewise::api
