#include "api/graph_svg.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <memory>
#include <mutex>

namespace stagewise::api {

Result<std::string> render_svg(const std::string& dot) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  static GVC_t* const gvc = gvContext();  // plugins load once; kept for the process
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
  return out;
}

}  // namespace stagewise::api
