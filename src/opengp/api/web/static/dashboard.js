// The admin dashboard, live: every few seconds the charts part of the page is fetched again
// (?part=charts, drawn on the server) and swapped in.  No chart library.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;
  var every = (parseFloat(root.getAttribute("data-refresh")) || 5) * 1000;
  var url = location.pathname + "?part=charts";

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        root.innerHTML = html;
        root.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
