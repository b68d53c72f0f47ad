#include "api/dashboard.h"

namespace stagewise::api {

std::string_view dashboard_html() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stagewise</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}h2{margin-top:1.5em}</style>
</head><body><h1>stagewise</h1>
<form id="signin" hidden><label>Token <input id="token" type="password" autocomplete="off"></label>
<button>Sign in</button></form>
<div id="info" role="status">loading…</div><div id="programs"></div>
<script>
const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromLink) { sessionStorage.setItem('token', fromLink); history.replaceState(null, '', '/'); }
async function api(path) {
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('token')}});
  if (r.status === 401) { document.getElementById('signin').hidden = false; throw new Error('sign in'); }
  return r.json();
}
document.getElementById('signin').onsubmit = e => {
  e.preventDefault(); sessionStorage.setItem('token', document.getElementById('token').value);
  document.getElementById('signin').hidden = true; load();
};
async function load(){
  const info = await api('/v1/info');
  document.getElementById('info').textContent =
    'version ' + info.version + ' · signed in as ' + info.you.sub + ' (' + info.you.role + ')';
  const wf = await api('/v1/workflows');
  const root = document.getElementById('programs'); root.innerHTML = '';
  for (const p of wf.workflows) {
    const f = await api('/v1/programs/' + encodeURIComponent(p.program) + '/funnel');
    if (!f.stages) continue;
    const h = document.createElement('h2'); h.textContent = p.title + ' (' + p.program + ')';
    const t = document.createElement('table');
    const head = t.insertRow(); for (const c of ['stage', 'applications']) {
      const th = document.createElement('th'); th.textContent = c; head.append(th); }
    for (const s of f.stages) { const row = t.insertRow();
      row.insertCell().textContent = s.stage + (s.terminal ? ' ■' : ''); row.insertCell().textContent = s.count; }
    root.append(h, t);
  }
}
load().catch(() => {}); setInterval(() => load().catch(() => {}), 2000);
</script></body></html>)HTML";
  return kPage;
}

}  // namespace stagewise::api
